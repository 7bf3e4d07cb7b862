import { readFileSync } from 'node:fs';
import { inject } from 'vitest';
import { mintToken } from '../../lib/auth/tokens.ts';

/**
 * A valid token for `subject`, so a test can find its own rows in the audit log by actor; with
 * `patient`, the SMART launch context (our patient id) its patient/ scopes are confined to.
 */
export async function tokenAs(
  subject: string,
  scopes: readonly string[],
  patient?: string,
): Promise<string> {
  return mintToken(readFileSync(inject('jwtSecretFile')), {
    subject,
    scopes,
    issuer: 'healthcare-etl-local',
    audience: 'healthcare-etl-api',
    ttlSeconds: 900,
    ...(patient === undefined ? {} : { patient }),
  });
}
