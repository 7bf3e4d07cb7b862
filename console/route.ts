/** The view a URL fragment names: `#/runs`, `#/runs/<id>`, `#/throughput`, `#/audit`. */
import { isUuid } from '../lib/ids.ts';

export type Route =
  | { readonly view: 'runs' }
  | { readonly view: 'run'; readonly runId: string }
  | { readonly view: 'no-such-run' }
  | { readonly view: 'throughput' }
  | { readonly view: 'audit' };

/** A run id that is no UUID, or no valid percent-encoding, names no run: nothing is fetched. */
function runIdOf(segment: string): string | undefined {
  try {
    const id = decodeURIComponent(segment);
    return isUuid(id) ? id.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

export function routeOf(hash: string): Route {
  const [, section, id] = hash.split('/');
  if (section === 'runs' && id !== undefined && id !== '') {
    const runId = runIdOf(id);
    return runId === undefined ? { view: 'no-such-run' } : { view: 'run', runId };
  }
  if (section === 'throughput') return { view: 'throughput' };
  if (section === 'audit') return { view: 'audit' };
  return { view: 'runs' };
}
