import { describe, expect, it } from 'vitest';
import type { StatementCount } from '../../../bench/database.ts';
import {
  auditWriteCost,
  oneLine,
  runTargets,
  scaleTarget,
  summariseStatements,
  type TargetInput,
} from '../../../bench/report.ts';

const MIB = 1_048_576;

/** A run that meets every target it is judged on: 10,000 records at batches of 5,000. */
const meeting = {
  records: 10_000,
  batchSize: 5_000,
  constrainedRatio: 0.6,
  postgresCpuMs: { pipeline: 1_200, constrainedCopy: 1_000 },
  walBytes: { pipeline: 11_000_000, copy: 10_000_000 },
  nodeCpuMs: 700,
  maxKeyServiceCallsPerRun: 6,
  auditMacCallsPerRun: 1.5,
  peakRssBytes: 480 * MIB,
} satisfies TargetInput;

const byName = (input: TargetInput) =>
  Object.fromEntries(runTargets(input).map((target) => [target.target, target]));

describe("the benchmark's targets", () => {
  it('judges every figure of a run against its limit, per record where the issue says so', () => {
    // Act
    const targets = byName(meeting);

    // Assess
    expect(targets['end to end / COPY into the real tables']).toMatchObject({
      value: 0.6,
      met: true,
    });
    expect(targets["PostgreSQL CPU per record / the constrained COPY's"]).toMatchObject({
      value: 1.2,
      figure: '1.20× (120 µs / 100 µs)',
      met: true,
    });
    expect(targets["WAL per record / COPY's"]).toMatchObject({
      value: 1.1,
      figure: '1.10× (1,100 / 1,000 bytes)',
      met: true,
    });
    expect(targets['Node CPU per record']).toMatchObject({ value: 70, met: true });
    expect(targets['key-service calls per run']).toMatchObject({ value: 7.5, met: true });
    expect(targets['peak RSS while the pipeline ran']).toMatchObject({ met: true });
    expect(targets['cold start per stage function']).toMatchObject({ value: null, met: null });
  });

  it.each([
    ['end to end / COPY into the real tables', { constrainedRatio: 0.49 }],
    [
      "PostgreSQL CPU per record / the constrained COPY's",
      { postgresCpuMs: { pipeline: 1_301, constrainedCopy: 1_000 } },
    ],
    ["WAL per record / COPY's", { walBytes: { pipeline: 12_000_001, copy: 10_000_000 } }],
    ['Node CPU per record', { nodeCpuMs: 801 }],
    ['key-service calls per run', { maxKeyServiceCallsPerRun: 9 }],
    ['key-service calls per run', { auditMacCallsPerRun: 2.5 }],
    ['peak RSS while the pipeline ran', { peakRssBytes: 512 * MIB }],
  ] satisfies [string, Partial<TargetInput>][])('misses %s past its limit', (name, change) => {
    // Act
    const targets = byName({ ...meeting, ...change });

    // Assess
    expect(targets[name]?.met).toBe(false);
    expect(Object.values(targets).filter(({ met }) => met === false)).toHaveLength(1);
  });

  it('judges no server CPU it could not measure, and peak RSS only at batches of 5,000', () => {
    // Act
    const targets = byName({
      ...meeting,
      batchSize: 1_000,
      peakRssBytes: 600 * MIB,
      postgresCpuMs: { pipeline: null, constrainedCopy: null },
    });

    // Assess
    expect(targets["PostgreSQL CPU per record / the constrained COPY's"]).toMatchObject({
      value: null,
      figure: 'not measured (server elsewhere)',
      met: null,
    });
    expect(targets['peak RSS while the pipeline ran']).toMatchObject({
      figure: '600.0 MiB, measured at B=5,000 only',
      met: null,
    });
  });

  it.each([
    [4_000, true],
    [5_500, true],
    [3_999, false],
  ])(
    'holds the rate at the largest scale to 80%% of the smallest: %d against 5,000',
    (rate, met) => {
      // Act
      const target = scaleTarget(
        { patients: 10_000, recordsPerSecond: 5_000 },
        { patients: 200_000, recordsPerSecond: rate },
      );

      // Assess
      expect(target).toMatchObject({ value: rate / 5_000, met });
    },
  );
});

const statement = (query: string, totalMs: number, toplevel = true): StatementCount => ({
  query,
  calls: 10,
  totalMs,
  rows: 100,
  toplevel,
});

describe("the benchmark's statement figures", () => {
  it('ranks statements by total time, shares of the client statements only, and sums the audit writes', () => {
    // Prepare
    const counts = [
      statement('SELECT 1', 10),
      statement('WITH inserted AS (\n  INSERT INTO audit_log (actor) SELECT …) SELECT seq', 60),
      statement('UPDATE audit_chain_head SET seq = $1', 50, false),
      statement('INSERT INTO audit_seals (seq, hash, mac, mac_key_id) VALUES ($1, $2, $3, $4)', 5),
      statement('COPY public.audit_log (seq, hash) FROM STDIN (FORMAT binary)', 25),
    ];

    // Act
    const summary = summariseStatements(counts, 3);

    // Assess
    expect(summary.totalMs).toBe(100);
    expect(summary.top.map(({ totalMs, share }) => [totalMs, share])).toEqual([
      [60, 0.6],
      [50, 0.5],
      [25, 0.25],
    ]);
    expect(summary.auditWrites).toEqual({ ms: 90, calls: 30 });
    expect(auditWriteCost(summary, 1_000, 3_000)).toBe(
      '0.09 s in 30 statements: 90.0 µs per audit row, 30.0 µs per record',
    );
  });

  it('shows a statement on one line of at most the width asked', () => {
    // Act
    const short = oneLine('SELECT\n  a,\n  b\nFROM t');
    const long = oneLine(`SELECT ${'x, '.repeat(100)}y FROM t`, 40);

    // Assess
    expect(short).toBe('SELECT a, b FROM t');
    expect(long).toHaveLength(40);
    expect(long.endsWith('…')).toBe(true);
  });
});
