import { randomUUID } from 'node:crypto';
import type { JWTPayload, JWTVerifyGetKey, JWTVerifyResult } from 'jose';
import { createRemoteJWKSet, errors, jwtVerify, SignJWT } from 'jose';
import type { AuthConfig } from '../config.ts';
import { readOrCreateSecretFile } from '../crypto/secretFile.ts';
import { ConfigError, ServiceUnavailableError, UnauthorizedError } from '../errors.ts';
import { isUuid } from '../ids.ts';

/** Who called, as the verified bearer token says. */
export interface Principal {
  readonly subject: string;
  readonly scopes: readonly string[];
  readonly tokenId: string | undefined;
  /**
   * Our id of the patient of the SMART launch context (the token's `patient` claim), lower
   * case: every read of such a token is confined to that patient's data.
   */
  readonly patient: string | undefined;
}

export interface TokenVerifier {
  /** Rejects with UnauthorizedError for any token it does not accept. */
  verify(token: string): Promise<Principal>;
}

const SECRET_LENGTH = 32;
const CLOCK_TOLERANCE_SECONDS = 30;
const MAX_SUBJECT_LENGTH = 256;

const INVALID = 'the bearer token is not valid';

function isSubject(value: unknown): value is string {
  // The subject becomes the audit actor, so control characters could forge log lines.
  return (
    typeof value === 'string' &&
    value.length > 0 &&
    value.length <= MAX_SUBJECT_LENGTH &&
    !/\p{Cc}/u.test(value)
  );
}

function scopesOf(payload: JWTPayload): readonly string[] | undefined {
  const scope = payload['scope'] ?? payload['scp'];
  if (scope === undefined) return [];
  // SMART sends one space-separated string; some IdPs send `scp` as an array.
  if (typeof scope === 'string') return scope.split(/\s+/).filter((entry) => entry !== '');
  if (Array.isArray(scope) && scope.every((entry) => typeof entry === 'string')) return scope;
  return undefined;
}

/** The launch context's patient: absent, or our patient id; anything else is not a valid token. */
function launchPatientOf(payload: JWTPayload): string | undefined {
  const patient = payload['patient'];
  if (patient === undefined) return undefined;
  if (!isUuid(patient)) throw new UnauthorizedError(INVALID);
  return patient.toLowerCase();
}

function principalFrom(payload: JWTPayload, nowSeconds: number): Principal {
  const { sub, jti, iat } = payload;
  // jose checks a future `iat` only with maxTokenAge, which would also make `iat` mandatory.
  if (iat !== undefined && iat > nowSeconds + CLOCK_TOLERANCE_SECONDS) {
    throw new UnauthorizedError('the bearer token is not yet valid');
  }
  const scopes = scopesOf(payload);
  if (!isSubject(sub) || scopes === undefined) throw new UnauthorizedError(INVALID);
  const patient = launchPatientOf(payload);
  // SMART: a patient/ scope means "of the launch patient"; without one it names nobody's data.
  if (patient === undefined && scopes.some((scope) => scope.startsWith('patient/'))) {
    throw new UnauthorizedError('a patient/ scope needs the patient launch context claim');
  }
  return { subject: sub, scopes, tokenId: typeof jti === 'string' ? jti : undefined, patient };
}

/** A short client-safe reason; jose's error, kept as the cause, holds the detail. */
function rejection(error: unknown): UnauthorizedError {
  if (error instanceof errors.JWTExpired) {
    return new UnauthorizedError('the bearer token has expired', { cause: error });
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf' || error.claim === 'iat') {
      return new UnauthorizedError('the bearer token is not yet valid', { cause: error });
    }
    if (error.claim === 'iss' || error.claim === 'aud') {
      return new UnauthorizedError('the bearer token was not issued for this API', {
        cause: error,
      });
    }
  }
  return new UnauthorizedError(INVALID, { cause: error });
}

/** The issuer's key set; an outage there is ours (503), not the caller's token's fault (401). */
function remoteKeys(jwksUrl: string): JWTVerifyGetKey {
  const keySet = createRemoteJWKSet(new URL(jwksUrl));
  return async (header, token) => {
    try {
      return await keySet(header, token);
    } catch (error) {
      if (
        error instanceof errors.JWKSNoMatchingKey ||
        error instanceof errors.JWKSMultipleMatchingKeys
      ) {
        throw error;
      }
      throw new ServiceUnavailableError('the token issuer keys could not be fetched', {
        cause: error,
      });
    }
  };
}

