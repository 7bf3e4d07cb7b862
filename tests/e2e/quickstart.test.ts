import { spawn } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { mrnOf, syntheaResources } from '../helpers/fhir.ts';
import { notShown, readmeShellBlocks, type ShellBlock } from '../helpers/readmeBlocks.ts';
import { call, ingest, query, token, waitForRun } from './api.ts';

const REPOSITORY = resolve(import.meta.dirname, '../..');
/** How long the README's blocks may take together before their shell is killed. */
const SHELL_TIMEOUT_MS = 300_000;

/**
 * A fresh clone as a reader has it after `npm install && npm start`: the repository's files
 * (linked), ../shared beside it, and in .data/ the signing secret of the stack it talks to.
 */
function freshClone(): string {
  const root = mkdtempSync(join(tmpdir(), 'etl-readme-'));
  const clone = join(root, 'main');
  mkdirSync(clone);
  symlinkSync(resolve(REPOSITORY, '../shared'), join(root, 'shared'));
  for (const entry of readdirSync(REPOSITORY)) {
    if (entry !== '.data' && entry !== '.git')
      symlinkSync(join(REPOSITORY, entry), join(clone, entry));
  }
  mkdirSync(join(clone, '.data'), { mode: 0o700 });
  copyFileSync(inject('jwtSecretFile'), join(clone, '.data', 'jwt-secret'));
  return clone;
}

