/**
 * The ingest-queue consumer: one run per message, through the same intake as
 * `POST /api/v1/ingest` (`submitBatch`: the same limits, envelope checks, idempotency and
 * workflow start).
 *
 * The message:
 * - body: the batch exactly as the API would take it: the flat envelope, a FHIR Bundle or NDJSON.
 * - `contentType`, a String attribute, optional: its media type, as the Content-Type header
 *   would name it (`application/json`, the default; `application/fhir+json`;
 *   `application/fhir+ndjson`; a charset other than UTF-8 is refused).
 * - `idempotencyKey`, a String attribute, optional: the API's Idempotency-Key (1 to 255 visible
 *   ASCII characters, remembered 24 h). Without one the key is `sqs:<messageId>`: SQS delivers at
 *   least once, and a second delivery of a message then finds the first delivery's run instead
 *   of starting another. A producer that may send the same batch twice sets its own key.
 * - No sender: every run is recorded under the queue's principal (INGEST_QUEUE_ACTOR, by default
 *   `system:ingest-queue`), since the queue's IAM policy decides who may send and an attribute
 *   would be an unchecked claim. Other attributes are ignored.
 * - Size: at most the queue's MaximumMessageSize (256 KiB unless raised, 1 MiB at most); larger
 *   batches go through the API (6 MB) or `npm run ingest`.
 *
 * A message that may pass on a retry (database, key service or workflow service unavailable) is
 * reported in `batchItemFailures`: SQS delivers it again, and after maxReceiveCount receives the
 * redrive policy moves it to the dead-letter queue. One that no retry can mend (an invalid
 * envelope, too many records, an unsupported media type, a reused idempotency key, any error
 * not marked retryable) goes to the dead-letter queue at once, with its failure code, and is
 * acknowledged, so the queue holds it with the reason and nothing retries it in vain; should
 * that send fail, it is reported for a retry instead. Logs carry message ids, run ids and codes:
 * never a body.
 */
