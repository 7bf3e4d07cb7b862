import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DETAILS_EVERY_MS, detailsDue, startPolling } from '../../../console/polling.ts';

/** A promise and the function that settles it, for a tick the test finishes by hand. */
function deferred(): { promise: Promise<boolean>; resolve: (again: boolean) => void } {
  let resolve: (again: boolean) => void = () => {};
  const promise = new Promise<boolean>((settle) => {
    resolve = settle;
  });
  return { promise, resolve };
}

describe('startPolling', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('never calls the tick again when stopped while a tick awaits', async () => {
    // Prepare
    const pending = deferred();
    const tick = vi.fn(() => pending.promise);
    const poller = startPolling(tick, () => {}, { everyMs: 2_000 });
    await vi.advanceTimersByTimeAsync(2_000);
    expect(tick).toHaveBeenCalledTimes(1);

    // Act
    poller.stop();
    pending.resolve(true);
    await vi.advanceTimersByTimeAsync(20_000);

    // Assess
    expect(tick).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('reports no error of a tick that fails after it was stopped (a 401 after sign-out)', async () => {
    // Prepare
    let fail: (error: Error) => void = () => {};
    const tick = vi.fn(
      () =>
        new Promise<boolean>((_, reject) => {
          fail = reject;
        }),
    );
    const onError = vi.fn();
    const poller = startPolling(tick, onError, { everyMs: 2_000 });
    await vi.advanceTimersByTimeAsync(2_000);

    // Act
    poller.stop();
    fail(new Error('401'));
    await vi.advanceTimersByTimeAsync(20_000);

    // Assess
    expect(onError).not.toHaveBeenCalled();
    expect(tick).toHaveBeenCalledTimes(1);
  });

  it('shows an error and polls on: a transient failure never ends polling', async () => {
    // Prepare
    const failure = new Error('503');
    const tick = vi.fn<() => Promise<boolean>>().mockRejectedValueOnce(failure);
    tick.mockResolvedValue(true);
    const onError = vi.fn();

    // Act
    startPolling(tick, onError, { everyMs: 1_000, firstMs: 0 });
    await vi.advanceTimersByTimeAsync(2_500);

    // Assess
    expect(onError).toHaveBeenCalledExactlyOnceWith(failure);
    expect(tick).toHaveBeenCalledTimes(3);
  });

  it('stops when the tick answers false, and waits everyMs after each tick settles', async () => {
    // Prepare
    const tick = vi.fn<() => Promise<boolean>>().mockResolvedValueOnce(true);
    tick.mockResolvedValue(false);

    // Act
    startPolling(tick, () => {}, { everyMs: 1_000, firstMs: 0 });
    await vi.advanceTimersByTimeAsync(0);
    const afterFirst = tick.mock.calls.length;
    await vi.advanceTimersByTimeAsync(10_000);

    // Assess
    expect(afterFirst).toBe(1);
    expect(tick).toHaveBeenCalledTimes(2);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('detailsDue', () => {
  const read = { status: 'running', currentStage: 'Validate', atMs: 100_000 };

  it.each([
    ['never read', undefined, { status: 'running', currentStage: 'Validate' }, 100_000, true],
    ['the same status and stage, 2 s later', read, read, 102_000, false],
    [
      'the same status and stage, just under 10 s later',
      read,
      read,
      100_000 + DETAILS_EVERY_MS - 1,
      false,
    ],
    ['the same status and stage, 10 s later', read, read, 100_000 + DETAILS_EVERY_MS, true],
    ['another stage', read, { status: 'running', currentStage: 'Load' }, 101_000, true],
    ['another status', read, { status: 'failed', currentStage: 'Validate' }, 101_000, true],
    ['the stage gone (finished)', read, { status: 'running', currentStage: null }, 101_000, true],
  ])('with %s: %s', (_, last, run, now, due) => {
    // Act
    const answer = detailsDue(last, run, now);

    // Assess
    expect(answer).toBe(due);
  });
});
