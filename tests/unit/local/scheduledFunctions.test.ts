import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  runOnSchedule,
  SCHEDULED_FUNCTIONS,
  type ScheduledFunction,
} from '../../../local/scheduledFunctions.ts';

const EVERY_MS = 60_000;

/** A scheduled function that reports every result it is given, as `result: <json>`. */
const reporting: ScheduledFunction = {
  name: 'purgeExpired',
  title: 'the purge',
  everyMs: EVERY_MS,
  report: (result) => `result: ${JSON.stringify(result)}`,
};

function scheduledFunction(name: string): ScheduledFunction {
  const found = SCHEDULED_FUNCTIONS.find((fn) => fn.name === name);
  if (found === undefined) throw new Error(`no scheduled function ${name}`);
  return found;
}

describe('runOnSchedule: a scheduled Lambda under npm start', () => {
  let said: string[];
  let warned: string[];
  const output = {
    say: (line: string) => said.push(line),
    warn: (line: string) => warned.push(line),
  };

  beforeEach(() => {
    vi.useFakeTimers();
    said = [];
    warned = [];
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('invokes the function at once, then once per interval, until stopped', async () => {
    // Prepare
    const invoke = vi.fn(async (_name: string, _input: unknown) => ({ purged: 1 }));

    // Act
    const stop = runOnSchedule(reporting, invoke, output);
    await vi.advanceTimersByTimeAsync(0);
    const atStart = invoke.mock.calls.length;
    await vi.advanceTimersByTimeAsync(2 * EVERY_MS);
    stop();
    await vi.advanceTimersByTimeAsync(5 * EVERY_MS);

    // Assess
    expect(atStart).toBe(1);
    expect(invoke.mock.calls).toEqual([
      ['purgeExpired', {}],
      ['purgeExpired', {}],
      ['purgeExpired', {}],
    ]);
    expect(said).toEqual(Array(3).fill('result: {"purged":1}'));
    expect(warned).toEqual([]);
  });

  it('reports a failed pass by its error name alone, and runs the next one', async () => {
    // Prepare
    const failure = Object.assign(new Error('connection to MRN-001 refused'), {
      name: 'TransientDatabaseError',
    });
    const invoke = vi
      .fn(async (_name: string, _input: unknown): Promise<unknown> => ({ purged: 2 }))
      .mockRejectedValueOnce(failure);

    // Act
    const stop = runOnSchedule(reporting, invoke, output);
    await vi.advanceTimersByTimeAsync(EVERY_MS);
    stop();

    // Assess
    expect(warned).toEqual(['the purge failed: TransientDatabaseError']);
    expect(said).toEqual(['result: {"purged":2}']);
  });

  it.each([
    [{ checked: 3, executing: 3, resumed: 0, failed: 0, errors: 0 }, undefined],
    [
      { checked: 3, executing: 1, resumed: 1, failed: 1, errors: 0 },
      'Reconciled idle runs: {"checked":3,"executing":1,"resumed":1,"failed":1,"errors":0}',
    ],
    [null, undefined],
  ])('reports a reconciler pass that returned %j as %s', (summary, line) => {
    // Act
    const reported = scheduledFunction('reconcileRuns').report(summary);

    // Assess
    expect(reported).toBe(line);
  });

  it.each([
    [{ idempotencyKeys: 0, rateLimitBuckets: 0, stagePayloads: 0 }, undefined],
    [
      { idempotencyKeys: 2, rateLimitBuckets: 0, stagePayloads: 0 },
      'Purged expired rows: {"idempotencyKeys":2,"rateLimitBuckets":0,"stagePayloads":0}',
    ],
  ])('reports a purge pass that returned %j as %s', (summary, line) => {
    // Act
    const reported = scheduledFunction('purgeExpired').report(summary);

    // Assess
    expect(reported).toBe(line);
  });
});
