/** A rejection's details as the table shows them: schema paths and keywords (the API keeps values out). */

interface SchemaProblem {
  readonly path: string;
  readonly keyword: string;
  readonly message: string;
}

function isSchemaProblem(value: unknown): value is SchemaProblem {
  if (typeof value !== 'object' || value === null) return false;
  const { path, keyword } = value as Record<string, unknown>;
  return typeof path === 'string' && typeof keyword === 'string';
}

/** One line a problem: `/birthDate: pattern (must match …)`, other details as `name: value`. */
export function rejectionDetailLines(details: Readonly<Record<string, unknown>>): string[] {
  return Object.entries(details).flatMap(([name, value]) => {
    if (Array.isArray(value) && value.every(isSchemaProblem)) {
      return value.map(
        (problem) =>
          `${problem.path === '' ? '/' : problem.path}: ${problem.keyword} (${problem.message})`,
      );
    }
    return [`${name}: ${typeof value === 'string' ? value : JSON.stringify(value)}`];
  });
}
