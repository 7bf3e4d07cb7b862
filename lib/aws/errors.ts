import {
  AppError,
  InternalError,
  KeyServiceRefusedError,
  KeyServiceUnavailableError,
  PayloadStoreUnavailableError,
  QueueRefusedError,
  QueueUnavailableError,
  ServiceUnavailableError,
} from '../errors.ts';
import { TRANSIENT_SOCKET_CODES } from '../socketErrors.ts';

/** KMS failures that pass on a retry: throttling, its internal errors, an unavailable key, timeouts. */
const KMS_UNAVAILABLE_NAMES: ReadonlySet<string> = new Set([
  'ThrottlingException',
  'KMSInternalException',
  'DependencyTimeoutException',
  'KeyUnavailableException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
]);

/** SQS failures that pass on a retry: throttling (its own, or of the queue's KMS key), its internal errors, timeouts. */
const SQS_UNAVAILABLE_NAMES: ReadonlySet<string> = new Set([
  'RequestThrottled',
  'KmsThrottled',
  'ThrottlingException',
  'ServiceUnavailable',
  'InternalFailure',
  'InternalError',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
]);

/**
 * S3 failures that pass on a retry: SlowDown (its throttling), its internal errors, a request
 * body it waited too long for (RequestTimeout, a 400), timeouts.
 */
export const S3_UNAVAILABLE_NAMES: ReadonlySet<string> = new Set([
  'SlowDown',
  'ServiceUnavailable',
  'InternalError',
  'RequestTimeout',
  'TimeoutError',
  'RequestTimeoutException',
]);

/** An object's body cut off by the network while it was being read. */
const STREAM_CUT_CODE = 'ERR_STREAM_PREMATURE_CLOSE';

function property(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null
    ? (value as Record<string, unknown>)[key]
    : undefined;
}

/**
 * Whether an AWS SDK failure may pass on a retry: a name the service lists as transient
 * (throttling, its own internal errors, timeouts), a socket error, or an HTTP 5xx.
 */
function isTransientServiceError(error: unknown, transientNames: ReadonlySet<string>): boolean {
  const name = property(error, 'name');
  const code = property(error, 'code');
  const status = property(property(error, '$metadata'), 'httpStatusCode');
  return (
    (typeof name === 'string' && transientNames.has(name)) ||
    (typeof code === 'string' && TRANSIENT_SOCKET_CODES.has(code)) ||
    (typeof status === 'number' && status >= 500)
  );
}

/** An SDK error's name for a message or a log line: the name only, since SDK messages can quote requests. */
function serviceErrorLabel(error: unknown): string {
  const name = property(error, 'name');
  return typeof name === 'string' && /^[A-Za-z][\w.]{0,63}$/.test(name) ? name : 'unknown error';
}

/** The one mapping from KMS and network failures to the errors the state machine tells apart. */
export function toKeyServiceError(operation: string, error: unknown): AppError {
  if (error instanceof AppError) return error;
  const label = serviceErrorLabel(error);
  return isTransientServiceError(error, KMS_UNAVAILABLE_NAMES)
    ? new KeyServiceUnavailableError(`KMS ${operation} unavailable (${label})`, { cause: error })
    : new KeyServiceRefusedError(`KMS ${operation} refused (${label})`, { cause: error });
}

/**
 * The one mapping from SQS and network failures to the errors the state machine tells apart:
 * QueueUnavailableError is in the ASL's Retry list, QueueRefusedError is not.
 */
export function toQueueError(operation: string, error: unknown): AppError {
  if (error instanceof AppError) return error;
  const label = serviceErrorLabel(error);
  return isTransientServiceError(error, SQS_UNAVAILABLE_NAMES)
    ? new QueueUnavailableError(`SQS ${operation} unavailable (${label})`, { cause: error })
    : new QueueRefusedError(`SQS ${operation} refused (${label})`, { cause: error });
}

/**
 * The one mapping from S3 and network failures of the payload store: PayloadStoreUnavailableError
 * is in the ASL's Retry list; a refusal (access denied, no such bucket, its key disabled) is a
 * fault of the deployment no retry mends, so an InternalError.
 */
export function toPayloadStoreError(operation: string, error: unknown): AppError {
  if (error instanceof AppError) return error;
  const label = serviceErrorLabel(error);
  return isTransientServiceError(error, S3_UNAVAILABLE_NAMES) ||
    property(error, 'code') === STREAM_CUT_CODE
    ? new PayloadStoreUnavailableError(`S3 ${operation} unavailable (${label})`, { cause: error })
    : new InternalError(`S3 ${operation} refused (${label})`, { cause: error });
}

/**
 * Any Step Functions failure the starter does not take as an answer: the workflow service is
 * unavailable to the API, which answers 503. Only the action is named: SDK messages quote ARNs.
 */
export function toWorkflowError(action: string, error: unknown): ServiceUnavailableError {
  return new ServiceUnavailableError(`the workflow service did not ${action}`, { cause: error });
}
