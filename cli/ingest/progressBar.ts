export interface ProgressSnapshot {
  /** Records whose batch has ended, including those finished by an earlier invocation. */
  readonly done: number;
  readonly total: number;
  /** Records already done when this invocation started: they do not count towards the rate. */
  readonly doneAtStart: number;
  readonly elapsedMs: number;
  /** e.g. "batch 3/6 running". */
  readonly activity: string;
}

const BAR_WIDTH = 24;

function duration(totalSeconds: number): string {
  const seconds = Math.round(totalSeconds);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

/** One line: bar, records done of total, records per second this invocation, time left. */
export function progressLine(snapshot: ProgressSnapshot): string {
  const { done, total, doneAtStart, elapsedMs, activity } = snapshot;
  const fraction = total === 0 ? 1 : Math.min(1, done / total);
  const filled = Math.round(fraction * BAR_WIDTH);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]`;
  const rate = elapsedMs > 0 ? ((done - doneAtStart) * 1000) / elapsedMs : 0;
  const eta = rate > 0 ? `ETA ${duration((total - done) / rate)}` : 'ETA --';
  return `${bar} ${done}/${total} records  ${rate.toFixed(1)} rec/s  ${eta}  ${activity}`;
}

export interface ProgressBar {
  update(snapshot: ProgressSnapshot): void;
  /** Clears the line, so what is printed next starts on a clean one. */
  close(): void;
}

interface TerminalStream {
  write(text: string): unknown;
}

/** Redraws one line of a terminal in place; `enabled` false draws nothing at all. */
export function createProgressBar(stream: TerminalStream, enabled: boolean): ProgressBar {
  if (!enabled) return { update() {}, close() {} };
  let drawn = false;
  return {
    update(snapshot) {
      // \r and erase-line: the bar overwrites itself instead of scrolling.
      stream.write(`\r\x1b[2K${progressLine(snapshot)}`);
      drawn = true;
    },
    close() {
      if (drawn) stream.write('\r\x1b[2K');
      drawn = false;
    },
  };
}
