import { describe, expect, it } from 'vitest';
import { toAppError } from '../../../lib/db/errors.ts';
import {
  DatabaseError,
  InputValidationError,
  InternalError,
  KeyServiceUnavailableError,
  RunNotFoundError,
  TransientDatabaseError,
} from '../../../lib/errors.ts';

const RUN_ID = '3f1c2a9e-8b7d-4c6e-9a5f-0d1e2f3a4b5c';

/** What node-postgres throws: an Error whose message and detail may quote the row's values. */
function pgError(code: string, message = 'pg failure', detail?: string): Error {
  return Object.assign(new Error(message), {
    code,
    severity: 'ERROR',
    ...(detail === undefined ? {} : { detail }),
  });
}

describe('toAppError', () => {
  it.each([
    ['08006', 'connection failure'],
    ['08001', 'unable to connect'],
    ['57P01', 'admin shutdown'],
    ['57P03', 'cannot connect now'],
    ['53300', 'too many connections'],
    ['40001', 'serialization failure'],
    ['40P01', 'deadlock detected'],
    ['55P03', 'lock not available'],
    ['57014', 'query canceled (statement timeout)'],
  ])('maps SQLSTATE %s (%s) to a retryable TransientDatabaseError', (code) => {
    // Act
    const error = toAppError(pgError(code));

    // Assess
    expect(error).toBeInstanceOf(TransientDatabaseError);
    expect(error.name).toBe('TransientDatabaseError');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain(code);
  });

  it.each([
    ['23505', 'unique violation'],
    ['22007', 'invalid datetime format'],
    ['42P01', 'undefined table'],
    ['23503', 'foreign key violation'],
  ])('maps SQLSTATE %s (%s) to a DatabaseError that is not retried', (code) => {
    // Act
    const error = toAppError(pgError(code));

    // Assess
    expect(error).toBeInstanceOf(DatabaseError);
    expect(error.name).toBe('DatabaseError');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain(code);
  });

  it.each([
    ['an Error', pgError('40P01')],
    ['a plain object', { code: '40P01', message: 'deadlock detected' }],
  ])('reads the SQLSTATE from %s', (_, thrown) => {
    // Act
    const error = toAppError(thrown);

    // Assess
    expect(error).toBeInstanceOf(TransientDatabaseError);
  });

  it.each([
    'ECONNREFUSED',
    'ECONNRESET',
    'ETIMEDOUT',
    'EPIPE',
    'EHOSTUNREACH',
    'ENOTFOUND',
    'EAI_AGAIN',
  ])('maps the Node socket error %s to a TransientDatabaseError', (code) => {
    // Prepare
    const thrown = Object.assign(new Error(`connect ${code} 10.0.0.5:5432`), { code });

    // Act
    const error = toAppError(thrown);

    // Assess
    expect(error).toBeInstanceOf(TransientDatabaseError);
    expect(error.retryable).toBe(true);
  });

  it.each([
    'Connection terminated unexpectedly',
    'Connection terminated due to connection timeout',
    'timeout exceeded when trying to connect',
    'Client has encountered a connection error and is not queryable',
  ])('maps a driver error saying %j to a TransientDatabaseError', (message) => {
    // Act
    const error = toAppError(new Error(message));

    // Assess
    expect(error).toBeInstanceOf(TransientDatabaseError);
    expect(error.retryable).toBe(true);
  });

  it.each([
    ['a TypeError', new TypeError("Cannot read properties of undefined (reading 'mrn')")],
    ['a string', 'something broke'],
    ['undefined', undefined],
    ['null', null],
    ['an object without a code', { message: 'odd' }],
    ['an error with a non-SQLSTATE code', Object.assign(new Error('x'), { code: 'ERR_ASSERTION' })],
    ['an error with a numeric code', Object.assign(new Error('x'), { code: 40001 })],
  ])('maps %s to an InternalError', (_, thrown) => {
    // Act
    const error = toAppError(thrown);

    // Assess
    expect(error).toBeInstanceOf(InternalError);
    expect(error.name).toBe('InternalError');
    expect(error.code).toBe('internal-error');
    expect(error.retryable).toBe(false);
  });

  it.each([
    ['an InputValidationError', new InputValidationError('bad batch', [])],
    ['a KeyServiceUnavailableError', new KeyServiceUnavailableError('throttled')],
    ['a RunNotFoundError', new RunNotFoundError(RUN_ID)],
    ['an InternalError', new InternalError('internal error')],
  ])('passes %s through unchanged', (_, appError) => {
    // Act
    const error = toAppError(appError);

    // Assess
    expect(error).toBe(appError);
  });

  it.each([
    ['22007', DatabaseError],
    ['23505', DatabaseError],
    ['57014', TransientDatabaseError],
  ])(
    'keeps the data a PostgreSQL %s error quotes out of the message, and the error as cause',
    (code, expected) => {
      // Prepare
      const thrown = pgError(
        code,
        'invalid input syntax for type date: "1990-02-30"',
        'Key (name)=(Jane Doe) already exists.',
      );

      // Act
      const error = toAppError(thrown);

      // Assess
      expect(error).toBeInstanceOf(expected);
      expect(error.message).not.toContain('1990-02-30');
      expect(error.message).not.toContain('Jane Doe');
      expect(error.message).not.toContain('invalid input syntax');
      expect(error.cause).toBe(thrown);
    },
  );

  it.each([
    [
      'a Node socket error',
      Object.assign(new Error('connect to Jane Doe'), { code: 'ECONNRESET' }),
    ],
    ['a lost connection', new Error('Connection terminated unexpectedly near "Jane Doe"')],
    ['anything else', new Error('Jane Doe was born on 1990-02-30')],
  ])('keeps the message of %s out of its own, and the error as cause', (_, thrown) => {
    // Act
    const error = toAppError(thrown);

    // Assess
    expect(error.message).not.toContain('Jane Doe');
    expect(error.message).not.toContain('1990-02-30');
    expect(error.cause).toBe(thrown);
  });
});
