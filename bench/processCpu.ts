/**
 * CPU time of the PostgreSQL server the benchmark uses, read from /proc when that server runs
 * on this machine: its postmaster's own time and what its ended children used, plus the time
 * of its live children (backends, background workers). Other servers on the machine are not
 * counted.
 */
import { readFileSync } from 'node:fs';
import type { Pool } from '../lib/db/pool.ts';

/** USER_HZ: the unit of /proc's CPU times, 100 on every Linux the pipeline runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

interface ProcessStat {
  readonly name: string;
  readonly parent: number;
  /** utime + stime + cutime + cstime. */
  readonly ticks: number;
}

function processStat(pid: number): ProcessStat | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // no such process here, or no /proc
  }
  // The name is in parentheses and may hold spaces or parentheses itself.
  const close = stat.lastIndexOf(')');
  const name = stat.slice(stat.indexOf('(') + 1, close);
  // After the name comes field 3 (state): fields 4 (ppid) and 14..17 (times) follow.
  const fields = stat.slice(close + 2).split(' ');
  const ticks = fields.slice(11, 15).reduce((sum, field) => sum + Number(field), 0);
  return { name, parent: Number(fields[1]), ticks };
}

function childrenOf(parent: number): number[] {
  try {
    const tasks = readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8');
    return tasks.split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * A clock of the server's CPU milliseconds, or null when its processes are not visible here
 * (a server on another host or in another PID namespace).
 */
export async function postgresCpuClock(db: Pool): Promise<(() => number) | null> {
  const { rows } = await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const backend = processStat(Number(rows[0]?.pid));
  if (backend?.name !== 'postgres') return null;
  const postmaster = backend.parent;
  if (processStat(postmaster)?.name !== 'postgres') return null;
  return () => {
    let ticks = processStat(postmaster)?.ticks ?? 0;
    for (const child of childrenOf(postmaster)) ticks += processStat(child)?.ticks ?? 0;
    return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
  };
}

/** CPU milliseconds spent by this process (all threads) and by the server, null when not seen. */
export interface CpuFigures {
  readonly node: number;
  readonly postgres: number | null;
}

/** Starts counting CPU: the returned function reads what was spent since. */
export async function startCpuCount(db: Pool): Promise<() => CpuFigures> {
  const postgres = await postgresCpuClock(db);
  const postgresFrom = postgres?.() ?? 0;
  const nodeFrom = process.cpuUsage();
  return () => {
    const node = process.cpuUsage(nodeFrom);
    return {
      node: (node.user + node.system) / 1000,
      postgres: postgres === null ? null : postgres() - postgresFrom,
    };
  };
}
