import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LaunchedProcesses } from '../../../local/launchedProcesses.ts';
import { thrownBy } from '../../helpers/thrown.ts';

/** A process as the launcher records it: pid, start time and command line from /proc. */
function identityOf(pid: number): { pid: number; startTime: string; cmdline: string } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  return { pid, startTime, cmdline };
}

describe('LaunchedProcesses.reclaim: one launcher per data directory', () => {
  let dataDir: string;

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'etl-launched-'));
  });

  afterEach(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('refuses while the lock names a launcher that runs, though it has recorded nothing yet', async () => {
    // Prepare: another launcher took the lock and has not written its ledger yet.
    const other = identityOf(process.pid);
    writeFileSync(join(dataDir, 'launcher.lock'), JSON.stringify(other));

    // Act
    const error = await thrownBy(() => LaunchedProcesses.reclaim(dataDir));

    // Assess
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe(
      `another npm start (pid ${other.pid}) is running on DATA_DIR ${dataDir}`,
    );
    expect(existsSync(join(dataDir, 'launcher.json'))).toBe(false);
  });

  it('refuses while the lock is being written by another launcher', async () => {
    // Prepare
    writeFileSync(join(dataDir, 'launcher.lock'), '');

    // Act
    const error = await thrownBy(() => LaunchedProcesses.reclaim(dataDir));

    // Assess
    expect((error as Error).message).toMatch(/^another npm start is starting on DATA_DIR /);
  });

  it('takes over the lock of a launcher that is gone, and gives it up on a clean stop', async () => {
    // Prepare: the lock of a process that has exited.
    const gone = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid;
    writeFileSync(
      join(dataDir, 'launcher.lock'),
      JSON.stringify({ pid: gone, startTime: '1', cmdline: 'node local/start.ts' }),
    );

    // Act
    const launched = await LaunchedProcesses.reclaim(dataDir);
    const held = JSON.parse(readFileSync(join(dataDir, 'launcher.lock'), 'utf8')) as {
      pid: number;
    };
    launched.clear();

    // Assess
    expect(held.pid).toBe(process.pid);
    expect(existsSync(join(dataDir, 'launcher.lock'))).toBe(false);
    expect(existsSync(join(dataDir, 'launcher.json'))).toBe(false);
  });
});
