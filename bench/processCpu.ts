/**
 * CPU time of the PostgreSQL processes on this machine, read from /proc: every server's
 * processes, with what their ended children (backends, workers) used. Only meaningful when the
 * server the benchmark uses runs here; without /proc it is null.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** USER_HZ: the unit of /proc's CPU times, 100 on every Linux the pipeline runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

/** utime, stime, cutime, cstime: fields 14 to 17 of /proc/PID/stat, counted from 1. */
function cpuTicks(stat: string): { name: string; ticks: number } {
  // The name is in parentheses and may hold spaces or parentheses itself.
  const close = stat.lastIndexOf(')');
  const name = stat.slice(stat.indexOf('(') + 1, close);
  const fields = stat.slice(close + 2).split(' ');
  // After the name, field 3 (state) is fields[0]: fields 14..17 are fields[11..14].
  const ticks = fields.slice(11, 15).reduce((sum, field) => sum + Number(field), 0);
  return { name, ticks };
}

export function postgresCpuMs(): number | null {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return null;
  }
  let ticks = 0;
  for (const pid of entries) {
    if (!/^\d+$/.test(pid)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // ended while listed
    }
    const process = cpuTicks(stat);
    if (process.name === 'postgres') ticks += process.ticks;
  }
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}
