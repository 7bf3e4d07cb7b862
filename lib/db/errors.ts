import { AppError, DatabaseError, InternalError, TransientDatabaseError } from '../errors.ts';
import { TRANSIENT_SOCKET_CODES } from '../socketErrors.ts';

/** SQLSTATEs a retry may pass: lost connections, exhausted resources, shutdowns, serialization failures, deadlocks, lock and statement timeouts. */
const TRANSIENT_PG_CLASSES = ['08', '53', '57P'] as const;
const TRANSIENT_PG_CODES = new Set(['40001', '40P01', '55P03', '57014']);

/** pg's and pg-pool's words for a connection that died, never came, or was used after it died. */
const LOST_CONNECTION_MESSAGE =
  /Connection terminated|timeout exceeded when trying to connect|connection error and is not queryable/i;

function stringProperty(value: unknown, key: string): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const property: unknown = (value as Record<string, unknown>)[key];
  return typeof property === 'string' ? property : undefined;
}

/**
 * Turns anything thrown into an AppError whose message is safe to record.
 * Driver and library messages can quote the data they choked on (a PostgreSQL
 * error echoes the offending value), so only their codes survive.
 */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const code = stringProperty(error, 'code');
  // Node's socket codes first: EPIPE has the shape of a SQLSTATE.
  if (code !== undefined && TRANSIENT_SOCKET_CODES.has(code)) {
    return new TransientDatabaseError(`connection failed (${code})`, { cause: error });
  }
  if (code !== undefined && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith('E')) {
    const transient =
      TRANSIENT_PG_CODES.has(code) ||
      TRANSIENT_PG_CLASSES.some((prefix) => code.startsWith(prefix));
    return transient
      ? new TransientDatabaseError(`database unavailable (SQLSTATE ${code})`, { cause: error })
      : new DatabaseError(`database error (SQLSTATE ${code})`, { cause: error });
  }
  const message = error instanceof Error ? error.message : '';
  if (LOST_CONNECTION_MESSAGE.test(message)) {
    return new TransientDatabaseError('database connection lost', { cause: error });
  }
  return new InternalError('internal error', { cause: error });
}
