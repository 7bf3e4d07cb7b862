import { withTransaction } from '../db/pool.ts';
import {
  AUDIT_ACTIONS,
  type AuditAction,
  type AuditEntry,
  type AuditFilter,
  type AuditRow,
  appendAudit,
  listAudit,
  verifyAuditChain,
} from '../db/repositories/auditLog.ts';
import { InputValidationError, type ValidationProblem } from '../errors.ts';
import {
  instantParameter,
  limitParameter,
  type QueryParameters,
  refuseUnknownParameters,
} from '../http/queryParameters.ts';
import { isUuid } from '../ids.ts';
import type { PipelineDependencies } from '../pipeline/dependencies.ts';

export const AUDIT_PAGE_DEFAULT = 100;
export const AUDIT_PAGE_MAX = 1000;

const ACTOR = /^[\x21-\x7e]{1,256}$/;
const CURSOR = /^[1-9]\d{0,18}$/;
const MAX_BIGINT = 9_223_372_036_854_775_807n;

export type AuditQuery = QueryParameters;

const AUDIT_PARAMETERS = ['patient', 'actor', 'action', 'from', 'to', 'limit', 'cursor'];

/** Parses the query string of GET /api/v1/audit; a bad parameter is named, its value never echoed. */
export function parseAuditQuery(query: AuditQuery): { filter: AuditFilter; limit: number } {
  const problems: ValidationProblem[] = [];
  refuseUnknownParameters(query, AUDIT_PARAMETERS, problems);
  const { patient, actor, action, cursor } = query;
  if (patient !== undefined && !isUuid(patient)) {
    problems.push({ path: '/patient', keyword: 'format', message: 'must be a patient id (UUID)' });
  }
  if (actor !== undefined && !ACTOR.test(actor)) {
    problems.push({
      path: '/actor',
      keyword: 'pattern',
      message: 'must be 1 to 256 visible characters',
    });
  }
  const actions = action?.split(',');
  if (
    actions !== undefined &&
    !actions.every((a) => (AUDIT_ACTIONS as readonly string[]).includes(a))
  ) {
    problems.push({
      path: '/action',
      keyword: 'enum',
      message: `must be among ${AUDIT_ACTIONS.join(', ')}`,
    });
  }
  if (cursor !== undefined && (!CURSOR.test(cursor) || BigInt(cursor) > MAX_BIGINT)) {
    problems.push({
      path: '/cursor',
      keyword: 'format',
      message: 'must be a cursor from a previous page',
    });
  }
  const limit = limitParameter(
    query['limit'],
    { fallback: AUDIT_PAGE_DEFAULT, max: AUDIT_PAGE_MAX },
    problems,
  );
  const from = instantParameter(query['from'], 'from', problems);
  const to = instantParameter(query['to'], 'to', problems);
  if (problems.length > 0) throw new InputValidationError('the audit query is invalid', problems);
  return {
    filter: {
      ...(patient === undefined ? {} : { patientId: patient.toLowerCase() }),
      ...(actor === undefined ? {} : { actor }),
      ...(actions === undefined ? {} : { actions: actions as AuditAction[] }),
      ...(from === undefined ? {} : { from }),
      ...(to === undefined ? {} : { to }),
      ...(cursor === undefined ? {} : { afterSeq: cursor }),
    },
    limit,
  };
}

export function auditEntryView(row: AuditRow) {
  return {
    seq: Number(row.seq),
    id: row.id,
    at: row.at.toISOString(),
    actor: row.actor,
    action: row.action,
    resourceType: row.resourceType,
    resourceId: row.resourceId,
    runId: row.runId,
    outcome: row.outcome,
    details: row.details,
    prevHash: row.prevHash.toString('hex'),
    hash: row.hash.toString('hex'),
  };
}

/** The audit row that records a read of the audit log itself. */
function auditLogRead(actor: string, details: Record<string, unknown>): AuditEntry {
  return {
    actor,
    action: 'READ',
    resourceType: 'AuditEvent',
    resourceId: null,
    runId: null,
    outcome: 'success',
    details,
  };
}

/** A page of the audit log; reading the audit log is itself audited, in the same transaction. */
export async function queryAudit(deps: PipelineDependencies, actor: string, query: AuditQuery) {
  const { filter, limit } = parseAuditQuery(query);
  return withTransaction(deps.pool, async (client) => {
    const rows = await listAudit(client, filter, limit + 1);
    const page = rows.slice(0, limit);
    const next = rows.length > limit ? page.at(-1)?.seq : undefined;
    await appendAudit(client, [
      auditLogRead(actor, { returned: page.length, filtered: Object.keys(filter) }),
    ]);
    return { data: page.map(auditEntryView), nextCursor: next ?? null };
  });
}

/** Walks the whole chain; the verification is audited too. */
export async function verifyAudit(deps: PipelineDependencies, actor: string) {
  const result = await verifyAuditChain(deps.pool);
  await appendAudit(deps.pool, [
    auditLogRead(actor, {
      verification: result.firstBreak === undefined ? 'intact' : 'broken',
      rows: result.rows,
    }),
  ]);
  return {
    valid: result.firstBreak === undefined,
    rowsChecked: result.rows,
    firstBreak:
      result.firstBreak === undefined
        ? null
        : { seq: Number(result.firstBreak.seq), problem: result.firstBreak.problem },
    checkedAt: deps.now().toISOString(),
  };
}
