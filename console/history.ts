/** What the run history route leaves out, said in the run view. */
import type { RunHistoryView } from './api.ts';

/** An execution as the history table names it. */
function attemptName(attempt: number): string {
  return attempt === 0 ? 'the first execution' : `re-drive ${attempt}`;
}

/** What the history leaves out, in a sentence; undefined when it shows everything. */
export function historyLimitsNote(
  history: Pick<RunHistoryView, 'olderAttemptsOmitted' | 'truncatedAttempts'>,
): string | undefined {
  const parts: string[] = [];
  if (history.olderAttemptsOmitted > 0) {
    const count = history.olderAttemptsOmitted;
    parts.push(`the ${count} oldest execution${count === 1 ? ' is' : 's are'} not shown`);
  }
  if (history.truncatedAttempts.length > 0) {
    const names = history.truncatedAttempts.map(attemptName).join(', ');
    parts.push(`only the first events of ${names} are listed`);
  }
  if (parts.length === 0) return undefined;
  const sentence = parts.join('; ');
  return `${sentence.charAt(0).toUpperCase()}${sentence.slice(1)}.`;
}
