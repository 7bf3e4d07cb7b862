import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AuditCheckpoint,
  CheckpointFormatError,
  checkpointMessage,
  checkpointName,
  decodeCheckpoint,
  encodeCheckpoint,
} from '../../../lib/audit/auditCheckpoints.ts';
import { DirectoryCheckpointStore } from '../../../lib/audit/directoryCheckpointStore.ts';

const checkpoint = (seq: string): AuditCheckpoint => ({
  seq,
  hash: randomBytes(32),
  at: new Date('2026-12-03T10:00:00.123Z'),
  mac: randomBytes(32),
  macKeyId: 'local-audit-mac',
});

describe('checkpoint names', () => {
  it('sort newest (highest seq) first, whatever the number of digits', () => {
    // Act
    const names = ['9', '10', '1', '123456789012', '99'].map(checkpointName).sort();

    // Assess
    expect(names.map((name) => name.split('-')[1])).toEqual([
      '123456789012.json',
      '99.json',
      '10.json',
      '9.json',
      '1.json',
    ]);
  });
});

describe('the checkpoint format', () => {
  it('round-trips, and covers seq, hash and time in what its MAC signs', () => {
    // Prepare
    const original = checkpoint('42');

    // Act
    const decoded = decodeCheckpoint(encodeCheckpoint(original));

    // Assess
    expect(decoded).toStrictEqual(original);
    expect(checkpointMessage('42', original.hash, original.at).toString()).toBe(
      `healthcare-etl/audit-checkpoint/v1|42|${original.hash.toString('hex')}|2026-12-03T10:00:00.123Z`,
    );
  });

  it.each([
    ['no JSON', 'not json'],
    [
      'a seq that is no number',
      '{"seq":"x","hash":"00","at":"2026-01-01T00:00:00Z","mac":"","macKeyId":""}',
    ],
    ['a short hash', `{"seq":"1","hash":"00","at":"2026-01-01T00:00:00Z","mac":"","macKeyId":""}`],
    ['no time', `{"seq":"1","hash":"${'0'.repeat(64)}","mac":"","macKeyId":""}`],
    ['null', 'null'],
    [
      'a seq past the bigint range',
      `{"seq":"9999999999999999999","hash":"${'0'.repeat(64)}","at":"2026-01-01T00:00:00Z","mac":"","macKeyId":""}`,
    ],
  ])('refuses %s with CheckpointFormatError', (_, text) => {
    // Act
    const attempt = () => decodeCheckpoint(text);

    // Assess
    expect(attempt).toThrow(CheckpointFormatError);
  });
});

describe('DirectoryCheckpointStore', () => {
  const directories: string[] = [];
  const newStore = () => {
    const root = mkdtempSync(join(tmpdir(), 'checkpoints-'));
    directories.push(root);
    return new DirectoryCheckpointStore(join(root, 'audit-checkpoints'));
  };

  afterEach(() => {
    for (const directory of directories.splice(0))
      rmSync(directory, { recursive: true, force: true });
  });

  it('has no latest checkpoint before its directory exists', async () => {
    // Act
    const latest = await newStore().latest();

    // Assess
    expect(latest).toBeUndefined();
  });

  it('keeps each checkpoint in a read-only file of a private directory, the highest seq the latest', async () => {
    // Prepare
    const store = newStore();
    const [low, high] = [checkpoint('9'), checkpoint('10')];

    // Act
    await store.write(high);
    await store.write(low);
    const latest = await store.latest();

    // Assess
    expect(latest).toStrictEqual(high);
    expect(statSync(store.location).mode & 0o777).toBe(0o700);
    for (const name of readdirSync(store.location)) {
      expect(statSync(join(store.location, name)).mode & 0o777).toBe(0o400);
    }
  });

  it('keeps the first checkpoint of a seq: a second one of the same seq is not written', async () => {
    // Prepare
    const store = newStore();
    const first = checkpoint('5');

    // Act
    await store.write(first);
    await store.write(checkpoint('5'));

    // Assess
    expect(await store.latest()).toStrictEqual(first);
    expect(readdirSync(store.location)).toHaveLength(1);
  });

  it('never shows a reader a checkpoint half written: one being written, or cut short by a crash, is not read', async () => {
    // Prepare: a checkpoint, and what a crash while writing a newer one leaves (its temporary)
    const store = newStore();
    const older = checkpoint('7');
    await store.write(older);
    writeFileSync(join(store.location, `.${checkpointName('8')}.crashed.partial`), '{"seq":');

    // Act: readers while a newer checkpoint is being written
    const newer = checkpoint('9');
    const [during] = await Promise.all([store.latest(), store.write(newer)]);
    const after = await store.latest();

    // Assess
    expect([older, newer]).toContainEqual(during);
    expect(after).toStrictEqual(newer);
    expect(readdirSync(store.location).filter((name) => name.endsWith('.partial'))).toEqual([
      `.${checkpointName('8')}.crashed.partial`,
    ]);
  });

  it('ignores files that are not named as checkpoints', async () => {
    // Prepare
    const store = newStore();
    const only = checkpoint('3');
    await store.write(only);
    writeFileSync(join(store.location, '0-notes.txt'), 'hello');

    // Act
    const latest = await store.latest();

    // Assess
    expect(latest).toStrictEqual(only);
  });
});
