import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import { freePort } from '../../local/embeddedPostgres.ts';

/** A running `npm start` (local/start.ts), as a person would run it. */
export interface RunningStack {
  readonly child: ChildProcess;
  readonly apiUrl: string;
  readonly devToken: string;
  readonly stepFunctionsEndpoint: string;
  readonly stateMachineArn: string;
  readonly logFile: string;
  /** What it printed so far, stdout and stderr. */
  output(): string;
  stop(): Promise<number | null>;
}

/**
 * Starts local/start.ts with `env` and waits for its banner (the dev token's line is its last);
 * the token is read from the file that line names, `<data dir>/dev-token`.
 * Unless `env` names one, the Step Functions endpoint gets a free port: stacks run side by side.
 */
export async function startStack(options: {
  readonly dataDir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
  /** A process group of its own, as a terminal gives `npm start`, so a test can kill the group. */
  readonly ownProcessGroup?: boolean;
}): Promise<RunningStack> {
  const logFile = join(options.dataDir, 'stack.log');
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(process.execPath, ['local/start.ts'], {
    env: {
      ...process.env,
      STEP_FUNCTIONS_PORT: String(await freePort()),
      ...options.env,
      DATA_DIR: options.dataDir,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.ownProcessGroup === true,
  });
  let output = '';
  const ready = new Promise<{
    apiUrl: string;
    devToken: string;
    stepFunctionsEndpoint: string;
    stateMachineArn: string;
  }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the stack did not start in time:\n${output.slice(-4000)}`)),
      options.timeoutMs ?? 150_000,
    );
    const onData = (chunk: Buffer) => {
      log.write(chunk);
      output += chunk.toString('utf8');
      const api = /^\s+API\s+(\S+)$/m.exec(output);
      const token = /^\s+Dev token\s+cat (\S+)$/m.exec(output);
      const sfn = /^\s+Step Functions\s+(\S+)\s+\((\S+)\)$/m.exec(output);
      if (
        api?.[1] !== undefined &&
        token?.[1] !== undefined &&
        sfn?.[1] !== undefined &&
        sfn[2] !== undefined
      ) {
        clearTimeout(timer);
        const tokenFile = resolvePath(options.dataDir, 'dev-token');
        if (resolvePath(token[1]) !== tokenFile) {
          reject(new Error(`the stack names ${token[1]} as its token file, not ${tokenFile}`));
          return;
        }
        resolve({
          apiUrl: api[1],
          devToken: readFileSync(tokenFile, 'utf8').trim(),
          stepFunctionsEndpoint: sfn[1],
          stateMachineArn: sfn[2],
        });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the stack exited early (code ${code}):\n${output.slice(-4000)}`));
    });
  });
  const { apiUrl, devToken, stepFunctionsEndpoint, stateMachineArn } = await ready;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  return {
    child,
    apiUrl,
    devToken,
    stepFunctionsEndpoint,
    stateMachineArn,
    logFile,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const code = await exited;
      log.end();
      return code;
    },
  };
}

/** Every process whose command line mentions `needle` (from /proc), this process aside. */
export function processesMentioning(needle: string): string[] {
  const found: string[] = [];
  const pids = readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
  for (const pid of pids) {
    if (pid === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmdline.includes(needle)) found.push(`${pid}: ${cmdline.trim()}`);
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/** `/proc/<pid>/stat`'s fields from field 3 (state) on: field n is at index n - 3. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** `pid` and every process descending from it, each with its start time (so a reused pid is told apart). */
export function processTree(pid: number): Array<{ pid: number; startTime: string }> {
  const parents = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const ppid = Number(statFields(Number(name))?.[1]);
    parents.set(ppid, [...(parents.get(ppid) ?? []), Number(name)]);
  }
  const tree: Array<{ pid: number; startTime: string }> = [];
  const pending = [pid];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const startTime = statFields(next)?.[19];
    if (startTime === undefined) continue;
    tree.push({ pid: next, startTime });
    pending.push(...(parents.get(next) ?? []));
  }
  return tree;
}

/** The processes of a `processTree` snapshot that are still running (not exited, not zombies). */
export function stillRunning(
  tree: ReadonlyArray<{ pid: number; startTime: string }>,
): Array<{ pid: number; startTime: string }> {
  return tree.filter(({ pid, startTime }) => {
    const fields = statFields(pid);
    return fields !== undefined && fields[0] !== 'Z' && fields[19] === startTime;
  });
}

/** The resident memory of `pid` and its descendants, in bytes (VmRSS from /proc). */
export function treeRssBytes(pid: number): number {
  let total = 0;
  for (const member of processTree(pid)) {
    try {
      const status = readFileSync(`/proc/${member.pid}/status`, 'utf8');
      total += Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0) * 1024;
    } catch {
      // It ended while we looked.
    }
  }
  return total;
}

/** The pid of the process listening on 127.0.0.1:`port` (from /proc/net/tcp and each process's fds). */
export function listenerPid(port: number): number | undefined {
  const wanted = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const inode = readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    // Columns: sl, local_address, rem_address, st (0A: LISTEN), ..., inode at index 9.
    .find((columns) => columns[1] === wanted && columns[3] === '0A')?.[9];
  if (inode === undefined) return undefined;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      for (const fd of readdirSync(`/proc/${name}/fd`)) {
        if (readlinkSync(`/proc/${name}/fd/${fd}`) === `socket:[${inode}]`) return Number(name);
      }
    } catch {
      // Ended, or not ours to read.
    }
  }
  return undefined;
}
