import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type BenchServer, startBenchServer } from '../../../bench/database.ts';
import { benchmarkRun, type RunFigures } from '../../../bench/pipelineRun.ts';
import { syntheticPatient } from '../../../bench/synthetic.ts';

const PATIENTS = 300;

describe('npm run bench, small', () => {
  let server: BenchServer;
  let figures: RunFigures;

  beforeAll(async () => {
    server = await startBenchServer(inject('adminDatabaseUrl'));
    figures = await benchmarkRun(server, {
      patients: PATIENTS,
      batchSize: 100,
      concurrency: 2,
      observations: 2,
      payloads: 'directory',
    });
  });

  afterAll(async () => {
    await server.stop();
  });

  it('runs every batch through the pipeline, and stores what the input says it should', () => {
    // Prepare
    const kinds = Array.from({ length: PATIENTS }, (_, index) => syntheticPatient(index).kind);
    const consented = kinds.filter((kind) => kind === 'consented').length;

    // Assess
    expect(figures.records).toBe(PATIENTS * 3);
    expect(figures.runs).toBe(9);
    expect(figures.failedRuns).toBe(0);
    expect(figures.outcomes).toMatchObject({
      'patients stored': consented,
      'observations stored': consented * 2,
      'rejected: schema': kinds.filter((kind) => kind === 'invalid').length,
      'rejected: consent': kinds.filter((kind) => kind === 'refused').length,
      'rejected: orphan-reference': (PATIENTS - consented) * 2,
    });
  });

  it('copies exactly the rows the pipeline stored, table by table', () => {
    // Assess
    expect(figures.copy.tables.map(({ table, rows }) => [table, rows])).toEqual(
      figures.stored.map(({ table, rows }) => [table, rows]),
    );
    expect(figures.copy.rows).toBe(figures.storedRows);
    expect(figures.ratio).toBeCloseTo(figures.recordsPerSecond / figures.copyRecordsPerSecond, 9);
  });

  it('copies the same rows into the real tables, every foreign key and trigger on', () => {
    // Assess: the consents trigger writes one history row per consent, as it did for the run.
    expect(figures.constrainedCopy.tables.map(({ table, rows }) => [table, rows])).toEqual(
      figures.stored.map(({ table, rows }) => [table, rows]),
    );
    expect(figures.constrainedRatio).toBeCloseTo(
      figures.recordsPerSecond / figures.constrainedCopyRecordsPerSecond,
      9,
    );
  });

  it('measures the CPU this process and, when it runs here, the server spent while the pipeline and each COPY ran', async () => {
    // Prepare: is the server's backend a process this machine's /proc shows?
    const client = new pg.Client({ connectionString: inject('adminDatabaseUrl') });
    await client.connect();
    let serverHere: boolean;
    try {
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      // Read while the backend lives: it ends with the connection.
      const stat = `/proc/${rows[0]?.pid}/stat`;
      serverHere = existsSync(stat) && readFileSync(stat, 'utf8').includes('(postgres)');
    } finally {
      await client.end();
    }

    // Assess: the copies of a small run can take less than one of /proc's 10 ms ticks.
    expect(figures.cpuMs.node).toBeGreaterThan(0);
    if (serverHere) expect(figures.cpuMs.postgres).toBeGreaterThan(0);
    for (const { postgres } of [figures.cpuMs, figures.copy.cpuMs, figures.constrainedCopy.cpuMs]) {
      if (serverHere) expect(postgres).toBeTypeOf('number');
      else expect(postgres).toBeNull();
    }
    // Every core of the machine for twice COPY's time.
    expect(figures.cpuAtTargetMs).toBeCloseTo(availableParallelism() * 2 * figures.copy.ms, 6);
  });

  it('calls the key service a constant number of times per run', () => {
    // Assess
    expect(figures.keyServiceCalls).toMatchObject({ perRun: 6, maxPerRun: 6 });
    // The blind-index key: unwrapped once by each of the two key caches that use it
    // (ConsentCheck's, Transform's), even when two runs reach the same cold cache at once.
    expect(figures.keyServiceCalls.shared).toBe(2);
  });
});