function jwtCheck(auth: AuthConfig): (token: string) => Promise<JWTVerifyResult> {
  const options = {
    issuer: auth.issuer,
    audience: auth.audience,
    requiredClaims: ['exp', 'sub'],
    clockTolerance: CLOCK_TOLERANCE_SECONDS,
  };
  if (auth.keys.kind === 'jwks') {
    const keys = remoteKeys(auth.keys.jwksUrl);
    return (token) => jwtVerify(token, keys, { ...options, algorithms: ['RS256', 'ES256'] });
  }
  const secret = loadJwtSecret(auth.keys);
  return (token) => jwtVerify(token, secret, { ...options, algorithms: ['HS256'] });
}

/**
 * Verifies bearer tokens under the configured keys: HS256 with the local secret,
 * or RS256/ES256 with the issuer's JWKS. Issuer, audience, `sub` and `exp` are required.
 */
export function createTokenVerifier(auth: AuthConfig): TokenVerifier {
  const check = jwtCheck(auth);
  return {
    async verify(token) {
      let payload: JWTPayload;
      try {
        ({ payload } = await check(token));
      } catch (error) {
        if (error instanceof ServiceUnavailableError) throw error;
        throw rejection(error);
      }
      return principalFrom(payload, Math.floor(Date.now() / 1000));
    },
  };
}

export interface MintClaims {
  readonly subject: string;
  readonly scopes: readonly string[];
  readonly issuer: string;
  readonly audience: string;
  readonly ttlSeconds: number;
  readonly now?: Date;
  /** The launch context's patient (the `patient` claim): our patient id. */
  readonly patient?: string;
}

/** Signs an HS256 token for the local verifier (development and tests; production uses the IdP). */
export async function mintToken(secret: Buffer, claims: MintClaims): Promise<string> {
  if (secret.length < SECRET_LENGTH) {
    throw new ConfigError(`the JWT secret must be at least ${SECRET_LENGTH} bytes`);
  }
  if (!isSubject(claims.subject)) {
    throw new RangeError(
      `the subject must be 1 to ${MAX_SUBJECT_LENGTH} characters without control characters`,
    );
  }
  if (!Number.isSafeInteger(claims.ttlSeconds) || claims.ttlSeconds <= 0) {
    throw new RangeError('the token lifetime must be a positive whole number of seconds');
  }
  if (claims.patient !== undefined && !isUuid(claims.patient)) {
    throw new RangeError('the patient launch context must be a patient id (a UUID)');
  }
  const issuedAt = Math.floor((claims.now ?? new Date()).getTime() / 1000);
  const context = claims.patient === undefined ? {} : { patient: claims.patient.toLowerCase() };
  return new SignJWT({ scope: claims.scopes.join(' '), ...context })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.subject)
    .setIssuer(claims.issuer)
    .setAudience(claims.audience)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + claims.ttlSeconds)
    .setJti(randomUUID())
    .sign(secret);
}

export interface JwtSecretOptions {
  /** An explicit secret (AUTH_JWT_SECRET) wins over the file. */
  readonly secret: Buffer | undefined;
  readonly secretFile: string;
}

/**
 * The HS256 secret: `secret` when given, otherwise the file `secretFile`
 * holding at least 32 raw bytes, created with 32 random bytes (mode 0600, in a
 * 0700 directory) on first use.
 */
export function loadJwtSecret(keys: JwtSecretOptions): Buffer {
  if (keys.secret !== undefined) {
    if (keys.secret.length < SECRET_LENGTH) {
      throw new ConfigError(`the JWT secret must be at least ${SECRET_LENGTH} bytes`);
    }
    return keys.secret;
  }
  return readOrCreateSecretFile(keys.secretFile, {
    what: 'JWT secret file',
    minBytes: SECRET_LENGTH,
    maxBytes: 4096,
    createBytes: SECRET_LENGTH,
  });
}