import type { SQSBatchItemFailure, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { toAppError } from '../db/errors.ts';
import { type AppError, InputValidationError } from '../errors.ts';
import { checkDecodedText, checkMediaType } from '../http/body.ts';
import { JSON_MEDIA_TYPE } from '../mediaTypes.ts';
import { INGEST_MEDIA_TYPES } from '../pipeline/envelopes.ts';
import { type BatchRequest, type IntakeDependencies, submitBatch } from '../pipeline/intake.ts';

/** The message attributes the consumer reads, and the dead-letter queue's copy carries. */
export const CONTENT_TYPE_ATTRIBUTE = 'contentType';
export const IDEMPOTENCY_KEY_ATTRIBUTE = 'idempotencyKey';

/** A message that can never succeed, on its way to the dead-letter queue. */
export interface DeadLetter {
  readonly messageId: string;
  /** The body as received: the dead-letter queue must be encrypted like ingest-queue. */
  readonly body: string;
  /** The message's own `contentType` attribute, when it had one. */
  readonly contentType: string | undefined;
  /** The key it was ingested under: moved back to ingest-queue, it still starts at most one run. */
  readonly idempotencyKey: string;
  /** Why: the error code (`validation-failed`, `payload-too-large`, ...). */
  readonly failureCode: string;
}

/** Where a message that can never succeed is put at once, instead of being delivered again. */
export interface DeadLetterQueue {
  quarantine(letter: DeadLetter): Promise<void>;
}

export interface IngestQueueDependencies {
  readonly intake: IntakeDependencies;
  readonly deadLetters: DeadLetterQueue;
  /** The principal every queued batch is recorded (and keyed for idempotency) under. */
  readonly actor: string;
}

function isStringAttribute(dataType: string): boolean {
  return dataType === 'String' || dataType.startsWith('String.');
}

/** A String attribute's value; an attribute of another type is refused, as a malformed header would be. */
function stringAttribute(record: SQSRecord, name: string): string | undefined {
  const attribute = record.messageAttributes?.[name];
  if (attribute === undefined) return undefined;
  if (!isStringAttribute(attribute.dataType) || attribute.stringValue === undefined) {
    throw new InputValidationError(`the ${name} message attribute must be a String`, [
      {
        path: `/messageAttributes/${name}`,
        keyword: 'type',
        message: 'must be a String attribute',
      },
    ]);
  }
  return attribute.stringValue;
}

function derivedIdempotencyKey(messageId: string): string {
  return `sqs:${messageId}`;
}

/** The ingest request a message makes; throws the 400 or 415 error that refuses it. */
export function batchRequestOf(record: SQSRecord, actor: string): BatchRequest {
  const named = stringAttribute(record, CONTENT_TYPE_ATTRIBUTE);
  return {
    raw: checkDecodedText(record.body),
    contentType: checkMediaType(named ?? JSON_MEDIA_TYPE, INGEST_MEDIA_TYPES),
    actor,
    source: 'queue',
    idempotencyKey:
      stringAttribute(record, IDEMPOTENCY_KEY_ATTRIBUTE) ?? derivedIdempotencyKey(record.messageId),
  };
}

function deadLetterOf(record: SQSRecord, failureCode: string): DeadLetter {
  const text = (name: string) => {
    const attribute = record.messageAttributes?.[name];
    return attribute !== undefined && isStringAttribute(attribute.dataType)
      ? attribute.stringValue
      : undefined;
  };
  return {
    messageId: record.messageId,
    body: record.body,
    contentType: text(CONTENT_TYPE_ATTRIBUTE),
    idempotencyKey: text(IDEMPOTENCY_KEY_ATTRIBUTE) ?? derivedIdempotencyKey(record.messageId),
    failureCode,
  };
}

function receiveCountOf(record: SQSRecord): number | undefined {
  const count = Number(record.attributes?.ApproximateReceiveCount);
  return Number.isSafeInteger(count) ? count : undefined;
}

/** Dead-letters a message no retry can mend; false when even that failed and SQS must deliver it again. */
async function quarantine(
  deps: IngestQueueDependencies,
  record: SQSRecord,
  error: AppError,
): Promise<boolean> {
  const { logger } = deps.intake;
  const messageId = record.messageId;
  try {
    await deps.deadLetters.quarantine(deadLetterOf(record, error.code));
  } catch (failure) {
    // Reported as failed instead: the redrive policy moves it after maxReceiveCount receives.
    logger.error('queued batch not dead-lettered', {
      messageId,
      code: error.code,
      deadLetterError: toAppError(failure).code,
    });
    return false;
  }
  const entry = { messageId, code: error.code, status: error.statusCode };
  if (error.statusCode < 500) logger.warn('queued batch refused: dead-lettered', entry);
  else logger.error('queued batch failed: dead-lettered', entry);
  return true;
}

/** Ingests one message; false when SQS should deliver it again. */
async function ingestMessage(deps: IngestQueueDependencies, record: SQSRecord): Promise<boolean> {
  const { logger } = deps.intake;
  const messageId = record.messageId;
  try {
    // A redelivery after a failed start re-drives the run (submitBatch settles retries).
    const { runId, outcome } = await submitBatch(deps.intake, batchRequestOf(record, deps.actor));
    logger.info('queued batch accepted', { messageId, runId, outcome });
    return true;
  } catch (thrown) {
    const error = toAppError(thrown);
    if (!error.retryable) return quarantine(deps, record, error);
    logger.warn('queued batch deferred', {
      messageId,
      code: error.code,
      receiveCount: receiveCountOf(record),
    });
    return false;
  }
}

/**
 * Consumes one batch of ingest-queue (a Lambda event source mapping with
 * ReportBatchItemFailures): each message on its own, so one bad message neither blocks nor
 * replays the others.
 */
export async function consumeIngestQueue(
  deps: IngestQueueDependencies,
  event: SQSEvent,
): Promise<SQSBatchResponse> {
  const batchItemFailures: SQSBatchItemFailure[] = [];
  // One at a time: a batch is a handful of messages, and each holds a pool connection while it commits.
  for (const record of event.Records) {
    if (!(await ingestMessage(deps, record))) {
      batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  }
  return { batchItemFailures };
}
