import type { TestDatabase } from './database.ts';

/** Fisher-Yates driven by mulberry32: the same seed, the same order, on every run of the suite. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  const result = [...items];
  for (let i = result.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [result[i], result[j]] = [result[j]!, result[i]!];
  }
  return result;
}

/** The integer `n` a counting query returns (`SELECT count(*)::int AS n …`). */
export async function count(
  database: TestDatabase,
  sql: string,
  values: unknown[] = [],
): Promise<number> {
  const { rows } = await database.pool.query<{ n: number }>(sql, values);
  return rows[0]!.n;
}
