import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type BatchProgress,
  openResumeState,
  parseBatchProgress,
  type StateIdentity,
  saveBatchProgress,
  savedBatchSize,
  stateDirectory,
} from '../../../cli/ingest/resumeState.ts';

const DESCRIPTION = {
  input: '/data/Patient.ndjson',
  contentHash: 'a'.repeat(64),
  batchCount: 3,
  recordCount: 7,
};

const SUCCEEDED: BatchProgress = {
  index: 0,
  attempt: 0,
  status: 'succeeded',
  runId: '3f1c2a9e-8b7d-4c6e-9a5f-0d1e2f3a4b5c',
  errorCode: null,
  outcomes: [
    { outcome: 'loaded', reason: null },
    { outcome: 'rejected', reason: 'consent' },
    { outcome: 'skipped', reason: 'unsupported-type' },
  ],
};

describe('resume state', () => {
  let stateDir: string;
  let identity: StateIdentity;

  beforeEach(() => {
    stateDir = mkdtempSync(join(tmpdir(), 'ingest-state-'));
    identity = { stateDir, inputName: 'Patient.ndjson', key: '0123456789abcdef' };
  });

  afterEach(() => {
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('a fresh state is an empty directory described by input.json', () => {
    // Act
    const state = openResumeState(identity, 3, DESCRIPTION);

    // Assess
    expect(state.directory).toBe(join(stateDir, 'Patient.ndjson.0123456789abcdef.b3'));
    expect(state.batchSize).toBe(3);
    expect(state.batches.size).toBe(0);
    expect(JSON.parse(readFileSync(join(state.directory, 'input.json'), 'utf8'))).toStrictEqual({
      version: 1,
      batchSize: 3,
      ...DESCRIPTION,
    });
  });

  it('keeps each saved batch, and a reopened state has them back', () => {
    // Prepare
    const state = openResumeState(identity, 3, DESCRIPTION);
    const sent: BatchProgress = { ...SUCCEEDED, index: 1, status: 'sent', outcomes: [] };

    // Act
    saveBatchProgress(state, SUCCEEDED);
    saveBatchProgress(state, sent);
    const reopened = openResumeState(identity, 3, DESCRIPTION);

    // Assess
    expect(state.batches.get(0)).toStrictEqual(SUCCEEDED);
    expect([...reopened.batches.entries()]).toStrictEqual([
      [0, SUCCEEDED],
      [1, sent],
    ]);
    // Written through a temporary file and a rename: nothing else is left behind.
    expect(readdirSync(state.directory).sort()).toStrictEqual([
      'batch-000000.json',
      'batch-000001.json',
      'input.json',
    ]);
  });

  it('a later save of a batch replaces the earlier one', () => {
    // Prepare
    const state = openResumeState(identity, 3, DESCRIPTION);
    saveBatchProgress(state, { ...SUCCEEDED, status: 'sent', outcomes: [] });

    // Act
    saveBatchProgress(state, SUCCEEDED);

    // Assess
    expect(openResumeState(identity, 3, DESCRIPTION).batches.get(0)).toStrictEqual(SUCCEEDED);
  });

  it('ignores a batch file it cannot read, so that batch is sent again', () => {
    // Prepare
    const state = openResumeState(identity, 3, DESCRIPTION);
    saveBatchProgress(state, SUCCEEDED);
    writeFileSync(join(state.directory, 'batch-000002.json'), '{"index":2,"status":"succ');

    // Act
    const reopened = openResumeState(identity, 3, DESCRIPTION);

    // Assess
    expect([...reopened.batches.keys()]).toStrictEqual([0]);
  });

  it('another batch size is another state', () => {
    // Prepare
    saveBatchProgress(openResumeState(identity, 3, DESCRIPTION), SUCCEEDED);

    // Act
    const other = openResumeState(identity, 4, DESCRIPTION);

    // Assess
    expect(other.directory).toBe(stateDirectory(identity, 4));
    expect(other.batches.size).toBe(0);
  });

  it('savedBatchSize is the size the input was last worked on with', () => {
    // Prepare
    const before = savedBatchSize(identity);
    openResumeState(identity, 30, DESCRIPTION);
    const older = stateDirectory(identity, 1000);
    openResumeState(identity, 1000, DESCRIPTION);
    utimesSync(older, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    openResumeState({ ...identity, key: 'fedcba9876543210' }, 7, DESCRIPTION);

    // Act
    const size = savedBatchSize(identity);

    // Assess
    expect(before).toBeUndefined();
    expect(size).toBe(30);
  });
});

describe('parseBatchProgress', () => {
  it('reads back what was written', () => {
    // Act
    const progress = parseBatchProgress(JSON.stringify(SUCCEEDED));

    // Assess
    expect(progress).toStrictEqual(SUCCEEDED);
  });

  it.each<[string, unknown]>([
    ['an unknown status', { ...SUCCEEDED, status: 'done' }],
    ['an unknown outcome', { ...SUCCEEDED, outcomes: [{ outcome: 'stored', reason: null }] }],
    ['a missing run id', { ...SUCCEEDED, runId: undefined }],
    ['a fractional index', { ...SUCCEEDED, index: 0.5 }],
    ['an array', [SUCCEEDED]],
  ])('refuses %s', (_case, value) => {
    // Act
    const progress = parseBatchProgress(JSON.stringify(value));

    // Assess
    expect(progress).toBeUndefined();
  });
});
