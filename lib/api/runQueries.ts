import type { Queryable } from '../db/pool.ts';
import {
  findIngestRun,
  listIngestRuns,
  RUN_SOURCES,
  RUN_STATUSES,
  type RunFilter,
  type RunPosition,
  type RunSource,
  type RunStatus,
} from '../db/repositories/ingestRuns.ts';
import { countRejectionsByReason } from '../db/repositories/rejections.ts';
import { InputValidationError, type ValidationProblem } from '../errors.ts';
import {
  instantParameter,
  limitParameter,
  type QueryParameters,
  refuseUnknownParameters,
} from '../http/queryParameters.ts';
import { isUuid } from '../ids.ts';
import { type RunView, runView } from './runViews.ts';

export const RUN_PAGE_DEFAULT = 50;
export const RUN_PAGE_MAX = 500;

const RUN_PARAMETERS = ['status', 'source', 'from', 'to', 'limit', 'cursor'];
/** A cursor's text before base64url: creation microseconds, a dot, the run id. */
const POSITION = /^(\d{1,17})\.(.+)$/;

/** The opaque cursor of the page after `position`. */
export function encodeRunCursor(position: RunPosition): string {
  return Buffer.from(`${position.createdAtMicros}.${position.id}`).toString('base64url');
}

/** The position a cursor of encodeRunCursor names, or undefined when it is not one. */
export function decodeRunCursor(cursor: string): RunPosition | undefined {
  if (cursor.length > 96) return undefined;
  const match = POSITION.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  const [, createdAtMicros, id] = match ?? [];
  if (createdAtMicros === undefined || !isUuid(id)) return undefined;
  const position = { createdAtMicros, id: id.toLowerCase() };
  // Only the cursor this module wrote: any other spelling of it is not one.
  return encodeRunCursor(position) === cursor ? position : undefined;
}

/** Parses the query string of GET /api/v1/runs; a bad parameter is named, its value never echoed. */
export function parseRunQuery(query: QueryParameters): { filter: RunFilter; limit: number } {
  const problems: ValidationProblem[] = [];
  refuseUnknownParameters(query, RUN_PARAMETERS, problems);
  const statuses = query['status']?.split(',');
  if (
    statuses !== undefined &&
    !statuses.every((status) => (RUN_STATUSES as readonly string[]).includes(status))
  ) {
    problems.push({
      path: '/status',
      keyword: 'enum',
      message: `must be among ${RUN_STATUSES.join(', ')}, comma-separated`,
    });
  }
  const source = query['source'];
  if (source !== undefined && !(RUN_SOURCES as readonly string[]).includes(source)) {
    problems.push({
      path: '/source',
      keyword: 'enum',
      message: `must be one of ${RUN_SOURCES.join(', ')}`,
    });
  }
  const cursor = query['cursor'];
  const after = cursor === undefined ? undefined : decodeRunCursor(cursor);
  if (cursor !== undefined && after === undefined) {
    problems.push({
      path: '/cursor',
      keyword: 'format',
      message: 'must be a cursor from a previous page',
    });
  }
  const limit = limitParameter(
    query['limit'],
    { fallback: RUN_PAGE_DEFAULT, max: RUN_PAGE_MAX },
    problems,
  );
  const from = instantParameter(query['from'], 'from', problems);
  const to = instantParameter(query['to'], 'to', problems);
  if (problems.length > 0) throw new InputValidationError('the runs query is invalid', problems);
  return {
    filter: {
      ...(statuses === undefined ? {} : { statuses: [...new Set(statuses as RunStatus[])] }),
      ...(source === undefined ? {} : { source: source as RunSource }),
      ...(from === undefined ? {} : { from }),
      ...(to === undefined ? {} : { to }),
      ...(after === undefined ? {} : { after }),
    },
    limit,
  };
}

/** A page of runs newest first, each with its rejections counted by reason (one query for the page). */
export async function queryRuns(
  db: Queryable,
  query: QueryParameters,
): Promise<{ data: RunView[]; nextCursor: string | null }> {
  const { filter, limit } = parseRunQuery(query);
  const rows = await listIngestRuns(db, filter, limit + 1);
  const page = rows.slice(0, limit);
  const tallies = await countRejectionsByReason(
    db,
    page.map(({ run }) => run.id),
  );
  const last = page.at(-1);
  return {
    data: page.map(({ run }) => runView(run, tallies.get(run.id) ?? {})),
    nextCursor: rows.length > limit && last !== undefined ? encodeRunCursor(last.position) : null,
  };
}

/** One run as GET /api/v1/runs/{runId} shows it, or undefined when there is none. */
export async function readRun(db: Queryable, runId: string): Promise<RunView | undefined> {
  const run = await findIngestRun(db, runId);
  if (run === undefined) return undefined;
  const tallies = await countRejectionsByReason(db, [run.id]);
  return runView(run, tallies.get(run.id) ?? {});
}
