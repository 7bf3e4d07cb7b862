import type { SchemaProblem } from '../validation.ts';

function compareProblems(a: SchemaProblem, b: SchemaProblem): number {
  if (a.path !== b.path) return a.path < b.path ? -1 : 1;
  if (a.keyword !== b.keyword) return a.keyword < b.keyword ? -1 : 1;
  if (a.message !== b.message) return a.message < b.message ? -1 : 1;
  return 0;
}

/** Each problem once, by path, keyword and message: the order the flat validator reports in. */
export function sortedProblems(problems: Iterable<SchemaProblem>): SchemaProblem[] {
  const unique = new Map<string, SchemaProblem>();
  for (const problem of problems) {
    unique.set(JSON.stringify([problem.path, problem.keyword, problem.message]), problem);
  }
  return [...unique.values()].sort(compareProblems);
}
