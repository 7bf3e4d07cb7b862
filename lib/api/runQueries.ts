import { hasScope } from '../auth/scopes.ts';
import type { Principal } from '../auth/tokens.ts';
import type { Queryable } from '../db/pool.ts';
import {
  findOwnedRun,
  type IngestRun,
  listIngestRuns,
  RUN_SOURCES,
  RUN_STATUSES,
  type RunFilter,
  type RunOwner,
  type RunPosition,
  type RunSource,
  type RunStatus,
} from '../db/repositories/ingestRuns.ts';
import { countRejectionsByReason, listRejections } from '../db/repositories/rejections.ts';
import { InputValidationError, RunNotFoundError, type ValidationProblem } from '../errors.ts';
import {
  instantParameter,
  limitParameter,
  type QueryParameters,
  refuseUnknownParameters,
} from '../http/queryParameters.ts';
import { isUuid } from '../ids.ts';
import { SCOPES } from './routes.ts';
import { type RejectionView, type RunView, rejectionView, runView } from './runViews.ts';

/** Who reads runs: the token's subject is the tenant, its scopes may make it the operator. */
export type RunViewer = Pick<Principal, 'subject' | 'scopes'>;

/**
 * A run belongs to the subject that submitted it; only a token holding the operator scope
 * (SCOPES.operateRuns) sees every tenant's runs.
 */
export function runOwnerOf(viewer: RunViewer): RunOwner {
  return hasScope(viewer.scopes, SCOPES.operateRuns)
    ? 'every-tenant'
    : { submitter: viewer.subject };
}

/**
 * The run the path's `runId` names, when the viewer may see it. An unknown run, a malformed id
 * and another tenant's run are one and the same 404, word for word, so the answer tells nothing
 * of other tenants.
 */
export async function visibleRun(
  db: Queryable,
  runId: string | undefined,
  viewer: RunViewer,
): Promise<IngestRun> {
  const run = isUuid(runId) ? await findOwnedRun(db, runId, runOwnerOf(viewer)) : undefined;
  // The id stays out of the answer: a response to another tenant never holds its run ids.
  if (run === undefined) throw new RunNotFoundError('requested');
  return run;
}

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
  viewer: RunViewer,
): Promise<{ data: RunView[]; nextCursor: string | null }> {
  const { filter, limit } = parseRunQuery(query);
  const owner = runOwnerOf(viewer);
  const rows = await listIngestRuns(
    db,
    owner === 'every-tenant' ? filter : { ...filter, submitter: owner.submitter },
    limit + 1,
  );
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

/** One run as GET /api/v1/runs/{runId} shows it; 404 unless the viewer may see it. */
export async function readRun(
  db: Queryable,
  runId: string | undefined,
  viewer: RunViewer,
): Promise<RunView> {
  const run = await visibleRun(db, runId, viewer);
  const tallies = await countRejectionsByReason(db, [run.id]);
  return runView(run, tallies.get(run.id) ?? {});
}

/** The records a run rejected, as GET /api/v1/runs/{runId}/rejections lists them; 404 as readRun. */
export async function readRunRejections(
  db: Queryable,
  runId: string | undefined,
  viewer: RunViewer,
): Promise<{ runId: string; data: RejectionView[] }> {
  const run = await visibleRun(db, runId, viewer);
  const rejections = await listRejections(db, run.id);
  return { runId: run.id, data: rejections.map(rejectionView) };
}
