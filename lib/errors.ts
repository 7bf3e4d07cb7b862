/**
 * The error hierarchy. Every message is written here or by a caller that passes
 * identifiers only: no error message may carry PHI, because messages reach logs,
 * the state machine's execution history and API responses.
 */
export interface AppErrorOptions {
  cause?: unknown;
}

export abstract class AppError extends Error {
  /** Stable machine-readable code: stored on failed runs, returned in problem+json `type`. */
  abstract readonly code: string;
  /** HTTP status when this error ends a request. */
  readonly statusCode: number = 500;
  /** Whether the message may be shown to an API client. */
  readonly expose: boolean = false;
  /** Whether retrying the same operation may succeed (the ASL retries these by name). */
  readonly retryable: boolean = false;

  constructor(message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }
}

export class ConfigError extends AppError {
  override readonly name = 'ConfigError';
  readonly code = 'config-invalid';
}

/** A single failing location in a validated document: a JSON pointer and the schema keyword. */
export interface ValidationProblem {
  path: string;
  keyword: string;
  message: string;
}

export class InputValidationError extends AppError {
  override readonly name = 'InputValidationError';
  readonly code = 'validation-failed';
  override readonly statusCode = 400;
  override readonly expose = true;
  readonly problems: readonly ValidationProblem[];

  constructor(message: string, problems: readonly ValidationProblem[], options?: AppErrorOptions) {
    super(message, options);
    this.problems = problems;
  }
}

export class NotFoundError extends AppError {
  override readonly name = 'NotFoundError';
  readonly code = 'not-found';
  override readonly statusCode = 404;
  override readonly expose = true;
}

export class UnauthorizedError extends AppError {
  override readonly name = 'UnauthorizedError';
  readonly code = 'unauthorized';
  override readonly statusCode = 401;
  override readonly expose = true;
}

export class ForbiddenError extends AppError {
  override readonly name = 'ForbiddenError';
  readonly code = 'forbidden';
  override readonly statusCode = 403;
  override readonly expose = true;
}

export class PayloadTooLargeError extends AppError {
  override readonly name = 'PayloadTooLargeError';
  readonly code = 'payload-too-large';
  override readonly statusCode = 413;
  override readonly expose = true;
}

export class UnsupportedMediaTypeError extends AppError {
  override readonly name = 'UnsupportedMediaTypeError';
  readonly code = 'unsupported-media-type';
  override readonly statusCode = 415;
  override readonly expose = true;
}

export class ConflictError extends AppError {
  override readonly name = 'ConflictError';
  readonly code = 'conflict';
  override readonly statusCode = 409;
  override readonly expose = true;
}

/** An Idempotency-Key reused with a different body: the client's mistake, never silently merged. */
export class IdempotencyConflictError extends AppError {
  override readonly name = 'IdempotencyConflictError';
  readonly code = 'idempotency-key-reused';
  override readonly statusCode = 422;
  override readonly expose = true;
}

/** The caller's token used up its request rate; `retryAfterSeconds` goes out as Retry-After. */
export class TooManyRequestsError extends AppError {
  override readonly name = 'TooManyRequestsError';
  readonly code = 'rate-limited';
  override readonly statusCode = 429;
  override readonly expose = true;
  readonly retryAfterSeconds: number;

