import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CryptoKey, JWTPayload } from 'jose';
import { base64url, exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTokenVerifier, loadJwtSecret, mintToken } from '../../../lib/auth/tokens.ts';
import type { AuthConfig } from '../../../lib/config.ts';
import { ConfigError, ServiceUnavailableError, UnauthorizedError } from '../../../lib/errors.ts';

const ISSUER = 'https://issuer.example.test';
const AUDIENCE = 'healthcare-etl-api';
const SECRET = randomBytes(32);
const UNUSED_FILE = join(tmpdir(), 'never-created', 'jwt-secret');

const secretAuth: AuthConfig = {
  issuer: ISSUER,
  audience: AUDIENCE,
  keys: { kind: 'secret', secret: SECRET, secretFile: UNUSED_FILE },
};

const claims = {
  subject: 'clinician-7',
  scopes: ['user/Patient.r', 'user/Consent.u'],
  issuer: ISSUER,
  audience: AUDIENCE,
  ttlSeconds: 600,
};

const HOUR_MS = 3_600_000;
const PATIENT_ID = '0b6f5f1e-8d3c-4f7a-9c2e-5a1d3e4f6a7b';
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Valid claims with a test's changes; a claim set to undefined is left out. */
function payloadWith(changes: Record<string, unknown>): JWTPayload {
  const payload = { iss: ISSUER, aud: AUDIENCE, exp: nowSeconds() + 600, ...changes };
  return Object.fromEntries(Object.entries(payload).filter(([, value]) => value !== undefined));
}

/** A token with whatever claims a test needs, signed HS256 with `key`. */
function signed(changes: Record<string, unknown>, key: Uint8Array = SECRET): Promise<string> {
  return new SignJWT(payloadWith(changes)).setProtectedHeader({ alg: 'HS256' }).sign(key);
}

function segment(value: object): string {
  return base64url.encode(JSON.stringify(value));
}

