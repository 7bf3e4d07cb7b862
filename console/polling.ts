/** Polling: a read repeated until stopped, and when a run's slower reads are due again. */

export interface Poller {
  /** No tick starts, and none re-arms or reports an error, after this. */
  readonly stop: () => void;
  readonly stopped: () => boolean;
}

/**
 * Calls `tick` after `firstMs`, then `everyMs` after each call settles, while it answers true.
 * An error is reported and polling goes on: a transient failure never ends it.
 */
export function startPolling(
  tick: () => Promise<boolean>,
  onError: (error: unknown) => void,
  { everyMs, firstMs = everyMs }: { everyMs: number; firstMs?: number },
): Poller {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;

  function arm(ms: number): void {
    timer = setTimeout(async () => {
      let again = true;
      try {
        again = await tick();
      } catch (error) {
        // A stopped poller's error (say a 401 after sign-out) is nobody's business.
        if (!stopped) onError(error);
      }
      if (again && !stopped) arm(everyMs);
    }, ms);
  }

  arm(firstMs);
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
    stopped: () => stopped,
  };
}

/** Where a run stood when its rejections and history were last read. */
export interface DetailsRead {
  readonly status: string;
  readonly currentStage: string | null;
  readonly atMs: number;
}

export const DETAILS_EVERY_MS = 10_000;

/** Rejections and history change with the run's status or stage; between changes, every 10 s. */
export function detailsDue(
  last: DetailsRead | undefined,
  run: { readonly status: string; readonly currentStage: string | null },
  nowMs: number,
): boolean {
  return (
    last === undefined ||
    last.status !== run.status ||
    last.currentStage !== run.currentStage ||
    nowMs - last.atMs >= DETAILS_EVERY_MS
  );
}