  constructor(retryAfterSeconds: number) {
    super(`too many requests from this client: retry after ${retryAfterSeconds} s`);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** A dependency (the workflow service, the database) is down: the client may retry later. */
export class ServiceUnavailableError extends AppError {
  override readonly name = 'ServiceUnavailableError';
  readonly code = 'service-unavailable';
  override readonly statusCode = 503;
  override readonly retryable = true;
}

export class RunNotFoundError extends AppError {
  override readonly name = 'RunNotFoundError';
  readonly code = 'run-not-found';
  override readonly statusCode = 404;
  override readonly expose = true;

  constructor(runId: string) {
    super(`ingest run ${runId} does not exist`);
  }
}

/** A stage tried to commit into a run that has already succeeded or failed. */
export class RunEndedError extends AppError {
  override readonly name = 'RunEndedError';
  readonly code = 'run-ended';

  constructor(runId: string) {
    super(`run ${runId} has already ended`);
  }
}

export class StageInputError extends AppError {
  override readonly name = 'StageInputError';
  readonly code = 'stage-input-invalid';
}

/** A received batch that cannot be parsed at all (the API checks envelopes; this guards the stage). */
export class EnvelopeError extends AppError {
  override readonly name = 'EnvelopeError';
  readonly code = 'envelope-invalid';
}

/** A stage found no claim-check payload from the stage before it. */
export class StagePayloadMissingError extends AppError {
  override readonly name = 'StagePayloadMissingError';
  readonly code = 'stage-payload-missing';

  constructor(runId: string, stage: string) {
    super(`run ${runId} has no '${stage}' payload`);
  }
}

export class DecryptionError extends AppError {
  override readonly name = 'DecryptionError';
  readonly code = 'decryption-failed';
}

/** The key service could not be reached or throttled us: worth retrying. */
export class KeyServiceUnavailableError extends AppError {
  override readonly name = 'KeyServiceUnavailableError';
  readonly code = 'key-service-unavailable';
  override readonly statusCode = 503;
  override readonly retryable = true;
}

/** The key service answered and refused (access denied, wrong context, disabled key). */
export class KeyServiceRefusedError extends AppError {
  override readonly name = 'KeyServiceRefusedError';
  readonly code = 'key-service-refused';
}

/** The message queue (SQS) could not be reached or throttled us: worth retrying. */
export class QueueUnavailableError extends AppError {
  override readonly name = 'QueueUnavailableError';
  readonly code = 'queue-unavailable';
  override readonly statusCode = 503;
  override readonly retryable = true;
}

/** The message queue answered and refused (access denied, no such queue, its KMS key unusable). */
export class QueueRefusedError extends AppError {
  override readonly name = 'QueueRefusedError';
  readonly code = 'queue-refused';
}

/** The claim check's payload store (S3) could not be reached, throttled us or failed inside: worth retrying. */
export class PayloadStoreUnavailableError extends AppError {
  override readonly name = 'PayloadStoreUnavailableError';
  readonly code = 'payload-store-unavailable';
  override readonly statusCode = 503;
  override readonly retryable = true;
}

/** The database dropped the connection, refused one, or asked for the transaction again. */
export class TransientDatabaseError extends AppError {
  override readonly name = 'TransientDatabaseError';
  readonly code = 'database-unavailable';
  override readonly statusCode = 503;
  override readonly retryable = true;
}

export class DatabaseError extends AppError {
  override readonly name = 'DatabaseError';
  readonly code = 'database-error';
}

export class InternalError extends AppError {
  override readonly name = 'InternalError';
  readonly code = 'internal-error';
}

/**
 * One of each error a stage can end with (the messages are never read): the state machine tells
 * them apart by name, and a failed run stores the code its error's name maps to.
 */
const STAGE_ERRORS = [
  new ConfigError('config'),
  new StageInputError('stage input'),
  new StagePayloadMissingError('run', 'stage'),
  new EnvelopeError('envelope'),
  new RunNotFoundError('run'),
  new RunEndedError('run'),
  new DecryptionError('decryption'),
  new KeyServiceUnavailableError('key service'),
  new KeyServiceRefusedError('key service'),
  new QueueUnavailableError('queue'),
  new QueueRefusedError('queue'),
  new PayloadStoreUnavailableError('payload store'),
  new TransientDatabaseError('database'),
  new DatabaseError('database'),
  new InternalError('internal'),
] as const;

type RetryableStageError = Extract<(typeof STAGE_ERRORS)[number], { readonly retryable: true }>;

/** Error names the state machine retries; statemachine/ingest.asl.json lists the same names. */
export const RETRYABLE_ERROR_NAMES: readonly RetryableStageError['name'][] = STAGE_ERRORS.filter(
  (error): error is RetryableStageError => error.retryable,
).map((error) => error.name);

const CODES_BY_NAME: ReadonlyMap<string, string> = new Map([
  ...STAGE_ERRORS.map((error) => [error.name, error.code] as const),
  ['States.Timeout', 'stage-timeout'],
  ['States.TaskFailed', 'stage-failed'],
]);

/** Maps an error name as the state machine reports it (`$.error.Error`) to a stored error code. */
export function errorCodeForName(name: string): string {
  return CODES_BY_NAME.get(name) ?? 'internal-error';
}

// An error's name is shown (logs, run history) only when it is an identifier, never free text.
const ERROR_NAME = /^[A-Za-z_$][\w$.-]{0,63}$/;

/** `name` when it is an identifier (`DatabaseError`, `States.Timeout`), else `unnamed`. */
export function displayableErrorName(name: string): string {
  return ERROR_NAME.test(name) ? name : 'unnamed';
}
