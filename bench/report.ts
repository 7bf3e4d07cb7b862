/** How the pipeline benchmarks print their figures and describe the machine they ran on. */
import { availableParallelism, cpus, totalmem } from 'node:os';
import type { BenchServer } from './database.ts';
import type { CpuFigures } from './processCpu.ts';

export const integer = (value: number): string => Math.round(value).toLocaleString('en-US');
export const fixed = (value: number, digits = 2): string => value.toFixed(digits);
export const mib = (bytes: number): string => `${fixed(bytes / 1_048_576, 1)} MiB`;

export function machine(server: BenchServer) {
  return {
    cores: availableParallelism(),
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    memory: mib(totalmem()),
    node: process.version,
    postgres: server.version,
    database: server.where,
  };
}

export function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

export const NOT_MEASURED = 'not measured (server elsewhere)';

/** CPU seconds spent in this process and the server, against the machine's cores for `ms`. */
export function cpuSpent(cpu: CpuFigures, ms: number): string {
  const postgres = cpu.postgres === null ? NOT_MEASURED : `${fixed(cpu.postgres / 1000)} s`;
  return `${fixed(cpu.node / 1000)} s / ${postgres} (of ${fixed((availableParallelism() * ms) / 1000)} core-s)`;
}

/** Both together, which only means something when the server's was measured. */
export function cpuTotal(cpu: CpuFigures): string {
  return cpu.postgres === null ? NOT_MEASURED : fixed((cpu.node + cpu.postgres) / 1000);
}

/** Label-value rows, the labels padded to one width. */
export function printRows(rows: readonly (readonly [string, string])[]): void {
  const width = Math.max(...rows.map(([label]) => label.length));
  for (const [label, value] of rows) console.log(`${label.padEnd(width)}  ${value}`);
}