const UNSIGNED_HEADER = segment({ alg: 'none', typ: 'JWT' });

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('mintToken and a secret verifier', () => {
  const verifier = createTokenVerifier(secretAuth);

  it('verifies a minted token to its principal', async () => {
    // Prepare
    const token = await mintToken(SECRET, claims);

    // Act
    const principal = await verifier.verify(token);

    // Assess
    expect(principal.subject).toBe('clinician-7');
    expect(principal.scopes).toStrictEqual(['user/Patient.r', 'user/Consent.u']);
    expect(principal.tokenId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('mints HS256 with a space-separated scope, sub, iss, aud, iat, exp and jti', async () => {
    // Prepare
    const now = new Date('2030-01-01T00:00:00Z');

    // Act
    const token = await mintToken(SECRET, { ...claims, now });

    // Assess
    const [header, payload] = token
      .split('.')
      .slice(0, 2)
      .map((part) => JSON.parse(new TextDecoder().decode(base64url.decode(part))));
    expect(header).toStrictEqual({ alg: 'HS256', typ: 'JWT' });
    expect(payload).toStrictEqual({
      scope: 'user/Patient.r user/Consent.u',
      sub: 'clinician-7',
      iss: ISSUER,
      aud: AUDIENCE,
      iat: 1_893_456_000,
      exp: 1_893_456_600,
      jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
  });

  it('gives every minted token its own jti', async () => {
    // Act
    const [first, second] = await Promise.all([
      mintToken(SECRET, claims).then((token) => verifier.verify(token)),
      mintToken(SECRET, claims).then((token) => verifier.verify(token)),
    ]);

    // Assess
    expect(first.tokenId).not.toBe(second.tokenId);
  });

  it.each([
    ['an scp array', { sub: 'svc', scp: ['system/Patient.c', 'user/Patient.r'] }],
    ['an scp string', { sub: 'svc', scp: 'system/Patient.c user/Patient.r' }],
    [
      'a scope string with extra spaces',
      { sub: 'svc', scope: ' system/Patient.c  user/Patient.r ' },
    ],
  ])('accepts scopes as %s', async (_, payload) => {
    // Prepare
    const token = await signed(payload);

    // Act
    const principal = await verifier.verify(token);

    // Assess
    expect(principal).toStrictEqual({
      subject: 'svc',
      scopes: ['system/Patient.c', 'user/Patient.r'],
      tokenId: undefined,
      patient: undefined,
    });
  });

  it('mints and verifies the patient launch context, lower case', async () => {
    // Prepare
    const token = await mintToken(SECRET, {
      ...claims,
      scopes: ['patient/Patient.r', 'patient/*.rs'],
      patient: PATIENT_ID.toUpperCase(),
    });

    // Act
    const principal = await verifier.verify(token);

    // Assess
    expect(principal).toMatchObject({
      scopes: ['patient/Patient.r', 'patient/*.rs'],
      patient: PATIENT_ID,
    });
  });

  it.each([
    ['user/ scopes', { sub: 'svc', scope: 'user/Patient.r', patient: PATIENT_ID }],
    ['no scopes', { sub: 'svc', patient: PATIENT_ID }],
  ])('keeps a patient claim beside %s as the launch context', async (_, payload) => {
    // Act
    const principal = await verifier.verify(await signed(payload));

    // Assess
    expect(principal.patient).toBe(PATIENT_ID);
  });

  it('refuses to mint a launch context that is not a patient id', async () => {
    // Act
    const error = await rejectionOf(mintToken(SECRET, { ...claims, patient: 'MRN-1' }));

    // Assess
    expect(error).toBeInstanceOf(RangeError);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    [
      'a patient/ scope without a patient claim',
      { sub: 'app', scope: 'patient/Patient.r' },
      /patient\/ scope needs the patient launch context/,
    ],
    [
      'a patient/ scope among user/ scopes without a patient claim',
      { sub: 'app', scp: ['user/Patient.r', 'patient/Observation.rs'] },
      /patient\/ scope needs the patient launch context/,
    ],
    [
      'a narrowed patient/ scope without a patient claim',
      { sub: 'app', scope: 'patient/Observation.rs?category=laboratory' },
      /patient\/ scope needs the patient launch context/,
    ],
    [
      'a patient claim that is not a UUID',
      { sub: 'app', scope: 'patient/Patient.r', patient: 'MRN-1' },
      /is not valid/,
    ],
    [
      'a patient claim that is not a string',
      { sub: 'app', scope: 'patient/Patient.r', patient: [PATIENT_ID] },
      /is not valid/,
    ],
    [
      'an empty patient claim',
      { sub: 'app', scope: 'user/Patient.r', patient: '' },
      /is not valid/,
    ],
  ])('refuses at the door %s (401)', async (_, payload, reason) => {
    // Prepare
    const token = await signed(payload);

    // Act
    const error = await rejectionOf(verifier.verify(token));

    // Assess
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect((error as UnauthorizedError).statusCode).toBe(401);
    expect((error as Error).message).toMatch(reason);
    expect((error as Error).message).not.toContain('MRN-1');
  });

  it('accepts a token without scopes as a principal with none', async () => {
    // Prepare
    const token = await signed({ sub: 'svc' });

    // Act
    const principal = await verifier.verify(token);

    // Assess
    expect(principal.scopes).toStrictEqual([]);
  });

  it('accepts a token that expired within the 30 s clock tolerance', async () => {
    // Prepare
    const token = await signed({ sub: 'svc', exp: nowSeconds() - 10 });

    // Act
    const principal = await verifier.verify(token);

    // Assess
    expect(principal.subject).toBe('svc');
  });

  const tampered = async (): Promise<string> => {
    const [header, , signature] = (await mintToken(SECRET, claims)).split('.');
    const forged = segment({
      sub: 'clinician-7',
      scope: 'system/*.*',
      iss: ISSUER,
      aud: AUDIENCE,
      exp: nowSeconds() + 600,
    });
    return `${header}.${forged}.${signature}`;
  };

  it.each<[string, () => Promise<string>, RegExp]>([
    [
      'an expired token',
      () => mintToken(SECRET, { ...claims, now: new Date(Date.now() - 2 * HOUR_MS) }),
      /has expired/,
    ],
    [
      'a token issued in the future',
      () => mintToken(SECRET, { ...claims, now: new Date(Date.now() + HOUR_MS) }),
      /not yet valid/,
    ],
    [
      'a token not valid before a future time',
      () => signed({ sub: 'svc', nbf: nowSeconds() + 600 }),
      /not yet valid/,
    ],
    [
      'a wrong audience',
      () => mintToken(SECRET, { ...claims, audience: 'another-api' }),
      /not issued for this API/,
    ],
    [
      'a wrong issuer',
      () => mintToken(SECRET, { ...claims, issuer: 'https://evil.example.test' }),
      /not issued for this API/,
    ],
    ['a wrong secret', () => mintToken(randomBytes(32), claims), /is not valid/],
    ['a tampered payload', tampered, /is not valid/],
    [
      "'alg: none'",
      async () =>
        `${UNSIGNED_HEADER}.${segment(payloadWith({ sub: 'svc', scope: 'system/*.*' }))}.`,
      /is not valid/,
    ],
    ['a missing sub', () => signed({ scope: 'user/Patient.r' }), /is not valid/],
    ['an empty sub', () => signed({ sub: '' }), /is not valid/],
    ['a sub over 256 characters', () => signed({ sub: 'x'.repeat(257) }), /is not valid/],
    ['a sub with a newline', () => signed({ sub: 'svc\nadmin' }), /is not valid/],
    ['a missing exp', () => signed({ sub: 'svc', exp: undefined }), /is not valid/],
    ['a scope that is not a string', () => signed({ sub: 'svc', scope: 42 }), /is not valid/],
    [
      'an scp array with a number',
      () => signed({ sub: 'svc', scp: ['user/Patient.r', 1] }),
      /is not valid/,
    ],
    ['a string that is not a JWT', async () => 'not.a.jwt', /is not valid/],
    ['an empty string', async () => '', /is not valid/],
  ])('rejects %s with a 401 that does not quote the token', async (_, tokenFor, reason) => {
    // Prepare
    const token = await tokenFor();

    // Act
    const error = await rejectionOf(verifier.verify(token));

    // Assess
    expect(error).toBeInstanceOf(UnauthorizedError);
    const { message, statusCode } = error as UnauthorizedError;
    expect(statusCode).toBe(401);
    expect(message).toMatch(reason);
    for (const part of token.split('.').filter((p) => p.length > 3)) {
      expect(message).not.toContain(part);
    }
  });

  it('keeps the jose error as the cause', async () => {
    // Prepare
    const token = await mintToken(randomBytes(32), claims);

    // Act
    const error = await rejectionOf(verifier.verify(token));

    // Assess
    expect((error as Error).cause).toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
  });

  it('rejects an RS/ES-signed token under a secret verifier', async () => {
    // Prepare
    const { privateKey } = await generateKeyPair('ES256');
    const token = await new SignJWT({ sub: 'svc' })
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('10m')
      .sign(privateKey);

    // Act
    const error = await rejectionOf(verifier.verify(token));

    // Assess
    expect(error).toBeInstanceOf(UnauthorizedError);
  });

  it.each([
    ['a secret under 32 bytes', randomBytes(16), claims, ConfigError],
    ['a zero lifetime', SECRET, { ...claims, ttlSeconds: 0 }, RangeError],
    ['a fractional lifetime', SECRET, { ...claims, ttlSeconds: 1.5 }, RangeError],
    ['an empty subject', SECRET, { ...claims, subject: '' }, RangeError],
  ])('refuses to mint with %s', async (_, secret, mintClaims, errorType) => {
    // Act
    const minting = mintToken(secret, mintClaims);

    // Assess
    await expect(minting).rejects.toBeInstanceOf(errorType);
  });
});

describe('a JWKS verifier', () => {
  let server: Server;
  let jwksUrl: string;
  let privateKey: CryptoKey;
  let publicKeyPem: string;
  let jwksAuth: AuthConfig;
  let requests = 0;

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    privateKey = pair.privateKey;
    publicKeyPem = await exportSPKI(pair.publicKey);
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'key-1', alg: 'ES256', use: 'sig' };
    server = createServer((_, response) => {
      requests += 1;
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    jwksUrl = `http://127.0.0.1:${port}/.well-known/jwks.json`;
    jwksAuth = { issuer: ISSUER, audience: AUDIENCE, keys: { kind: 'jwks', jwksUrl } };
  });

  afterAll(async () => {
    await new Promise<void>((resolve, reject) =>
      server.close((error) => (error ? reject(error) : resolve())),
    );
  });

  function es256(changes: Record<string, unknown>, kid = 'key-1'): Promise<string> {
    return new SignJWT(payloadWith(changes))
      .setProtectedHeader({ alg: 'ES256', kid })
      .sign(privateKey);
  }

  it('verifies an ES256 token against the served key set, fetching it once', async () => {
    // Prepare
    const verifier = createTokenVerifier(jwksAuth);
    const before = requests;
    const token = await es256({ sub: 'svc', scp: ['system/Patient.c'], jti: 'token-1' });

    // Act
    const first = await verifier.verify(token);
    const second = await verifier.verify(token);

    // Assess
    expect(first).toStrictEqual({
      subject: 'svc',
      scopes: ['system/Patient.c'],
      tokenId: 'token-1',
      patient: undefined,
    });
    expect(second).toStrictEqual(first);
    expect(requests - before).toBe(1);
  });

  it.each<[string, () => Promise<string>, string]>([
    [
      'an HS256 token signed with the public key (algorithm confusion)',
      () => signed({ sub: 'svc' }, new TextEncoder().encode(publicKeyPem)),
      'ERR_JOSE_ALG_NOT_ALLOWED',
    ],
    [
      'an ES256 token with an unknown kid',
      () => es256({ sub: 'svc' }, 'key-2'),
      'ERR_JWKS_NO_MATCHING_KEY',
    ],
    [
      'an ES256 token from another issuer',
      () => es256({ sub: 'svc', iss: 'https://evil.test' }),
      'ERR_JWT_CLAIM_VALIDATION_FAILED',
    ],
    [
      'an ES256 token without sub',
      () => es256({ scope: 'system/Patient.c' }),
      'ERR_JWT_CLAIM_VALIDATION_FAILED',
    ],
    [
      'an ES256 token signed by another key',
      async () => {
        const other = await generateKeyPair('ES256');
        return new SignJWT(payloadWith({ sub: 'svc' }))
          .setProtectedHeader({ alg: 'ES256', kid: 'key-1' })
          .sign(other.privateKey);
      },
      'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    ],
  ])('rejects %s with a 401 that does not quote the token', async (_, tokenFor, causeCode) => {
    // Prepare
    const verifier = createTokenVerifier(jwksAuth);
    const token = await tokenFor();

    // Act
    const error = await rejectionOf(verifier.verify(token));

    // Assess
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect((error as Error).cause).toMatchObject({ code: causeCode });
    for (const part of token.split('.').filter((p) => p.length > 3)) {
      expect((error as Error).message).not.toContain(part);
    }
  });

  it('answers 503, not 401, when the key set cannot be fetched', async () => {
    // Prepare
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const verifier = createTokenVerifier({
      ...jwksAuth,
      keys: { kind: 'jwks', jwksUrl: `http://127.0.0.1:${port}/jwks.json` },
    });
    const token = await es256({ sub: 'svc' });

    // Act
    const error = await rejectionOf(verifier.verify(token));

    // Assess
    expect(error).toBeInstanceOf(ServiceUnavailableError);
    expect((error as Error).message).not.toContain(token.split('.')[1]);
  });
});

describe('loadJwtSecret', () => {
  let directory: string;

  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'jwt-secret-'));
  });

  afterEach(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  it('creates a 32-byte secret file with mode 0600 in a 0700 directory', () => {
    // Prepare
    const secretFile = join(directory, 'keys', 'jwt-secret');

    // Act
    const secret = loadJwtSecret({ secret: undefined, secretFile });

    // Assess
    expect(secret.length).toBe(32);
    expect(statSync(secretFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(directory, 'keys')).mode & 0o777).toBe(0o700);
    expect(readFileSync(secretFile).equals(secret)).toBe(true);
  });

  it('reads back the secret it created', () => {
    // Prepare
    const secretFile = join(directory, 'jwt-secret');
    const created = loadJwtSecret({ secret: undefined, secretFile });

    // Act
    const loaded = loadJwtSecret({ secret: undefined, secretFile });

    // Assess
    expect(loaded.equals(created)).toBe(true);
  });

  it('reads a longer secret whole', () => {
    // Prepare
    const secretFile = join(directory, 'jwt-secret');
    const contents = randomBytes(64);
    writeFileSync(secretFile, contents, { mode: 0o600 });

    // Act
    const loaded = loadJwtSecret({ secret: undefined, secretFile });

    // Assess
    expect(loaded.equals(contents)).toBe(true);
  });

  it('lets an explicit secret win without creating a file', () => {
    // Prepare
    const secretFile = join(directory, 'jwt-secret');
    const explicit = randomBytes(32);

    // Act
    const loaded = loadJwtSecret({ secret: explicit, secretFile });

    // Assess
    expect(loaded.equals(explicit)).toBe(true);
    expect(() => statSync(secretFile)).toThrow(/ENOENT/);
  });

  it('refuses an explicit secret under 32 bytes', () => {
    // Act
    const act = () => loadJwtSecret({ secret: randomBytes(16), secretFile: UNUSED_FILE });

    // Assess
    expect(act).toThrow(ConfigError);
  });

  it.each([
    ['readable by group and others (0644)', 32, 0o644, /group or others/],
    ['writable by group (0620)', 32, 0o620, /group or others/],
    ['too short (16 bytes)', 16, 0o600, /at least 32 raw bytes/],
  ])('refuses a secret file %s, naming the path but no secret bytes', (_, length, mode, reason) => {
    // Prepare
    const secretFile = join(directory, 'jwt-secret');
    const contents = randomBytes(length);
    writeFileSync(secretFile, contents, { mode: 0o600 });
    chmodSync(secretFile, mode);

    // Act
    let error: unknown;
    try {
      loadJwtSecret({ secret: undefined, secretFile });
    } catch (caught) {
      error = caught;
    }

    // Assess
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).toMatch(reason);
    expect(message).toContain(secretFile);
    expect(message).not.toContain(contents.toString('hex'));
    expect(message).not.toContain(contents.toString('base64'));
  });

  it('is what a secret verifier reads when no secret is given', async () => {
    // Prepare
    const secretFile = join(directory, 'jwt-secret');
    const verifier = createTokenVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      keys: { kind: 'secret', secret: undefined, secretFile },
    });
    const token = await mintToken(readFileSync(secretFile), claims);

    // Act
    const principal = await verifier.verify(token);

    // Assess
    expect(principal.subject).toBe('clinician-7');
  });
});
