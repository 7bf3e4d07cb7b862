import { describe, expect, it } from 'vitest';
import type { Outcome, OutcomeLine } from '../../../cli/ingest/outcomes.ts';
import { summarize, summaryTable } from '../../../cli/ingest/summary.ts';

const RUN_A = '11111111-1111-4111-8111-111111111111';
const RUN_B = '22222222-2222-4222-8222-222222222222';

function line(outcome: Outcome, reason: string | null, runId: string | null): OutcomeLine {
  return {
    file: 'in.ndjson',
    line: 1,
    resourceType: 'Patient',
    resourceId: 'p',
    outcome,
    reason,
    runId,
  };
}

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
    const summary = summarize(lines);

    // Assess
    expect(summary).toStrictEqual({
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
    });
  });

  it('an empty input counts nothing', () => {
    // Act
    const summary = summarize([]);

    // Assess
    expect(summary).toStrictEqual({
      received: 0,
      loaded: 0,
      rejected: [],
      skipped: 0,
      failed: 0,
      pending: 0,
      runs: 0,
    });
  });
});

describe('summaryTable', () => {
  const context = { batches: 4, batchesSentNow: 1, elapsedMs: 4249, outcomesFile: 'out.ndjson' };

  it('one aligned row per count and reason, then runs, batches and elapsed time', () => {
    // Prepare
    const summary = summarize([
      line('loaded', null, RUN_A),
      line('rejected', 'consent', RUN_A),
      line('rejected', 'orphan-reference', RUN_B),
    ]);

    // Act
    const table = summaryTable(summary, context);

    // Assess
    expect(table).toBe(
      [
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
    const table = summaryTable(summarize(lines), context);

    // Assess
    expect(table).toMatch(present);
    if (absent !== undefined) expect(table).not.toMatch(absent);
  });
});
