import { parseArgs } from 'node:util';
import { ROUTE_SCOPES } from '../lib/api/routes.ts';
import { parseScope } from '../lib/auth/scopes.ts';
import { loadJwtSecret, mintToken } from '../lib/auth/tokens.ts';
import { authConfig } from '../lib/config.ts';
import { isUuid } from '../lib/ids.ts';

/**
 * `npm run -s token -- --scope "system/Patient.c user/Patient.r" [--sub name] [--ttl seconds]
 * [--patient id]`: prints a development bearer token signed with the local secret, and nothing else on stdout.
 */
/** Named in the usage message: every scope some route requires (any SMART scope is accepted). */
const KNOWN_SCOPES = ROUTE_SCOPES;
const MAX_TTL_SECONDS = 86_400;

class UsageError extends Error {
  override readonly name = 'UsageError';
}

function scopesFrom(values: readonly string[] | undefined): string[] {
  const scopes = (values ?? [])
    .flatMap((value) => value.split(/\s+/))
    .filter((entry) => entry !== '');
  if (scopes.length === 0) {
    throw new UsageError(`--scope is required, e.g. one or more of: ${KNOWN_SCOPES.join(' ')}`);
  }
  const unknown = scopes.filter((scope) => parseScope(scope) === undefined);
  if (unknown.length > 0) {
    throw new UsageError(
      `not SMART scopes: ${unknown.join(' ')} (known: ${KNOWN_SCOPES.join(' ')})`,
    );
  }
  return scopes;
}

function ttlFrom(value: string | undefined): number {
  if (value === undefined) return 3600;
  const ttl = Number(value);
  if (!/^\d+$/.test(value) || ttl < 1 || ttl > MAX_TTL_SECONDS) {
    throw new UsageError(`--ttl must be a whole number of seconds from 1 to ${MAX_TTL_SECONDS}`);
  }
  return ttl;
}

async function main(): Promise<string> {
  const { values } = parseArgs({
    options: {
      scope: { type: 'string', multiple: true },
      sub: { type: 'string', default: 'dev-user' },
      ttl: { type: 'string' },
      patient: { type: 'string' },
    },
  });
  const scopes = scopesFrom(values.scope);
  const ttlSeconds = ttlFrom(values.ttl);
  if (values.patient !== undefined && !isUuid(values.patient)) {
    throw new UsageError('--patient must be a patient id (a UUID): the launch context');
  }
  const auth = authConfig(process.env);
  if (auth.keys.kind !== 'secret') {
    throw new UsageError(
      'AUTH_JWKS_URL is set: tokens then come from that issuer; a dev token needs the local secret',
    );
  }
  return mintToken(loadJwtSecret(auth.keys), {
    subject: values.sub,
    scopes,
    issuer: auth.issuer,
    audience: auth.audience,
    ttlSeconds,
    ...(values.patient === undefined ? {} : { patient: values.patient }),
  });
}

try {
  console.log(await main());
} catch (error) {
  console.error(`token: ${error instanceof Error ? error.message : 'unknown error'}`);
  process.exitCode = 1;
}
