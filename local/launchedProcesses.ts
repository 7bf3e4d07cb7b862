import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * What the launcher started, written to the data directory so that the next start can stop
 * what a SIGKILLed launcher left running (serverless-offline lives in a process group of its
 * own; the embedded PostgreSQL outlives a launcher killed alone). A process is identified by
 * its pid, its start time and its command line, all from /proc, so a reused pid is left alone.
 */

interface ProcessIdentity {
  readonly pid: number;
  readonly startTime: string;
  readonly cmdline: string;
}

interface Ledger {
  readonly launcher: ProcessIdentity;
  readonly children: ProcessIdentity[];
}

const EXIT_POLL_MS = 100;

/** Field 22 of /proc/<pid>/stat (clock ticks since boot), and whether it is a zombie. */
function statOf(pid: number): { startTime: string; zombie: boolean } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const startTime = fields[19];
    return startTime === undefined ? undefined : { startTime, zombie: fields[0] === 'Z' };
  } catch {
    return undefined;
  }
}

function identityOf(pid: number): ProcessIdentity | undefined {
  const stat = statOf(pid);
  if (stat === undefined || stat.zombie) return undefined;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
    return { pid, startTime: stat.startTime, cmdline };
  } catch {
    return undefined;
  }
}

/** Still the very process that was recorded: same pid, start time and command line. */
function isAlive(recorded: ProcessIdentity): boolean {
  const now = identityOf(recorded.pid);
  return now?.startTime === recorded.startTime && now.cmdline === recorded.cmdline;
}

/**
 * Waits until `pid` has exited, or with `reaped` until its zombie is gone too (PostgreSQL takes
 * a lock file whose pid still answers signals for a running postmaster); false on timeout.
 */
async function awaitExit(
  pid: number,
  startTime: string,
  timeoutMs: number,
  reaped = false,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stat = statOf(pid);
    if (stat === undefined || (stat.zombie && !reaped) || stat.startTime !== startTime) return true;
    if (Date.now() >= deadline) return false;
    await sleep(EXIT_POLL_MS);
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Gone already.
  }
}

const LOCK_FILE = 'launcher.lock';

/**
 * Makes this launcher the one on `dataDir`, by creating its lock file exclusively: two started
 * at the same instant cannot both pass, nor one stop the other's PostgreSQL as a leftover. A
 * lock whose launcher is dead (killed) is taken over.
 */
function claimDataDir(dataDir: string): void {
  const lock = join(dataDir, LOCK_FILE);
  const self = identityOf(process.pid);
  if (self === undefined) throw new Error('cannot read /proc for this process');
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      writeFileSync(lock, JSON.stringify(self), { flag: 'wx', mode: 0o600 });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let holder: unknown;
    try {
      holder = JSON.parse(readFileSync(lock, 'utf8'));
    } catch {
      holder = undefined;
    }
    // Unreadable: another launcher is writing it this very moment.
    if (!isIdentity(holder)) break;
    if (isAlive(holder)) {
      throw new Error(`another npm start (pid ${holder.pid}) is running on DATA_DIR ${dataDir}`);
    }
    rmSync(lock, { force: true });
  }
  throw new Error(
    `another npm start is starting on DATA_DIR ${dataDir} (if none is, remove ${lock})`,
  );
}

export class LaunchedProcesses {
  readonly #file: string;
  readonly #ledger: Ledger;

  private constructor(file: string, ledger: Ledger) {
    this.#file = file;
    this.#ledger = ledger;
  }

  /**
   * Stops what a previous launcher on `dataDir` left running, then records this one. Throws when
   * that launcher is itself still running: two stacks must not share a data directory.
   */
  static async reclaim(dataDir: string): Promise<LaunchedProcesses> {
    const file = join(dataDir, 'launcher.json');
    claimDataDir(dataDir);
    const previous = existsSync(file) ? parseLedger(readFileSync(file, 'utf8')) : undefined;
    if (previous !== undefined) {
      if (isAlive(previous.launcher)) {
        throw new Error(
          `another npm start (pid ${previous.launcher.pid}) is running on DATA_DIR ${dataDir}`,
        );
      }
      const stale = previous.children.filter(isAlive);
      // Each child leads its own process group: SIGKILL takes its workers down with it.
      for (const child of stale) signal(-child.pid, 'SIGKILL');
      for (const child of stale) await awaitExit(child.pid, child.startTime, 10_000);
    }
    const launcher = identityOf(process.pid);
    if (launcher === undefined) throw new Error('cannot read /proc for this process');
    const ledger = new LaunchedProcesses(file, { launcher, children: [] });
    ledger.#write();
    return ledger;
  }

  /** Records a child that leads its own process group, for the next start to stop if need be. */
  started(pid: number): void {
    const child = identityOf(pid);
    if (child !== undefined) this.#ledger.children.push(child);
    this.#write();
  }

  /** After a clean stop nothing is left to reclaim. */
  clear(): void {
    rmSync(this.#file, { force: true });
    rmSync(this.#file.replace(/launcher\.json$/, LOCK_FILE), { force: true });
  }

  #write(): void {
    writeFileSync(this.#file, `${JSON.stringify(this.#ledger, null, 2)}\n`, { mode: 0o600 });
  }
}

function isIdentity(value: unknown): value is ProcessIdentity {
  if (typeof value !== 'object' || value === null) return false;
  const { pid, startTime, cmdline } = value as Record<string, unknown>;
  return Number.isSafeInteger(pid) && typeof startTime === 'string' && typeof cmdline === 'string';
}

/** A ledger another version wrote, or a torn write, is ignored: there is nothing safe to stop. */
function parseLedger(text: string): Ledger | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null) return undefined;
    const { launcher, children } = value as Record<string, unknown>;
    if (!isIdentity(launcher) || !Array.isArray(children) || !children.every(isIdentity)) {
      return undefined;
    }
    return { launcher, children };
  } catch {
    return undefined;
  }
}

/**
 * Stops a postmaster still running on `clusterDir` (its launcher was killed alone): a fast
 * shutdown (SIGINT), SIGKILL after `timeoutMs`. A postmaster killed with its launcher leaves
 * only its postmaster.pid, which PostgreSQL itself recognises as stale.
 */
export async function stopStalePostmaster(clusterDir: string, timeoutMs = 30_000): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(join(clusterDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return;
  }
  const stat = Number.isSafeInteger(pid) && pid > 0 ? statOf(pid) : undefined;
  if (stat === undefined) return;
  // Killed with its launcher's group, it may not be reaped yet; its zombie would still look alive.
  if (stat.zombie) {
    await awaitExit(pid, stat.startTime, 10_000, true);
    return;
  }
  const postmaster = identityOf(pid);
  if (postmaster === undefined || !postmaster.cmdline.includes(`-D ${clusterDir} `)) return;
  signal(pid, 'SIGINT');
  if (await awaitExit(pid, postmaster.startTime, timeoutMs, true)) return;
  signal(pid, 'SIGKILL');
  await awaitExit(pid, postmaster.startTime, 5_000, true);
}
