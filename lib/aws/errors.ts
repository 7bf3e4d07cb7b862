import {
  AppError,
  KeyServiceRefusedError,
  KeyServiceUnavailableError,
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
 * Any Step Functions failure the starter does not take as an answer: the workflow service is
 * unavailable to the API, which answers 503. Only the action is named: SDK messages quote ARNs.
 */
export function toWorkflowError(action: string, error: unknown): ServiceUnavailableError {
  return new ServiceUnavailableError(`the workflow service did not ${action}`, { cause: error });
}
