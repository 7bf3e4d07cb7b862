/** How the console writes times, durations and rates. */

export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

export function formatDuration(ms: number | null): string {
  return ms === null ? '—' : formatMs(ms);
}

export function formatRate(recordsPerSecond: number | null): string {
  return recordsPerSecond === null ? '—' : recordsPerSecond.toFixed(2);
}

export function formatTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function byReason(rejected: Readonly<Record<string, number>>): string {
  const entries = Object.entries(rejected);
  return entries.length === 0 ? '—' : entries.map(([reason, n]) => `${reason} ${n}`).join(', ');
}
