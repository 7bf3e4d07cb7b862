import { withTransaction } from '../db/pool.ts';
import {
  AUDIT_ACTIONS,
  type AuditAction,
  type AuditEntry,
  type AuditFilter,
  type AuditOrder,
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
const ORDERS: readonly AuditOrder[] = ['asc', 'desc'];
/** A cursor names its page's order and the seq it stopped at: `desc.42`. */
const CURSOR = /^(asc|desc)\.([1-9]\d{0,18})$/;
const MAX_BIGINT = 9_223_372_036_854_775_807n;

export type AuditQuery = QueryParameters;

const AUDIT_PARAMETERS = ['patient', 'actor', 'action', 'from', 'to', 'order', 'limit', 'cursor'];

/** The cursor of the page after the entry `seq`, read in `order`. */
function encodeAuditCursor(order: AuditOrder, seq: string): string {
  return `${order}.${seq}`;
}

/** The seq a cursor stopped at; what is no cursor, or a cursor of the other order, is a problem. */
function cursorParameter(
  cursor: string | undefined,
  order: AuditOrder | undefined,
  problems: ValidationProblem[],
): string | undefined {
  if (cursor === undefined) return undefined;
  const [, direction, seq] = CURSOR.exec(cursor) ?? [];
  if (direction === undefined || seq === undefined || BigInt(seq) > MAX_BIGINT) {
    problems.push({
      path: '/cursor',
      keyword: 'format',
      message: 'must be a cursor from a previous page',
    });
    return undefined;
  }
  if (order !== undefined && direction !== order) {
    problems.push({
      path: '/cursor',
      keyword: 'const',
      message: 'must be a cursor from a previous page in the same order',
    });
    return undefined;
  }
  return seq;
}

/** Parses the query string of GET /api/v1/audit; a bad parameter is named, its value never echoed. */
export function parseAuditQuery(query: AuditQuery): {
  filter: AuditFilter;
  order: AuditOrder;
  limit: number;
} {
  const problems: ValidationProblem[] = [];
  refuseUnknownParameters(query, AUDIT_PARAMETERS, problems);
  const { patient, actor, action } = query;
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
  const order = ORDERS.find((known) => known === (query['order'] ?? 'asc'));
  if (order === undefined) {
    problems.push({ path: '/order', keyword: 'enum', message: `must be ${ORDERS.join(' or ')}` });
  }
  const pastSeq = cursorParameter(query['cursor'], order, problems);
  const limit = limitParameter(
    query['limit'],
    { fallback: AUDIT_PAGE_DEFAULT, max: AUDIT_PAGE_MAX },
    problems,
  );
  const from = instantParameter(query['from'], 'from', problems);
  const to = instantParameter(query['to'], 'to', problems);
  if (problems.length > 0 || order === undefined) {
    throw new InputValidationError('the audit query is invalid', problems);
  }
  return {
    filter: {
      ...(patient === undefined ? {} : { patientId: patient.toLowerCase() }),
      ...(actor === undefined ? {} : { actor }),
      ...(actions === undefined ? {} : { actions: actions as AuditAction[] }),
      ...(from === undefined ? {} : { from }),
      ...(to === undefined ? {} : { to }),
      ...(pastSeq === undefined ? {} : { pastSeq }),
    },
    order,
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
  const { filter, order, limit } = parseAuditQuery(query);
  return withTransaction(deps.pool, async (client) => {
    const rows = await listAudit(client, filter, order, limit + 1);
    const page = rows.slice(0, limit);
    const last = rows.length > limit ? page.at(-1)?.seq : undefined;
    await appendAudit(client, deps.auditMac, [
      auditLogRead(actor, { returned: page.length, filtered: Object.keys(filter) }),
    ]);
    return {
      data: page.map(auditEntryView),
      nextCursor: last === undefined ? null : encodeAuditCursor(order, last),
    };
  });
}

/** Walks the whole chain; the verification is audited too. */
export async function verifyAudit(deps: PipelineDependencies, actor: string) {
  const result = await verifyAuditChain(deps.pool);
  await appendAudit(deps.pool, deps.auditMac, [
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
