import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { withTransaction } from '../db/pool.ts';
import { type AuditEntry, appendAudit } from '../db/repositories/auditLog.ts';
import {
  type ConsentRow,
  lockConsents,
  recordConsentDecision,
  weighConsent,
} from '../db/repositories/consents.ts';
import { findPatientById } from '../db/repositories/patients.ts';
import { ConflictError, InputValidationError, NotFoundError } from '../errors.ts';
import { isUuid } from '../ids.ts';
import type { PipelineDependencies } from '../pipeline/dependencies.ts';

/** The body of PUT /api/v1/patients/{id}/consent. */
export const consentChangeSchema = {
  $id: 'https://healthcare-etl.example/schemas/consent-change.json',
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    data_sharing: { type: 'boolean' },
    research: { type: 'boolean' },
    /** Where the decision comes from, e.g. `patient-portal`, `paper-form`. */
    source: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' },
    /**
     * When the patient decided; defaults to now. A grant must be dated after a refusal on
     * record; any decision, after an explicit one on record (a flat feed's has no date).
     */
    recordedAt: { type: 'string', format: 'date-time' },
  },
  // At least one decision: a change of source or time alone is no consent decision.
  anyOf: [
    { properties: { data_sharing: { type: 'boolean' } }, required: ['data_sharing'] },
    { properties: { research: { type: 'boolean' } }, required: ['research'] },
  ],
} as const;

export interface ConsentChange {
  readonly data_sharing?: boolean;
  readonly research?: boolean;
  readonly source?: string;
  readonly recordedAt?: string;
}

export interface ConsentView {
  readonly patientId: string;
  readonly dataSharing: boolean;
  readonly research: boolean;
  readonly source: string;
  readonly recordedAt: string;
  readonly recordedBy: string;
}

const addFormats = addFormatsModule.default;
const ajv = new Ajv({ allErrors: true, strict: true });
addFormats(ajv, ['date-time']);
const validateChange = ajv.compile<ConsentChange>(consentChangeSchema);
/** How far ahead of this server's clock a client's recordedAt may be. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;
const KNOWN_PROPERTIES = new Set(Object.keys(consentChangeSchema.properties));

/** Schema problems by path and keyword; property names the schema does not know are not echoed. */
function problems(): InputValidationError {
  const found = (validateChange.errors ?? []).map((error) => {
    const path = error.instancePath
      .split('/')
      .map((segment) => (segment === '' || KNOWN_PROPERTIES.has(segment) ? segment : '*'))
      .join('/');
    return { path, keyword: error.keyword, message: `must satisfy ${error.keyword}` };
  });
  return new InputValidationError('the consent change is invalid', found);
}

function view(row: ConsentRow): ConsentView {
  return {
    patientId: row.patientId,
    dataSharing: row.dataSharing,
    research: row.research,
    source: row.source,
    recordedAt: row.recordedAt.toISOString(),
    recordedBy: row.recordedBy,
  };
}

/** The audit row of a change that was refused: the decision asked for, never a patient's data. */
function refusedChange(
  actor: string,
  patientId: string | null,
  outcome: 'denied' | 'failure',
  reason: string,
  details: Record<string, unknown>,
): AuditEntry {
  return {
    actor,
    action: outcome === 'denied' ? 'DENY' : 'UPDATE',
    resourceType: 'Consent',
    resourceId: patientId,
    runId: null,
    outcome,
    details: { reason, ...details },
  };
}

/**
 * Grants or revokes consent, an explicit decision dated `recordedAt`, as weighConsent says.
 * The change, its history row (trigger) and its audit row (actor, source) commit together; the
 * next read sees it. A grant dated no later than a refusal on record, or any decision older
 * than an explicit one on record, is a 409; it and a 404 are audited all the same.
 */
export async function changeConsent(
  deps: PipelineDependencies,
  actor: string,
  patientId: string,
  body: unknown,
): Promise<ConsentView> {
  if (!validateChange(body)) throw problems();
  const change = body;
  const source = change.source ?? 'api';
  const asked = { source, dataSharing: change.data_sharing, research: change.research };
  if (!isUuid(patientId)) {
    await appendAudit(deps.pool, deps.auditMac, [
      refusedChange(actor, null, 'failure', 'not-found', asked),
    ]);
    throw new NotFoundError('no such patient');
  }
  // One spelling of the id everywhere, so the audit trail of the patient finds this change.
  const id = patientId.toLowerCase();
  const now = deps.now();
  const asOf = change.recordedAt === undefined ? now : new Date(change.recordedAt);
  // RFC 3339 allows what Date cannot hold (a leap second); a future decision would block real ones.
  if (Number.isNaN(asOf.getTime()) || asOf.getTime() > now.getTime() + CLOCK_SKEW_MS) {
    throw new InputValidationError('the consent change is invalid', [
      { path: '/recordedAt', keyword: 'format', message: 'must be a date-time, not in the future' },
    ]);
  }
  // A client clock a little ahead is tolerated, but no decision is dated after it reached us:
  // a grant dated minutes ahead would outrank the refusals made meanwhile.
  const recordedAt = asOf.getTime() > now.getTime() ? now : asOf;
  const outcome = await withTransaction(deps.pool, async (client) => {
    const patient = await findPatientById(client, id);
    if (patient === undefined) {
      await appendAudit(client, deps.auditMac, [
        refusedChange(actor, id, 'failure', 'not-found', asked),
      ]);
      return { refused: new NotFoundError('no such patient') };
    }
    const current = (await lockConsents(client, [id])).get(id);
    const next: ConsentRow = {
      patientId: id,
      dataSharing: change.data_sharing ?? current?.dataSharing ?? false,
      research: change.research ?? current?.research ?? false,
      source,
      recordedAt,
      // A research-only change decides nothing about data sharing: a feed's undated grant it
      // carries over stays undated, so a refusal dated before this change still outranks it.
      explicit: change.data_sharing !== undefined || current === undefined || current.explicit,
      recordedBy: actor,
      runId: null,
    };
    const weight = weighConsent(current, next);
    if (weight !== 'applies') {
      const revoked = weight === 'revoked';
      await appendAudit(client, deps.auditMac, [
        refusedChange(actor, id, 'denied', revoked ? 'consent-revoked' : 'newer-decision', {
          ...asked,
          recordedAt: recordedAt.toISOString(),
        }),
      ]);
      return {
        refused: new ConflictError(
          revoked
            ? 'data sharing was refused: a grant must be dated after the refusal on record'
            : 'a more recent consent decision is on record',
        ),
      };
    }
    // Always recorded, even when the values stay as they were: the decision itself is a fact.
    await recordConsentDecision(client, next);
    await appendAudit(client, deps.auditMac, [
      {
        actor,
        action: current === undefined ? 'CREATE' : 'UPDATE',
        resourceType: 'Consent',
        resourceId: id,
        runId: null,
        outcome: 'success',
        details: {
          dataSharing: next.dataSharing,
          research: next.research,
          source: next.source,
          recordedAt: recordedAt.toISOString(),
        },
      },
    ]);
    return { changed: view(next) };
  });
  // The refusal's audit row commits with the transaction; the error is thrown after it.
  if ('refused' in outcome) throw outcome.refused;
  return outcome.changed;
}
