import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ingestCommand } from '../../../cli/ingest/ingestCommand.ts';
import type { OutcomeLine } from '../../../cli/ingest/outcomes.ts';
import { createTokenVerifier } from '../../../lib/auth/tokens.ts';
import { type FakeIngestApi, startFakeIngestApi } from './fakeIngestApi.ts';

/** Seven records on eight lines (one blank), in batches of three: [1 2 3] [5 6 7] [8]. */
const INPUT_LINES = [
  '{"resourceType":"Patient","id":"p1"}',
  '{"resourceType":"Patient","id":"p2","active":false}',
  '{"resourceType":"Immunization","id":"i1"}',
  '',
  '{"resourceType":"Patient","id":"p3"}',
  'not json',
  '{"resourceType":"Observation","id":"o1"}',
  '{"resourceType":"Patient","id":"p4"}',
];

const EXPECTED_OUTCOMES = [
  [1, 'p1', 'loaded', null],
  [2, 'p2', 'rejected', 'consent'],
  [3, 'i1', 'skipped', 'unsupported-type'],
  [5, 'p3', 'loaded', null],
  [6, null, 'rejected', 'schema'],
  [7, 'o1', 'loaded', null],
  [8, 'p4', 'loaded', null],
];

interface Invocation {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

describe('ingestCommand against a stand-in API', () => {
  let api: FakeIngestApi;
  let directory: string;
  let inputFile: string;
  let outcomesFile: string;
  let stateDir: string;

  async function ingest(
    extra: readonly string[] = [],
    env: Record<string, string> = {},
  ): Promise<Invocation> {
    let stdout = '';
    let stderr = '';
    const code = await ingestCommand({
      argv: [
        inputFile,
        '--api',
        api.url,
        '--state-dir',
        stateDir,
        '--outcomes',
        outcomesFile,
        ...extra,
      ],
      env: { ETL_TOKEN: 'test-token', ...env },
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
    });
    return { code, stdout, stderr };
  }

  function outcomes(): OutcomeLine[] {
    return readFileSync(outcomesFile, 'utf8')
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as OutcomeLine);
  }

  function ingestPosts() {
    return api.requests.filter((request) => request.method === 'POST');
  }

  /** The summary's rows but elapsed time and batches sent now, which differ between invocations. */
  function stableSummary(stdout: string): string {
    return stdout
      .split('\n')
      .filter((line) => !/^(elapsed|batches sent now)\b/.test(line))
      .join('\n');
  }

  beforeEach(async () => {
    api = await startFakeIngestApi();
    directory = mkdtempSync(join(tmpdir(), 'ingest-command-'));
    inputFile = join(directory, 'input.ndjson');
    outcomesFile = join(directory, 'out', 'input.outcomes.ndjson');
    stateDir = join(directory, 'state');
    writeFileSync(inputFile, `${INPUT_LINES.join('\n')}\n`);
  });

  afterEach(async () => {
    await api.close();
    rmSync(directory, { recursive: true, force: true });
  });

  it('sends the lines in batches, writes one outcome per record and prints the summary', async () => {
    // Act
    const result = await ingest(['--batch-size', '3']);

    // Assess
    expect(result.code).toBe(0);
    const posts = ingestPosts();
    expect(
      posts.map((post) => post.body.split('\n').filter((line) => line !== '').length),
    ).toStrictEqual([3, 3, 1]);
    expect(posts[1]?.body).toBe(`${INPUT_LINES.slice(4, 7).join('\n')}\n`);
    expect(posts.every((post) => post.headers['content-type'] === 'application/fhir+ndjson')).toBe(
      true,
    );
    expect(posts.every((post) => post.headers.authorization === 'Bearer test-token')).toBe(true);
    expect(new Set(posts.map((post) => post.headers['idempotency-key'])).size).toBe(3);
    const lines = outcomes();
    expect(
      lines.map((line) => [line.line, line.resourceId, line.outcome, line.reason]),
    ).toStrictEqual(EXPECTED_OUTCOMES);
    expect(lines.every((line) => line.file === 'input.ndjson' && line.runId !== null)).toBe(true);
    expect(new Set(lines.map((line) => line.runId)).size).toBe(3);
    expect(result.stdout).toMatch(/^received +7$/m);
    expect(result.stdout).toMatch(/^loaded +4$/m);
    expect(result.stdout).toMatch(/^rejected: consent +1$/m);
    expect(result.stdout).toMatch(/^rejected: schema +1$/m);
    expect(result.stdout).toMatch(/^skipped +1$/m);
    expect(result.stdout).toMatch(/^runs +3$/m);
    expect(result.stdout.split('\n').slice(0, 6)).toStrictEqual([
      'type          received  created  updated  unchanged  rejected: consent  rejected: schema  skipped',
      'Patient              4        3        0          0                  1                 0        0',
      'Immunization         1        0        0          0                  0                 0        1',
      '(no type)            1        0        0          0                  0                 1        0',
      'Observation          1        1        0          0                  0                 0        0',
      '',
    ]);
    expect(result.stdout).toContain(`outcomes written to ${outcomesFile}`);
    expect(result.stderr).toBe('');
  });

  it("a second run on the same input sends nothing, reads the runs' counts again and reports the same", async () => {
    // Prepare
    const first = await ingest(['--batch-size', '3']);
    const firstOutcomes = readFileSync(outcomesFile, 'utf8');
    const requestsBefore = api.requests.length;

    // Act
    const second = await ingest(['--batch-size', '3']);

    // Assess
    expect(second.code).toBe(0);
    const runIds = [...api.runs.keys()];
    expect(
      api.requests.slice(requestsBefore).map((request) => `${request.method} ${request.path}`),
    ).toStrictEqual(runIds.map((runId) => `GET /api/v1/runs/${runId}`));
    expect(readFileSync(outcomesFile, 'utf8')).toBe(firstOutcomes);
    expect(stableSummary(second.stdout)).toBe(stableSummary(first.stdout));
    expect(second.stdout).toMatch(/^batches sent now +0$/m);
    expect(second.stderr).toMatch(/resuming: 3 of 3 batches finished before/);
  });

  it('a resumed run whose earlier run the API no longer knows: the summary says its counts are left out', async () => {
    // Prepare
    await ingest(['--batch-size', '3']);
    const [forgotten] = api.runs.keys();
    (api.runs as Map<string, unknown>).delete(forgotten as string);

    // Act
    const second = await ingest(['--batch-size', '3']);

    // Assess
    expect(second.code).toBe(0);
    expect(api.runsStarted()).toBe(3);
    expect(second.stdout).toMatch(/^runs without counts +1$/m);
    // The forgotten run stored p1; p3 and p4 are counted.
    expect(second.stdout).toMatch(/^Patient +4 +2 +0 +0 +1 +0 +0$/m);
    expect(second.stderr).not.toMatch(/^ingest: (?!resuming)/m);
  });

  it('--max-batches stops early with the rest pending, and the next run sends only the rest', async () => {
    // Act
    const first = await ingest(['--batch-size', '3', '--max-batches', '1']);
    const afterFirst = outcomes();
    const keysFirst = ingestPosts().map((post) => post.headers['idempotency-key']);
    const second = await ingest();

    // Assess
    expect(first.code).toBe(0);
    expect(keysFirst).toHaveLength(1);
    expect(afterFirst.map((line) => line.outcome)).toStrictEqual([
      'loaded',
      'rejected',
      'skipped',
      'pending',
      'pending',
      'pending',
      'pending',
    ]);
    expect(first.stdout).toMatch(/^pending \(not sent yet\) +4$/m);
    expect(first.stderr).toMatch(/stopped after 1 batches \(--max-batches\)/);
    expect(second.code).toBe(0);
    const keysSecond = ingestPosts()
      .slice(1)
      .map((post) => post.headers['idempotency-key']);
    // Without --batch-size the input goes on with the size it was started with.
    expect(keysSecond).toHaveLength(2);
    expect(keysSecond.every((key) => typeof key === 'string' && key.includes(':3:'))).toBe(true);
    expect(keysSecond).not.toContain(keysFirst[0]);
    expect(
      outcomes().map((line) => [line.line, line.resourceId, line.outcome, line.reason]),
    ).toStrictEqual(EXPECTED_OUTCOMES);
  });

  it('stops at a failed run, and the next run sends that batch again under a new key', async () => {
    // Prepare
    api.behaviour.failRunOf = { resourceId: 'p3', errorCode: 'load-failed' };

    // Act
    const failed = await ingest(['--batch-size', '3']);
    const afterFailure = outcomes();
    api.behaviour.failRunOf = undefined;
    const retried = await ingest();

    // Assess
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(
      /^ingest: batch 2\/3 \(input\.ndjson lines 5-7\): run [0-9a-f-]{36} failed \(load-failed\)/m,
    );
    expect(afterFailure.map((line) => [line.outcome, line.reason])).toStrictEqual([
      ['loaded', null],
      ['rejected', 'consent'],
      ['skipped', 'unsupported-type'],
      ['failed', 'load-failed'],
      ['failed', 'load-failed'],
      ['failed', 'load-failed'],
      ['pending', null],
    ]);
    expect(failed.stdout).toMatch(/^failed +3$/m);
    expect(retried.code).toBe(0);
    const keys = ingestPosts().map((post) => post.headers['idempotency-key'] as string);
    // etl-ingest:<content hash>:<batch size>:<batch index>:<failed runs before>
    expect(keys.map((key) => key.split(':').slice(2).join(':'))).toStrictEqual([
      '3:0:0',
      '3:1:0',
      '3:1:1',
      '3:2:0',
    ]);
    expect(
      outcomes().map((line) => [line.line, line.resourceId, line.outcome, line.reason]),
    ).toStrictEqual(EXPECTED_OUTCOMES);
  });

  it('a run that does not end in time is picked up by the next run without sending it again', async () => {
    // Prepare
    api.behaviour.pollsBeforeEnd = Number.POSITIVE_INFINITY;

    // Act
    const timedOut = await ingest(['--batch-size', '3', '--run-timeout', '1']);
    const afterTimeout = outcomes();
    const startedBefore = api.runsStarted();
    api.behaviour.pollsBeforeEnd = 0;
    const resumed = await ingest();

    // Assess
    expect(timedOut.code).toBe(1);
    expect(timedOut.stderr).toMatch(/batch 1\/3 .*still running after 1 s; it may yet finish/);
    expect(afterTimeout[0]).toMatchObject({ outcome: 'failed', reason: 'run-timeout' });
    // The run is known, so its records already name it.
    expect(afterTimeout[0]?.runId).toBe([...api.runs.keys()][0]);
    expect(resumed.code).toBe(0);
    expect(api.runsStarted() - startedBefore).toBe(2);
    expect(new Set(outcomes().map((line) => line.runId)).size).toBe(3);
  });

  it('a batch the API refuses as too large fails with a hint, and nothing is kept for it', async () => {
    // Prepare
    api.behaviour.refuseIngest = {
      status: 413,
      body: {
        type: 'urn:problem:healthcare-etl:payload-too-large',
        title: 'Content Too Large',
        status: 413,
        detail: 'a batch holds at most 2 records',
      },
    };

    // Act
    const refused = await ingest(['--batch-size', '3']);
    const afterRefusal = outcomes();
    api.behaviour.refuseIngest = undefined;
    const retried = await ingest(['--batch-size', '3']);

    // Assess
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /HTTP 413: a batch holds at most 2 records \(lower --batch-size/,
    );
    expect(afterRefusal.map((line) => line.outcome)).toStrictEqual([
      'failed',
      'failed',
      'failed',
      'pending',
      'pending',
      'pending',
      'pending',
    ]);
    expect(afterRefusal[0]).toMatchObject({ reason: 'payload-too-large', runId: null });
    expect(retried.code).toBe(0);
    expect(api.runsStarted()).toBe(3);
  });

  it('a changed input starts fresh', async () => {
    // Prepare
    await ingest(['--batch-size', '3']);
    writeFileSync(inputFile, `${INPUT_LINES.join('\n')}\n{"resourceType":"Patient","id":"p5"}\n`);

    // Act
    const changed = await ingest(['--batch-size', '3']);

    // Assess
    expect(changed.code).toBe(0);
    expect(api.runsStarted()).toBe(6);
    expect(outcomes()).toHaveLength(8);
  });

  it('a directory: Patient files first, a Bundle kept whole, outcome lines naming their file', async () => {
    // Prepare
    inputFile = join(directory, 'export');
    mkdirSync(inputFile);
    writeFileSync(
      join(inputFile, 'Observation.ndjson'),
      '{"resourceType":"Observation","id":"o1"}\n',
    );
    writeFileSync(join(inputFile, 'Patient.ndjson'), '{"resourceType":"Patient","id":"p1"}\n');
    writeFileSync(
      join(inputFile, 'bundle.json'),
      JSON.stringify({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { fullUrl: 'urn:uuid:a', resource: { resourceType: 'Patient' } },
          { fullUrl: 'urn:uuid:b', resource: { resourceType: 'Observation', id: 'o2' } },
        ],
      }),
    );

    // Act
    const result = await ingest(['--batch-size', '3']);

    // Assess
    expect(result.code).toBe(0);
    expect(ingestPosts().map((post) => post.headers['content-type'])).toStrictEqual([
      'application/fhir+ndjson',
      'application/fhir+ndjson',
      'application/fhir+json',
    ]);
    expect(
      outcomes().map((line) => [line.file, line.line, line.resourceId, line.outcome]),
    ).toStrictEqual([
      ['Patient.ndjson', 1, 'p1', 'loaded'],
      ['Observation.ndjson', 1, 'o1', 'loaded'],
      ['bundle.json', 1, 'urn:uuid:a', 'loaded'],
      ['bundle.json', 2, 'o2', 'loaded'],
    ]);
  });

