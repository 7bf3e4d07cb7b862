import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A running `npm start` (local/start.ts), as a person would run it. */
export interface RunningStack {
  readonly child: ChildProcess;
  readonly apiUrl: string;
  readonly devToken: string;
  readonly stepFunctionsEndpoint: string;
  readonly stateMachineArn: string;
  readonly logFile: string;
  stop(): Promise<number | null>;
}

/** Starts local/start.ts with `env` and waits for its banner (the dev token is its last line). */
export async function startStack(options: {
  readonly dataDir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
}): Promise<RunningStack> {
  const logFile = join(options.dataDir, 'stack.log');
  const log = createWriteStream(logFile);
  const child = spawn(process.execPath, ['local/start.ts'], {
    env: { ...process.env, ...options.env, DATA_DIR: options.dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
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
      const token = /^\s+Dev token\s+(\S+)$/m.exec(output);
      const sfn = /^\s+Step Functions\s+(\S+)\s+\((\S+)\)$/m.exec(output);
      if (
        api?.[1] !== undefined &&
        token?.[1] !== undefined &&
        sfn?.[1] !== undefined &&
        sfn[2] !== undefined
      ) {
        clearTimeout(timer);
        resolve({
          apiUrl: api[1],
          devToken: token[1],
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
