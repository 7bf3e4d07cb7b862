import { withTransaction } from '../db/pool.ts';
import {
  AUDIT_ACTIONS,
  type AuditAction,
  type AuditEntry,
  type AuditFilter,
  type AuditOrder,
  type AuditRow,
  appendAudit,
  type ChainInspection,
  listAudit,
  sealMessage,
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
import {
  type AuditCheckpoint,
  CheckpointFormatError,
  checkpointMessage,
} from './auditCheckpoints.ts';

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

/** Each finding of a verification is its own problem. */
export const AUDIT_PROBLEMS = [
  'edited',
  'recomputed',
  'truncated',
  'unsealed',
  'checkpoint-forged',
] as const;
export type AuditProblemKind = (typeof AUDIT_PROBLEMS)[number];

export interface AuditProblem {
  readonly problem: AuditProblemKind;
  /** The first seq the problem concerns, null when it concerns no one row. */
  readonly seq: number | null;
  readonly detail: string;
}

/** The latest checkpoint, or 'malformed' when what the store holds is not a checkpoint at all. */
async function latestCheckpoint(
  deps: PipelineDependencies,
): Promise<AuditCheckpoint | 'malformed' | undefined> {
  try {
    return await deps.auditCheckpoints.latest();
  } catch (error) {
    if (error instanceof CheckpointFormatError) return 'malformed';
    throw error;
  }
}

/** `from` of GET /api/v1/audit/verify: where the walk that recomputes row hashes starts. */
export const VERIFY_FROM = ['genesis', 'checkpoint'] as const;
export type VerifyFrom = (typeof VERIFY_FROM)[number];

/** Parses the query string of GET /api/v1/audit/verify; a bad parameter is named, its value never echoed. */
export function parseVerifyQuery(query: AuditQuery): VerifyFrom {
  const problems: ValidationProblem[] = [];
  refuseUnknownParameters(query, ['from'], problems);
  const from = VERIFY_FROM.find((known) => known === (query['from'] ?? 'genesis'));
  if (from === undefined) {
    problems.push({
      path: '/from',
      keyword: 'enum',
      message: `must be ${VERIFY_FROM.join(' or ')}`,
    });
  }
  if (problems.length > 0 || from === undefined) {
    throw new InputValidationError('the verification query is invalid', problems);
  }
  return from;
}

/** What the seals and the latest checkpoint say of the chain: one MAC verification here. */
async function findProblems(
  deps: PipelineDependencies,
  chain: ChainInspection,
  checkpoint: AuditCheckpoint | 'malformed' | undefined,
  trustedCheckpoint: AuditCheckpoint | undefined,
): Promise<AuditProblem[]> {
  const problems: AuditProblem[] = [];
  const at = (seq: string | null) => (seq === null ? null : Number(seq));
  const { firstBreak, newestSeal } = chain;
  if (firstBreak !== undefined) {
    problems.push(
      firstBreak.problem === 'head-mismatch' && chain.headBeyondRows
        ? {
            problem: 'truncated',
            seq: at(firstBreak.seq),
            detail: 'audit_chain_head names a row that is gone',
          }
        : {
            problem: 'edited',
            seq: at(firstBreak.seq),
            detail: `a row changed without its hash being recomputed (${firstBreak.problem})`,
          },
    );
  }
  if (chain.firstSealMismatch !== null) {
    problems.push({
      problem: 'recomputed',
      seq: at(chain.firstSealMismatch),
      detail: 'a sealed hash differs from the row hash at its seq',
    });
  }
  if (chain.firstSealBeyondRows !== null) {
    problems.push({
      problem: 'truncated',
      seq: at(chain.firstSealBeyondRows),
      detail: 'a seal names a row beyond the last one',
    });
  }
  if (
    newestSeal !== undefined &&
    !(await deps.auditMac.verifyMac(sealMessage(newestSeal.seq, newestSeal.hash), newestSeal.mac))
  ) {
    problems.push({
      problem: 'recomputed',
      seq: at(newestSeal.seq),
      detail: 'the newest seal does not verify under the audit MAC key',
    });
  }
  if (checkpoint !== undefined && trustedCheckpoint === undefined) {
    problems.push({
      problem: 'checkpoint-forged',
      seq: checkpoint === 'malformed' ? null : at(checkpoint.seq),
      detail: 'the latest checkpoint does not verify under the audit MAC key',
    });
  }
  if (chain.rowsAfterNewestSeal > 0 && (newestSeal !== undefined || trustedCheckpoint)) {
    problems.push({
      problem: 'unsealed',
      seq: Number(newestSeal?.seq ?? '0') + 1,
      detail: `${chain.rowsAfterNewestSeal} rows after the newest seal: written behind the application, or their seals deleted`,
    });
  }
  if (trustedCheckpoint !== undefined) {
    // A checkpoint is written over a sealed head only: a first seal past it means seals were
    // deleted, and the rows after them sealed again as if they had never had any.
    const { oldestSeal } = chain;
    if (oldestSeal === null || BigInt(oldestSeal) > BigInt(trustedCheckpoint.seq)) {
      problems.push({
        problem: 'unsealed',
        seq: at(trustedCheckpoint.seq),
        detail: 'the seals up to the latest checkpoint are gone',
      });
    }
    if (BigInt(trustedCheckpoint.seq) > BigInt(chain.lastSeq ?? '0')) {
      problems.push({
        problem: 'truncated',
        seq: at(trustedCheckpoint.seq),
        detail: 'the latest checkpoint names a row beyond the last one',
      });
    } else if (chain.hashAtSeq === null || !chain.hashAtSeq.equals(trustedCheckpoint.hash)) {
      problems.push({
        problem: 'recomputed',
        seq: at(trustedCheckpoint.seq),
        detail: 'the row hash at the latest checkpoint differs from the one it recorded',
      });
    }
  }
  return problems;
}

/**
 * Holds the chain to its seals and to the latest checkpoint, checking the newest seal and the
 * checkpoint against the audit MAC key (two MAC verifications), and recomputes row hashes in
 * SQL: every row (`from=genesis`, the default), or only those after a checkpoint that verifies
 * (`from=checkpoint`, cheap enough per request; an edit before it that left the stored hashes
 * alone is then not seen). The verification is audited too.
 */
export async function verifyAudit(
  deps: PipelineDependencies,
  actor: string,
  query: AuditQuery = {},
) {
  const from = parseVerifyQuery(query);
  const checkpoint = await latestCheckpoint(deps);
  const trustedCheckpoint =
    checkpoint !== undefined &&
    checkpoint !== 'malformed' &&
    (await deps.auditMac.verifyMac(
      checkpointMessage(checkpoint.seq, checkpoint.hash, checkpoint.at),
      checkpoint.mac,
    ))
      ? checkpoint
      : undefined;
  const walkedAfter = from === 'checkpoint' ? (trustedCheckpoint?.seq ?? '0') : '0';
  const chain = await verifyAuditChain(
    deps.pool,
    checkpoint === undefined || checkpoint === 'malformed' ? null : checkpoint.seq,
    walkedAfter,
  );
  const problems = await findProblems(deps, chain, checkpoint, trustedCheckpoint);
  await appendAudit(deps.pool, deps.auditMac, [
    auditLogRead(actor, {
      verification: problems.length === 0 ? 'intact' : 'broken',
      rows: chain.rows,
      ...(walkedAfter === '0' ? {} : { walkedAfter: Number(walkedAfter) }),
      ...(problems.length === 0 ? {} : { problems: problems.map((found) => found.problem) }),
    }),
  ]);
  return {
    valid: problems.length === 0,
    rowsChecked: chain.rows,
    walkedAfter: Number(walkedAfter),
    firstBreak:
      chain.firstBreak === undefined
        ? null
        : { seq: Number(chain.firstBreak.seq), problem: chain.firstBreak.problem },
    problems,
    sealedThrough: chain.newestSeal === undefined ? null : Number(chain.newestSeal.seq),
    // Rows written before seals existed, and no seal since: nothing to hold them to yet.
    unsealedLegacyRows: chain.newestSeal === undefined && problems.length === 0 ? chain.rows : 0,
    checkpoint:
      checkpoint === undefined || checkpoint === 'malformed'
        ? null
        : { seq: Number(checkpoint.seq), at: checkpoint.at.toISOString() },
    checkedAt: deps.now().toISOString(),
  };
}
