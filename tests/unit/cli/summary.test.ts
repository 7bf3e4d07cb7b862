import { describe, expect, it } from 'vitest';
import type { RunCounts } from '../../../cli/ingest/apiClient.ts';
import type { Outcome, OutcomeLine } from '../../../cli/ingest/outcomes.ts';
import { summarize, summaryTable } from '../../../cli/ingest/summary.ts';

const RUN_A = '11111111-1111-4111-8111-111111111111';
const RUN_B = '22222222-2222-4222-8222-222222222222';
const RUN_C = '33333333-3333-4333-8333-333333333333';
const NO_COUNTS: ReadonlyMap<string, RunCounts> = new Map();

function line(
  outcome: Outcome,
  reason: string | null,
  runId: string | null,
  resourceType: string | null = 'Patient',
): OutcomeLine {
  return { file: 'in.ndjson', line: 1, resourceType, resourceId: 'p', outcome, reason, runId };
}

/** A Bulk Data input of five types and a line that is not JSON, over three runs. */
const EXPORT_LINES: readonly OutcomeLine[] = [
  line('loaded', null, RUN_A, 'Consent'),
  line('loaded', null, RUN_A, 'Patient'),
  line('rejected', 'consent', RUN_A, 'Patient'),
  line('loaded', null, RUN_A, 'Patient'),
  line('loaded', null, RUN_A, 'Organization'),
  line('loaded', null, RUN_B, 'Organization'),
  line('loaded', null, RUN_B, 'Condition'),
  line('loaded', null, RUN_B, 'Condition'),
  line('rejected', 'orphan-reference', RUN_B, 'Condition'),
  line('skipped', 'unsupported-type', RUN_B, 'Basic'),
  line('rejected', 'schema', RUN_B, null),
  line('rejected', 'too-large', null, 'DocumentReference'),
  line('loaded', null, RUN_C, 'Condition'),
  line('pending', null, null, 'Condition'),
];

/** RUN_C's counts were not read; RUN_B counts no Patient, as a run of other types does not. */
const EXPORT_RUN_COUNTS: ReadonlyMap<string, RunCounts> = new Map([
  [
    RUN_A,
    {
      received: 5,
      loaded: 4,
      created: 1,
      updated: 0,
      unchanged: 1,
      'Consent.created': 1,
      'Organization.created': 1,
    },
  ],
  [
    RUN_B,
    {
      received: 6,
      loaded: 3,
      'Organization.unchanged': 1,
      'Condition.created': 1,
      'Condition.updated': 1,
    },
  ],
]);

describe('summarize', () => {
  it('counts every outcome, rejections by reason in name order, and the distinct runs', () => {
    // Prepare
    const lines = [
      line('loaded', null, RUN_A),
      line('rejected', 'consent', RUN_A),
      line('rejected', 'schema', RUN_B),
      line('rejected', 'consent', RUN_B),
      line('skipped', 'unsupported-type', RUN_B),
      line('rejected', 'too-large', null),
      line('failed', 'run-failed', null),
      line('pending', null, null),
      line('pending', null, null),
    ];

    // Act
    const summary = summarize(lines, NO_COUNTS);

    // Assess
    expect(summary).toMatchObject({
      received: 9,
      loaded: 1,
      rejected: [
        ['consent', 2],
        ['schema', 1],
        ['too-large', 1],
      ],
      skipped: 1,
      failed: 1,
      pending: 2,
      runs: 2,
      runsWithoutCounts: 2,
    });
  });

  it('by type: records from the outcome lines, what was stored from the counts of their runs', () => {
    // Act
    const summary = summarize(EXPORT_LINES, EXPORT_RUN_COUNTS);

    // Assess
    const none = { created: 0, updated: 0, unchanged: 0, rejected: [], skipped: 0, failed: 0 };
    expect(summary.types).toStrictEqual([
      { ...none, resourceType: 'Consent', received: 1, created: 1, pending: 0 },
      {
        ...none,
        resourceType: 'Patient',
        received: 3,
        created: 1,
        unchanged: 1,
        rejected: [['consent', 1]],
        pending: 0,
      },
      { ...none, resourceType: 'Organization', received: 2, created: 1, unchanged: 1, pending: 0 },
      {
        ...none,
        resourceType: 'Condition',
        received: 5,
        created: 1,
        updated: 1,
        rejected: [['orphan-reference', 1]],
        pending: 1,
      },
      { ...none, resourceType: 'Basic', received: 1, skipped: 1, pending: 0 },
      { ...none, resourceType: null, received: 1, rejected: [['schema', 1]], pending: 0 },
      {
        ...none,
        resourceType: 'DocumentReference',
        received: 1,
        rejected: [['too-large', 1]],
        pending: 0,
      },
    ]);
    expect(summary.runs).toBe(3);
    expect(summary.runsWithoutCounts).toBe(1);
  });

  it('an empty input counts nothing', () => {
    // Act
    const summary = summarize([], NO_COUNTS);

    // Assess
    expect(summary).toStrictEqual({
      received: 0,
      loaded: 0,
      rejected: [],
      skipped: 0,
      failed: 0,
      pending: 0,
      runs: 0,
      runsWithoutCounts: 0,
      types: [],
    });
  });
});