  it.each<[string, () => string[], RegExp]>([
    ['a missing input', () => [], /input is missing/],
    ['an unknown flag', () => [inputFile, '--batch', '3'], /Unknown option '--batch'/],
    [
      'an input that does not exist',
      () => [join(directory, 'nope.ndjson')],
      /no such file or directory/,
    ],
  ])(
    '%s is a usage error: exit 2, the message on stderr, nothing sent',
    async (_case, argv, message) => {
      // Act
      let stderr = '';
      const code = await ingestCommand({
        argv: argv(),
        env: { ETL_TOKEN: 'test-token' },
        stdout: { write: () => true },
        stderr: { write: (text: string) => (stderr += text) },
      });

      // Assess
      expect(code).toBe(2);
      expect(stderr).toMatch(message);
      expect(api.requests).toHaveLength(0);
    },
  );

  it('a .json input that is not a Bundle is an input error: exit 2, nothing sent', async () => {
    // Prepare
    inputFile = join(directory, 'patient.json');
    writeFileSync(inputFile, '{"resourceType":"Patient","id":"p1"}');

    // Act
    const result = await ingest();

    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'ingest: patient.json: a .json input must be a FHIR Bundle (NDJSON files end in .ndjson)\n',
    );
    expect(api.requests).toHaveLength(0);
  });

  it('--help prints the usage on stdout', async () => {
    // Act
    let stdout = '';
    const code = await ingestCommand({
      argv: ['--help'],
      env: {},
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: () => true },
    });

    // Assess
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: npm run ingest -- <file\.ndjson \| bundle\.json \| directory>/);
    expect(stdout).toContain('--max-batches N');
  });

  it('without a token, mints one with the local secret for scope system/Patient.c', async () => {
    // Prepare
    const secret = randomBytes(32);
    const verifier = createTokenVerifier({
      issuer: 'healthcare-etl-local',
      audience: 'healthcare-etl-api',
      keys: { kind: 'secret', secret, secretFile: '/nonexistent' },
    });

    // Act
    let stdout = '';
    const code = await ingestCommand({
      argv: [inputFile, '--api', api.url, '--state-dir', stateDir, '--outcomes', outcomesFile],
      env: { AUTH_JWT_SECRET: secret.toString('base64') },
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: () => true },
    });

    // Assess
    expect(code).toBe(0);
    const bearer = String(api.requests[0]?.headers.authorization).replace(/^Bearer /, '');
    const principal = await verifier.verify(bearer);
    expect(principal.scopes).toStrictEqual(['system/Patient.c']);
    expect(stdout).toMatch(/^received +7$/m);
  });

  it('without a token or a local secret, says how to give one and creates no secret', async () => {
    // Prepare
    const secretFile = join(directory, 'jwt-secret');

    // Act
    let stderr = '';
    const code = await ingestCommand({
      argv: [inputFile, '--api', api.url, '--state-dir', stateDir],
      env: { AUTH_JWT_SECRET_FILE: secretFile },
      stdout: { write: () => true },
      stderr: { write: (text: string) => (stderr += text) },
    });

    // Assess
    expect(code).toBe(2);
    expect(stderr).toMatch(/no token: pass --token or ETL_TOKEN/);
    expect(existsSync(secretFile)).toBe(false);
    expect(api.requests).toHaveLength(0);
  });
});
