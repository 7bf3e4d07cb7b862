import { describe, expect, it } from 'vitest';
import { ExecutionStore, type StoredExecution } from '../../../local/executionStore.ts';
import { useTestDatabase } from '../../helpers/database.ts';

const MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:retention';
const DAY_MS = 24 * 60 * 60 * 1000;

function execution(name: string, startDate: number): StoredExecution {
  return {
    executionArn: `${MACHINE.replace(':stateMachine:', ':execution:')}:${name}`,
    stateMachineArn: MACHINE,
    name,
    input: '{}',
    status: 'RUNNING',
    startDate,
    stopDate: undefined,
    output: undefined,
    error: undefined,
    cause: undefined,
    resumes: 0,
  };
}

describe('ExecutionStore', () => {
  const database = useTestDatabase();

  it('keeps ended executions for 90 days, as Step Functions does, and running ones however old', async () => {
    // Prepare
    const store = await ExecutionStore.open(database.url);
    const now = Date.now();
    const expired = execution('ended-91-days-ago', now - 92 * DAY_MS);
    const kept = execution('ended-89-days-ago', now - 90 * DAY_MS);
    const running = execution('running-for-a-year', now - 365 * DAY_MS);
    for (const stored of [expired, kept, running]) await store.insert(stored);
    await store.appendEvents(expired.executionArn, 1, [{ type: 'ExecutionStarted' }]);
    await store.end(expired.executionArn, {
      status: 'SUCCEEDED',
      stopDate: now - 91 * DAY_MS,
      output: '{}',
      error: undefined,
      cause: undefined,
    });
    await store.end(kept.executionArn, {
      status: 'FAILED',
      stopDate: now - 89 * DAY_MS,
      output: undefined,
      error: 'States.TaskFailed',
      cause: '',
    });
    await store.close();

    // Act
    const reopened = await ExecutionStore.open(database.url);
    const listed = await reopened.list(MACHINE, { status: undefined, offset: 0, limit: 10 });
    const events = await reopened.events(expired.executionArn);
    await reopened.close();

    // Assess
    expect(listed.map((stored) => stored.name).sort()).toEqual([
      'ended-89-days-ago',
      'running-for-a-year',
    ]);
    expect(events).toEqual([]);
  });
});
