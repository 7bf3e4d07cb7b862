import { randomBytes, randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  MAX_ATTEMPTS_READ,
  MAX_EVENTS_PER_ATTEMPT,
  readRunHistory,
} from '../../../lib/api/runHistory.ts';
import { insertDataKey } from '../../../lib/db/repositories/dataKeys.ts';
import { insertIngestRun } from '../../../lib/db/repositories/ingestRuns.ts';
import { RunNotFoundError } from '../../../lib/errors.ts';
import type { ExecutionEvent } from '../../../lib/pipeline/dependencies.ts';
import { executionName } from '../../../lib/workflow/workflowStarter.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { thrownBy } from '../../helpers/thrown.ts';
import { RecordingStarter } from '../../helpers/workflowStarters.ts';

/** The tenant the seeded runs belong to. */
const SEEDER = { subject: 'system:seeder', scopes: ['system/Patient.c'] } as const;

function event(id: number, type: string, stateName: string | null = null): ExecutionEvent {
  return {
    id,
    type,
    timestamp: new Date(Date.UTC(2030, 0, 1, 0, 0, id)).toISOString(),
    stateName,
    error: null,
  };
}

describe('readRunHistory on real PostgreSQL', () => {
  const database = useTestDatabase();
  let dataKeyId: string;

  async function seedRun(redrives: number): Promise<string> {
    const id = randomUUID();
    await insertIngestRun(database.pool, {
      id,
      format: 'flat',
      source: 'api',
      actor: 'system:seeder',
      dataKeyId,
      counts: { received: 1 },
    });
    await database.pool.query('UPDATE ingest_runs SET redrives = $2 WHERE id = $1', [id, redrives]);
    return id;
  }

  beforeAll(async () => {
    dataKeyId = randomUUID();
    await insertDataKey(database.pool, {
      id: dataKeyId,
      purpose: 'run',
      masterKeyId: 'local',
      encryptedKey: randomBytes(24),
      encryptionContext: { purpose: 'run', runId: 'none' },
    });
  });

  it('lists the events of the first execution, then of each re-drive, each with its attempt', async () => {
    // Prepare
    const runId = await seedRun(1);
    const workflow = new RecordingStarter();
    workflow.histories.set(executionName(runId, 0), [
      event(1, 'ExecutionStarted'),
      event(2, 'ExecutionFailed'),
    ]);
    workflow.histories.set(executionName(runId, 1), [event(1, 'ExecutionStarted')]);

    // Act
    const history = await readRunHistory({ pool: database.pool, workflow }, runId, SEEDER);

    // Assess
    expect(history?.events.map(({ attempt, id, type }) => ({ attempt, id, type }))).toEqual([
      { attempt: 0, id: 1, type: 'ExecutionStarted' },
      { attempt: 0, id: 2, type: 'ExecutionFailed' },
      { attempt: 1, id: 1, type: 'ExecutionStarted' },
    ]);
    expect(history).toMatchObject({ olderAttemptsOmitted: 0, truncatedAttempts: [] });
  });

  it('reads the latest attempts one after another, telling how many older ones it left out', async () => {
    // Prepare
    const redrives = MAX_ATTEMPTS_READ + 4;
    const runId = await seedRun(redrives);
    const workflow = new RecordingStarter();
    for (let attempt = 0; attempt <= redrives; attempt += 1) {
      workflow.histories.set(executionName(runId, attempt), [event(1, 'ExecutionStarted')]);
    }

    // Act
    const history = await readRunHistory({ pool: database.pool, workflow }, runId, SEEDER);

    // Assess
    const older = redrives + 1 - MAX_ATTEMPTS_READ;
    const latest = Array.from({ length: MAX_ATTEMPTS_READ }, (_, index) => older + index);
    expect(workflow.historyReads.map(({ attempt }) => attempt)).toEqual(latest);
    expect(workflow.mostHistoriesReadAtOnce).toBe(1);
    expect(history?.events.map(({ attempt }) => attempt)).toEqual(latest);
    expect(history).toMatchObject({ olderAttemptsOmitted: older, truncatedAttempts: [] });
  });

  it('lists at most the first MAX_EVENTS_PER_ATTEMPT events of an attempt, naming it cut short', async () => {
    // Prepare
    const runId = await seedRun(1);
    const workflow = new RecordingStarter();
    const long = Array.from({ length: MAX_EVENTS_PER_ATTEMPT + 1 }, (_, index) =>
      event(index + 1, 'TaskStateEntered', 'Validate'),
    );
    workflow.histories.set(executionName(runId, 0), long);
    workflow.histories.set(executionName(runId, 1), [event(1, 'ExecutionStarted')]);

    // Act
    const history = await readRunHistory({ pool: database.pool, workflow }, runId, SEEDER);

    // Assess
    expect(history?.events.filter(({ attempt }) => attempt === 0)).toHaveLength(
      MAX_EVENTS_PER_ATTEMPT,
    );
    expect(history).toMatchObject({ olderAttemptsOmitted: 0, truncatedAttempts: [0] });
  });

  it('adds nothing for an execution that does not exist (a workflow that never started)', async () => {
    // Prepare
    const runId = await seedRun(0);

    // Act
    const history = await readRunHistory(
      { pool: database.pool, workflow: new RecordingStarter() },
      runId,
      SEEDER,
    );

    // Assess
    expect(history).toEqual({ events: [], olderAttemptsOmitted: 0, truncatedAttempts: [] });
  });

  it('refuses a run that does not exist with RunNotFoundError', async () => {
    // Act
    const refused = await thrownBy(() =>
      readRunHistory(
        { pool: database.pool, workflow: new RecordingStarter() },
        randomUUID(),
        SEEDER,
      ),
    );

    // Assess
    expect(refused).toBeInstanceOf(RunNotFoundError);
  });

  it('refuses another tenant the run as if it did not exist, and reads nothing of its executions', async () => {
    // Prepare
    const runId = await seedRun(0);
    const workflow = new RecordingStarter();
    workflow.histories.set(executionName(runId, 0), [event(1, 'ExecutionStarted')]);
    const other = { subject: 'system:other-clinic', scopes: ['system/Patient.c'] };
    const operator = { subject: 'ops', scopes: ['system/*.rs'] };

    // Act
    const refused = await thrownBy(() =>
      readRunHistory({ pool: database.pool, workflow }, runId, other),
    );
    const readsAfterRefusal = workflow.historyReads.length;
    const operated = await readRunHistory({ pool: database.pool, workflow }, runId, operator);

    // Assess
    expect(refused).toBeInstanceOf(RunNotFoundError);
    expect((refused as RunNotFoundError).message).toBe('ingest run requested does not exist');
    expect(readsAfterRefusal).toBe(0);
    expect(operated.events.map(({ type }) => type)).toStrictEqual(['ExecutionStarted']);
  });
});