describe('summaryTable', () => {
  const context = { batches: 4, batchesSentNow: 1, elapsedMs: 4249, outcomesFile: 'out.ndjson' };

  it('one aligned row per type, then one per count and reason, then runs, batches and elapsed time', () => {
    // Prepare
    const summary = summarize(
      [
        line('loaded', null, RUN_A),
        line('rejected', 'consent', RUN_A),
        line('rejected', 'orphan-reference', RUN_B),
      ],
      new Map([
        [RUN_A, { created: 1 }],
        [RUN_B, {}],
      ]),
    );

    // Act
    const table = summaryTable(summary, context);

    // Assess
    expect(table).toBe(
      [
        'type     received  created  updated  unchanged  rejected: consent  rejected: orphan-reference  skipped',
        'Patient         3        1        0          0                  1                           1        0',
        '',
        'outcome                     records',
        'received                          3',
        'loaded                            1',
        'rejected: consent                 1',
        'rejected: orphan-reference        1',
        'skipped                           0',
        'runs                              2',
        'batches                           4',
        'batches sent now                  1',
        'elapsed                       4.2 s',
        'outcomes written to out.ndjson',
        '',
      ].join('\n'),
    );
  });

  it('a Bulk Data input: one row per type, a column per rejection reason, failed and pending columns when any', () => {
    // Act
    const table = summaryTable(summarize(EXPORT_LINES, EXPORT_RUN_COUNTS), context);

    // Assess
    expect(table).toBe(
      [
        'type               received  created  updated  unchanged  rejected: consent  rejected: orphan-reference  rejected: schema  rejected: too-large  skipped  pending',
        'Consent                   1        1        0          0                  0                           0                 0                    0        0        0',
        'Patient                   3        1        0          1                  1                           0                 0                    0        0        0',
        'Organization              2        1        0          1                  0                           0                 0                    0        0        0',
        'Condition                 5        1        1          0                  0                           1                 0                    0        0        1',
        'Basic                     1        0        0          0                  0                           0                 0                    0        1        0',
        '(no type)                 1        0        0          0                  0                           0                 1                    0        0        0',
        'DocumentReference         1        0        0          0                  0                           0                 0                    1        0        0',
        '',
        'outcome                     records',
        'received                         14',
        'loaded                            8',
        'rejected: consent                 1',
        'rejected: orphan-reference        1',
        'rejected: schema                  1',
        'rejected: too-large               1',
        'skipped                           1',
        'pending (not sent yet)            1',
        'runs                              3',
        'runs without counts               1',
        'batches                           4',
        'batches sent now                  1',
        'elapsed                       4.2 s',
        'outcomes written to out.ndjson',
        '',
      ].join('\n'),
    );
  });

  it.each<[string, OutcomeLine[], RegExp, RegExp | undefined]>([
    [
      'no rejection: one rejected row of 0',
      [line('loaded', null, RUN_A)],
      /^rejected +0$/m,
      /rejected:/,
    ],
    ['a failure: a failed row', [line('failed', 'run-failed', RUN_A)], /^failed +1$/m, undefined],
    [
      'records not sent yet: a pending row',
      [line('pending', null, null)],
      /^pending \(not sent yet\) +1$/m,
      undefined,
    ],
    ['no failure: no failed row', [line('loaded', null, RUN_A)], /^loaded +1$/m, /^failed/m],
  ])('%s', (_case, lines, present, absent) => {
    // Act
    const table = summaryTable(summarize(lines, NO_COUNTS), context);

    // Assess
    expect(table).toMatch(present);
    if (absent !== undefined) expect(table).not.toMatch(absent);
  });
});
