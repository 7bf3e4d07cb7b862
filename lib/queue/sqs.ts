import {
  AppError,
  isTransientServiceError,
  QueueRefusedError,
  QueueUnavailableError,
  serviceErrorLabel,
} from '../errors.ts';

/** SQS failures that pass on a retry: throttling (its own, or of the queue's KMS key), its internal errors, timeouts. */
const UNAVAILABLE_NAMES: ReadonlySet<string> = new Set([
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
 * The one mapping from SQS and network failures to the errors the state machine tells apart:
 * QueueUnavailableError is in the ASL's Retry list, QueueRefusedError is not.
 */
export function toQueueError(operation: string, error: unknown): AppError {
  if (error instanceof AppError) return error;
  // Only the error name survives: SDK messages can quote request details.
  const label = serviceErrorLabel(error);
  return isTransientServiceError(error, UNAVAILABLE_NAMES)
    ? new QueueUnavailableError(`SQS ${operation} unavailable (${label})`, { cause: error })
    : new QueueRefusedError(`SQS ${operation} refused (${label})`, { cause: error });
}
