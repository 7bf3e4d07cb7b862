import { describe, expect, it } from 'vitest';
import type { AppError } from '../../lib/errors.ts';
import {
  ConfigError,
  DatabaseError,
  DecryptionError,
  EnvelopeError,
  errorCodeForName,
  InputValidationError,
  InternalError,
  KeyServiceRefusedError,
  KeyServiceUnavailableError,
  PayloadStoreUnavailableError,
  QueueRefusedError,
  QueueUnavailableError,
  RETRYABLE_ERROR_NAMES,
  RunEndedError,
  RunNotFoundError,
  ServiceUnavailableError,
  StageInputError,
  StagePayloadMissingError,
  TransientDatabaseError,
} from '../../lib/errors.ts';

const RUN_ID = '3f1c2a9e-8b7d-4c6e-9a5f-0d1e2f3a4b5c';

describe('errorCodeForName', () => {
  it.each([
    ['ConfigError', 'config-invalid'],
    ['StageInputError', 'stage-input-invalid'],
    ['StagePayloadMissingError', 'stage-payload-missing'],
    ['EnvelopeError', 'envelope-invalid'],
    ['RunNotFoundError', 'run-not-found'],
    ['RunEndedError', 'run-ended'],
    ['DecryptionError', 'decryption-failed'],
    ['KeyServiceUnavailableError', 'key-service-unavailable'],
    ['KeyServiceRefusedError', 'key-service-refused'],
    ['QueueUnavailableError', 'queue-unavailable'],
    ['QueueRefusedError', 'queue-refused'],
    ['PayloadStoreUnavailableError', 'payload-store-unavailable'],
    ['TransientDatabaseError', 'database-unavailable'],
    ['DatabaseError', 'database-error'],
    ['InternalError', 'internal-error'],
    ['States.Timeout', 'stage-timeout'],
    ['States.TaskFailed', 'stage-failed'],
  ])('maps %s to %s', (name, code) => {
    // Act
    const mapped = errorCodeForName(name);

    // Assess
    expect(mapped).toBe(code);
  });

  it.each(['TypeError', 'Lambda.ServiceException', 'States.ALL', '', 'ServiceUnavailableError'])(
    'maps the unknown name %j to internal-error',
    (name) => {
      // Act
      const mapped = errorCodeForName(name);

      // Assess
      expect(mapped).toBe('internal-error');
    },
  );

  it.each([
    new ConfigError('bad'),
    new StageInputError('bad'),
    new StagePayloadMissingError(RUN_ID, 'extracted'),
    new EnvelopeError('bad'),
    new RunNotFoundError(RUN_ID),
    new RunEndedError(RUN_ID),
    new DecryptionError('bad'),
    new KeyServiceUnavailableError('bad'),
    new KeyServiceRefusedError('bad'),
    new QueueUnavailableError('bad'),
    new QueueRefusedError('bad'),
    new PayloadStoreUnavailableError('bad'),
    new TransientDatabaseError('bad'),
    new DatabaseError('bad'),
    new InternalError('bad'),
  ] satisfies AppError[])('agrees with the code that $name carries', (error) => {
    // Act
    const mapped = errorCodeForName(error.name);

    // Assess
    expect(mapped).toBe(error.code);
  });
});

describe('RETRYABLE_ERROR_NAMES', () => {
  it.each([
    new TransientDatabaseError('bad'),
    new KeyServiceUnavailableError('bad'),
    new QueueUnavailableError('bad'),
    new PayloadStoreUnavailableError('bad'),
  ] satisfies AppError[])('holds $name, a retryable error a stage can end with', (error) => {
    // Assess
    expect(error.retryable).toBe(true);
    expect(RETRYABLE_ERROR_NAMES).toContain(error.name);
  });

  it.each([
    new DatabaseError('bad'),
    new KeyServiceRefusedError('bad'),
    new QueueRefusedError('bad'),
    new InternalError('bad'),
    new ServiceUnavailableError('bad'),
    new InputValidationError('bad', []),
  ] satisfies AppError[])(
    'leaves out $name: not retryable, or never the end of a stage',
    (error) => {
      // Assess
      expect(RETRYABLE_ERROR_NAMES).not.toContain(error.name);
    },
  );
});

describe('HTTP exposure', () => {
  it.each([
    { error: new InputValidationError('bad batch', []), statusCode: 400, expose: true },
    { error: new InternalError('internal error'), statusCode: 500, expose: false },
    { error: new DatabaseError('database error (SQLSTATE 23505)'), statusCode: 500, expose: false },
    {
      error: new TransientDatabaseError('database connection lost'),
      statusCode: 503,
      expose: false,
    },
    { error: new KeyServiceUnavailableError('KMS throttled'), statusCode: 503, expose: false },
    { error: new QueueUnavailableError('SQS unreachable'), statusCode: 503, expose: false },
    { error: new PayloadStoreUnavailableError('S3 slowed down'), statusCode: 503, expose: false },
  ])(
    'gives $error.name status $statusCode with expose $expose',
    ({ error, statusCode, expose }) => {
      // Assess
      expect(error.statusCode).toBe(statusCode);
      expect(error.expose).toBe(expose);
    },
  );

  it('keeps the validation problems on an InputValidationError', () => {
    // Prepare
    const problems = [{ path: '/records/0/birthDate', keyword: 'format', message: 'bad date' }];

    // Act
    const error = new InputValidationError('batch failed validation', problems);

    // Assess
    expect(error.name).toBe('InputValidationError');
    expect(error.code).toBe('validation-failed');
    expect(error.problems).toEqual(problems);
  });
});