interface BlockResult {
  readonly line: number;
  /** undefined: the shell stopped before the block ended (set -e: a command failed, or killed). */
  readonly exitStatus: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `blocks` in order in one bash, as pasted one after the other into one terminal, with
 * `set -eo pipefail` so that any failing command stops it; each block's output kept apart.
 * After `SHELL_TIMEOUT_MS` the bash and everything it started (its process group) are killed.
 */
async function runInOneShell(
  blocks: readonly ShellBlock[],
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<{ readonly timedOut: boolean; readonly results: BlockResult[] }> {
  const outputs = mkdtempSync(join(tmpdir(), 'etl-readme-out-'));
  const script = [
    'set -eo pipefail',
    ...blocks.map(
      (block, index) =>
        `{\n${block.code}\n} > ${outputs}/${index}.out 2> ${outputs}/${index}.err\necho 0 > ${outputs}/${index}.status`,
    ),
  ].join('\n');
  // Detached: its own process group, so a kill reaches its curl loops and npm children too.
  const shell = spawn('bash', ['-c', script], { cwd, env, stdio: 'ignore', detached: true });
  const killGroup = () => {
    try {
      if (shell.pid !== undefined) process.kill(-shell.pid, 'SIGKILL');
    } catch {
      // The group has already ended.
    }
  };
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, SHELL_TIMEOUT_MS);
  await new Promise((resolvePromise) => shell.once('exit', resolvePromise));
  clearTimeout(timer);
  killGroup();
  const read = (name: string) => {
    try {
      return readFileSync(join(outputs, name), 'utf8');
    } catch {
      return undefined;
    }
  };
  const results = blocks.map((block, index) => {
    const status = read(`${index}.status`);
    return {
      line: block.line,
      exitStatus: status === undefined ? undefined : Number(status),
      stdout: read(`${index}.out`) ?? '',
      stderr: read(`${index}.err`) ?? '',
    };
  });
  rmSync(outputs, { recursive: true, force: true });
  return { timedOut, results };
}

/**
 * The PATH of a reader's second terminal: vitest's without node_modules/.bin, whose `node` is
 * the pinned Node 24, so the blocks' own `node` commands run on the machine's Node.
 */
function readerPath(): string {
  return (process.env['PATH'] ?? '')
    .split(delimiter)
    .filter((entry) => !entry.includes('node_modules'))
    .join(delimiter);
}

/** The README's curl example, as a person would send it. */
const README_RECORD = {
  resourceType: 'Patient',
  mrn: 'MRN-001',
  name: 'Jane Doe',
  birthDate: '1990-01-15',
  gender: 'female',
  ssn: '123-45-6789',
  consent: { data_sharing: true, research: false },
};

describe('the README example over HTTP', () => {
  it('202 with the run, the run succeeds, and the patient reads back decrypted', async () => {
    // Prepare
    const writer = await token(['system/Patient.c']);
    const reader = await token(['user/Patient.r']);

    // Act
    const accepted = await ingest([README_RECORD], writer);
    const run = await waitForRun(accepted.json.runId, writer);
    const search = await call('GET', '/api/v1/patients?mrn=MRN-001', { token: reader });
    const byId = await call('GET', `/api/v1/patients/${search.json.data[0].id}`, { token: reader });

    // Assess
    expect(accepted.status).toBe(202);
    expect(accepted.json).toEqual({
      runId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      status: 'queued',
      outcome: 'accepted',
      links: { self: `/api/v1/runs/${accepted.json.runId}` },
    });
    expect(accepted.headers.get('location')).toBe(`/api/v1/runs/${accepted.json.runId}`);
    expect(run).toMatchObject({
      status: 'succeeded',
      errorCode: null,
      counts: { received: 1, consented: 1, loaded: 1 },
    });
    expect(Object.keys(run.stageTimings).sort()).toEqual([
      'consentCheck',
      'extract',
      'load',
      'transform',
      'validate',
    ]);
    expect(search.status).toBe(200);
    expect(byId.status).toBe(200);
    expect(byId.json).toEqual({
      id: search.json.data[0].id,
      mrn: 'MRN-001',
      name: 'Jane Doe',
      birthDate: '1990-01-15',
      gender: 'female',
      ssn: '123-45-6789',
      consent: { dataSharing: true, research: false, recordedAt: expect.any(String) },
    });
    const audit = await query<{ action: string; actor: string }>(
      "SELECT action, actor FROM audit_log WHERE resource_id = $1 AND resource_type = 'Patient' ORDER BY seq",
      [byId.json.id],
    );
    expect(audit.map((row) => row.action)).toEqual(expect.arrayContaining(['READ', 'READ']));
    expect(
      audit.filter((row) => row.action === 'READ').every((row) => row.actor === 'e2e-tester'),
    ).toBe(true);
  });

  it('a record without consent: the run succeeds with one rejection, nothing stored, nothing found', async () => {
    // Prepare
    const writer = await token(['system/Patient.c']);
    const reader = await token(['user/Patient.r']);
    const record = { ...README_RECORD, mrn: 'MRN-NO-CONSENT-1', consent: { data_sharing: false } };

    // Act
    const accepted = await ingest([record], writer);
    const run = await waitForRun(accepted.json.runId, writer);
    const rejections = await call('GET', `/api/v1/runs/${accepted.json.runId}/rejections`, {
      token: writer,
    });
    const search = await call('GET', '/api/v1/patients?mrn=MRN-NO-CONSENT-1', { token: reader });

    // Assess
    expect(run).toMatchObject({
      status: 'succeeded',
      counts: { received: 1, blocked: 1, rejected: 1, loaded: 0 },
    });
    expect(rejections.json.data).toEqual([
      {
        recordIndex: 0,
        resourceType: 'Patient',
        reason: 'consent',
        details: { requires: 'data_sharing', consent: 'refused' },
        stage: 'consentCheck',
      },
    ]);
    expect(search.status).toBe(200);
    expect(search.json).toEqual({ data: [] });
  });

  it('rejections name schema paths and never the values', async () => {
    // Prepare
    const writer = await token(['system/Patient.c']);

    // Act
    const accepted = await ingest(
      [
        { ...README_RECORD, mrn: 'MRN-BAD-DATE-1', birthDate: '1990-02-31' },
        { ...README_RECORD, mrn: 'MRN-OK-2' },
      ],
      writer,
    );
    await waitForRun(accepted.json.runId, writer);
    const rejections = await call('GET', `/api/v1/runs/${accepted.json.runId}/rejections`, {
      token: writer,
    });

    // Assess
    expect(rejections.json.data).toEqual([
      expect.objectContaining({
        recordIndex: 0,
        reason: 'schema',
        details: { problems: [expect.objectContaining({ path: '/birthDate', keyword: 'format' })] },
      }),
    ]);
    expect(rejections.text).not.toContain('1990-02-31');
    expect(rejections.text).not.toContain('MRN-BAD-DATE-1');
  });
});

describe("the README's shell blocks", () => {
  const blocks = readmeShellBlocks(readFileSync(join(REPOSITORY, 'README.md'), 'utf8'));
  const clone = freshClone();

  afterAll(() => {
    rmSync(resolve(clone, '..'), { recursive: true, force: true });
  });

  it('each says whether the tests run it, and why not when they do not', () => {
    // Act
    const unmarked = blocks.filter(({ marker }) => marker === undefined).map(({ line }) => line);

    // Assess
    expect(unmarked).toEqual([]);
    expect(blocks.filter(({ marker }) => marker === 'run').length).toBeGreaterThanOrEqual(4);
  });

  it(
    'those meant to run work as written on a fresh clone against the stack on PORT, printing what they show',
    async () => {
      // Prepare
      const runnable = blocks.filter(({ marker }) => marker === 'run');
      const env = {
        PATH: readerPath(),
        HOME: process.env['HOME'],
        PORT: new URL(inject('apiUrl')).port,
      };
      // The FHIR sample's counts (12 rejected, 9 Observations) hold only while none of
      // Patient.10's patients is on record: other files send their own copies (other ids, MRNs).
      const reader = await token(['user/Patient.r']);
      const alreadyStored: string[] = [];
      for (const patient of syntheaResources('Patient.10.ndjson')) {
        const mrn = mrnOf(patient);
        const search = await call('GET', `/api/v1/patients?mrn=${encodeURIComponent(mrn)}`, {
          token: reader,
        });
        if (search.json.data.length > 0) alreadyStored.push(mrn);
      }

      // Act
      const { timedOut, results } = await runInOneShell(runnable, clone, env);

      // Assess
      expect(alreadyStored, 'Patient.10 patients stored before the README sample').toEqual([]);
      for (const [index, result] of results.entries()) {
        const context = `README.md line ${result.line}${timedOut ? ' (killed after the time limit)' : ''}:\n${result.stdout}\n${result.stderr}`;
        expect(result.exitStatus, context).toBe(0);
        expect(notShown(result.stdout, runnable[index]?.shows ?? []), context).toEqual([]);
      }
    },
    SHELL_TIMEOUT_MS + 30_000,
  );
});
