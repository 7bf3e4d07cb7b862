import { beforeAll, describe, expect, it } from 'vitest';
import { call, ingest, token, waitForRun } from './api.ts';

const NAME = 'Runlist Canary-Person';
const MRN = 'MRN-RUNS-LIST-1';

describe('GET /api/v1/runs over HTTP', () => {
  let reader: string;
  /** Our runs, oldest first: both succeed, the second rejecting one record (no MRN). */
  const ours: string[] = [];
  let since: string;

  beforeAll(async () => {
    const writer = await token(['system/Patient.c']);
    reader = await token(['user/Patient.r']);
    since = new Date(Date.now() - 1_000).toISOString();
    const batches = [
      [{ resourceType: 'Patient', mrn: MRN, name: NAME, consent: { data_sharing: true } }],
      [
        { resourceType: 'Patient', mrn: `${MRN}-2`, name: NAME, consent: { data_sharing: true } },
        { resourceType: 'Patient', name: NAME },
      ],
    ];
    for (const records of batches) {
      const accepted = await ingest(records, writer);
      expect(accepted.status).toBe(202);
      ours.push(accepted.json.runId);
      await waitForRun(accepted.json.runId, writer);
    }
  });

  it('lists the runs newest first, each ended run with no current stage, its counts and throughput', async () => {
    // Act
    const response = await call('GET', `/api/v1/runs?from=${encodeURIComponent(since)}`, {
      token: reader,
    });

    // Assess
    expect(response.status).toBe(200);
    const listed = response.json.data.filter((run: { runId: string }) => ours.includes(run.runId));
    expect(listed.map((run: { runId: string }) => run.runId)).toStrictEqual([...ours].reverse());
    expect(listed[0]).toMatchObject({
      status: 'succeeded',
      currentStage: null,
      failedStage: null,
      source: 'api',
      submitter: 'e2e-tester',
      counts: { received: 2, rejected: 1 },
      rejectedByReason: { schema: 1 },
      durationMs: expect.any(Number),
      recordsPerSecond: expect.any(Number),
    });
    expect(listed[1]).toMatchObject({ currentStage: null, rejectedByReason: {} });
    expect(response.text).not.toContain(NAME);
    expect(response.text).not.toContain(MRN);
  });

  it('pages with the next link: every run once, across pages of one', async () => {
    // Act
    const seen: string[] = [];
    let next: string | null = `/api/v1/runs?from=${encodeURIComponent(since)}&limit=1`;
    while (next !== null && seen.length < 50) {
      const page = await call('GET', next, { token: reader });
      expect(page.status).toBe(200);
      seen.push(...page.json.data.map((run: { runId: string }) => run.runId));
      next = page.json.links.next;
    }

    // Assess
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.filter((id) => ours.includes(id))).toStrictEqual([...ours].reverse());
  });

  it('answers a cursor it did not write with a 400 problem+json', async () => {
    // Act
    const response = await call('GET', '/api/v1/runs?cursor=MRN-RUNS-LIST-1', { token: reader });

    // Assess
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(response.json.errors.map((error: { path: string }) => error.path)).toStrictEqual([
      '/cursor',
    ]);
    expect(response.text).not.toContain(MRN);
  });

  it.each<[string, string[] | null, number]>([
    ['no token', null, 401],
    ['a token with another scope only', ['system/AuditEvent.r'], 403],
    ['a token that submits batches', ['system/Patient.c'], 200],
    ['a token that reads patients', ['user/Patient.r'], 200],
  ])('answers %s with %i', async (_, scopes, status) => {
    // Prepare
    const bearer = scopes === null ? undefined : await token(scopes);

    // Act
    const response = await call('GET', '/api/v1/runs?limit=1', {
      ...(bearer === undefined ? {} : { token: bearer }),
    });

    // Assess
    expect(response.status).toBe(status);
    if (status !== 200) {
      expect(response.headers.get('content-type')).toBe('application/problem+json');
    }
  });
});
