/**
 * `node bench/profileSummary.ts FILE.cpuprofile [--top N]`: the functions a V8 CPU profile
 * (`node --cpu-prof`) spent most time in, by self time (idle, program and garbage collection
 * each a line of their own), then the repository's lib/ functions by inclusive time (their
 * callees' time counted in). A directory instead of a file summarises its newest profile.
 *
 * `npm run bench:profile -- [bench options]` runs the benchmark under `--cpu-prof` into
 * .data/profiles, then prints this summary of the profile it wrote.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** The parts of the `.cpuprofile` format (Chrome DevTools' Profile) read here. */
export interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: {
      readonly functionName: string;
      readonly url: string;
      /** Zero-based. */
      readonly lineNumber: number;
    };
    readonly children?: readonly number[];
  }[];
  /** The node on top of the stack at each sample. */
  readonly samples: readonly number[];
  /** Microseconds from the sample before (from the profile's start for the first). */
  readonly timeDeltas: readonly number[];
}

export interface FunctionTime {
  /** The function's name, `(anonymous)` when it has none, then where it is, when it is code. */
  readonly name: string;
  readonly ms: number;
  /** Of the profile's sampled time. */
  readonly share: number;
}

export interface ProfileSummary {
  readonly totalMs: number;
  readonly self: readonly FunctionTime[];
  /** lib/ functions, each counted once per sample however deep it recurses. */
  readonly inclusiveLib: readonly FunctionTime[];
}

const REPOSITORY = resolve(fileURLToPath(new URL('..', import.meta.url)));

/** `file:///…/lib/x.ts` relative to `root`; node: and other URLs as they are. */
function location(url: string, root: string): string {
  return url.startsWith('file://') ? relative(root, fileURLToPath(url)) : url;
}

function ranked(times: ReadonlyMap<string, number>, totalMs: number, top: number): FunctionTime[] {
  return [...times]
    .sort(([, a], [, b]) => b - a)
    .slice(0, top)
    .map(([name, ms]) => ({ name, ms, share: totalMs === 0 ? 0 : ms / totalMs }));
}

export function summariseProfile(
  profile: CpuProfile,
  top = 10,
  root: string = REPOSITORY,
): ProfileSummary {
  const names = new Map<number, { name: string; inLib: boolean }>();
  const parents = new Map<number, number>();
  for (const node of profile.nodes) {
    const { functionName, url, lineNumber } = node.callFrame;
    const where = location(url, root);
    const name = functionName === '' ? '(anonymous)' : functionName;
    names.set(node.id, {
      name: where === '' ? name : `${name} ${where}:${lineNumber + 1}`,
      inLib: where.startsWith('lib/'),
    });
    for (const child of node.children ?? []) parents.set(child, node.id);
  }
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let totalMs = 0;
  profile.samples.forEach((id, index) => {
    // A sample lasts until the next one, as DevTools counts it.
    const ms = (profile.timeDeltas[index + 1] ?? 0) / 1000;
    totalMs += ms;
    const top = names.get(id)?.name ?? '(unknown)';
    self.set(top, (self.get(top) ?? 0) + ms);
    const counted = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parents.get(at)) {
      const frame = names.get(at);
      if (frame?.inLib !== true || counted.has(frame.name)) continue;
      counted.add(frame.name);
      inclusive.set(frame.name, (inclusive.get(frame.name) ?? 0) + ms);
    }
  });
  return {
    totalMs,
    self: ranked(self, totalMs, top),
    inclusiveLib: ranked(inclusive, totalMs, top),
  };
}

/** `path` itself, or the newest `.cpuprofile` in it when it is a directory. */
function profilePath(path: string): string {
  if (!statSync(path).isDirectory()) return path;
  const newest = readdirSync(path)
    .filter((name) => name.endsWith('.cpuprofile'))
    .map((name) => join(path, name))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  if (newest === undefined) throw new Error(`no .cpuprofile in ${path}`);
  return newest;
}

function printTimes(title: string, times: readonly FunctionTime[]): void {
  console.log(`\n${title}\n        ms   share  function`);
  for (const { name, ms, share } of times) {
    console.log(
      `${Math.round(ms).toLocaleString('en-US').padStart(10)}  ${(100 * share).toFixed(1).padStart(5)}%  ${name}`,
    );
  }
}

function main(): void {
  const { values, positionals } = parseArgs({
    options: { top: { type: 'string' } },
    allowPositionals: true,
  });
  const top = Number(values.top ?? 10);
  const [path, ...more] = positionals;
  if (path === undefined || more.length > 0 || !Number.isSafeInteger(top) || top < 1) {
    throw new Error('usage: node bench/profileSummary.ts FILE.cpuprofile|DIRECTORY [--top N]');
  }
  const file = profilePath(path);
  const summary = summariseProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, top);
  console.log(`${file}: ${(summary.totalMs / 1000).toFixed(2)} s sampled`);
  printTimes(`top ${top} by self time`, summary.self);
  printTimes(`top ${top} lib/ functions by inclusive time`, summary.inclusiveLib);
}

if (import.meta.main) main();
