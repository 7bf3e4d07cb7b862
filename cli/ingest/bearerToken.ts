import { existsSync } from 'node:fs';
import { loadJwtSecret, mintToken } from '../../lib/auth/tokens.ts';
import { authConfig } from '../../lib/config.ts';
import { UsageError } from './errors.ts';

export const INGEST_SCOPE = 'system/Patient.c';
const TOKEN_TTL_SECONDS = 3600;
/** A minted token is replaced this long before it expires, so a long load never sends a stale one. */
const RENEW_BEFORE_EXPIRY_MS = 5 * 60 * 1000;

type Environment = Readonly<Record<string, string | undefined>>;

/**
 * Where each request's bearer token comes from: the one given, or a 1-hour token minted
 * with the local development secret exactly as `npm run token` does, renewed as it ages.
 */
export function bearerTokenSource(
  given: string | undefined,
  env: Environment,
  now: () => number = Date.now,
): () => Promise<string> {
  if (given !== undefined) return () => Promise.resolve(given);
  let auth: ReturnType<typeof authConfig>;
  try {
    auth = authConfig(env);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : 'the auth settings are invalid');
  }
  const { keys } = auth;
  if (keys.kind !== 'secret') {
    throw new UsageError(
      'no token: AUTH_JWKS_URL is set, so tokens come from that issuer; pass --token or ETL_TOKEN',
    );
  }
  // loadJwtSecret would create a missing file, and a fresh secret signs tokens no server accepts.
  if (keys.secret === undefined && !existsSync(keys.secretFile)) {
    throw new UsageError(
      `no token: pass --token or ETL_TOKEN, or run where the local secret ${keys.secretFile} exists (npm start creates it)`,
    );
  }
  let secret: Buffer;
  try {
    secret = loadJwtSecret(keys);
  } catch (error) {
    // e.g. a secret file others can read: its message says what to fix.
    throw new UsageError(error instanceof Error ? error.message : 'the local secret is unusable');
  }
  let current: { token: Promise<string>; renewAt: number } | undefined;
  return () => {
    if (current === undefined || now() >= current.renewAt) {
      current = {
        token: mintToken(secret, {
          subject: 'ingest-cli',
          scopes: [INGEST_SCOPE],
          issuer: auth.issuer,
          audience: auth.audience,
          ttlSeconds: TOKEN_TTL_SECONDS,
        }),
        renewAt: now() + TOKEN_TTL_SECONDS * 1000 - RENEW_BEFORE_EXPIRY_MS,
      };
    }
    return current.token;
  };
}
