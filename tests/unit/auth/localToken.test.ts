import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createTokenVerifier } from '../../../lib/auth/tokens.ts';

const run = promisify(execFile);
const REPOSITORY = fileURLToPath(new URL('../../../', import.meta.url));
const SECRET = randomBytes(32);

interface Outcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node local/token.ts` with a clean environment, as `npm run -s token --` does. */
async function token(args: readonly string[], env: Record<string, string> = {}): Promise<Outcome> {
  const environment = {
    PATH: process.env['PATH'] ?? '',
    AUTH_JWT_SECRET: SECRET.toString('base64'),
    ...env,
  };
  try {
    const { stdout, stderr } = await run(process.execPath, ['local/token.ts', ...args], {
      cwd: REPOSITORY,
      env: environment,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

const verifier = createTokenVerifier({
  issuer: 'healthcare-etl-local',
  audience: 'healthcare-etl-api',
  keys: { kind: 'secret', secret: SECRET, secretFile: '/nonexistent/jwt-secret' },
});

describe('local/token.ts', () => {
  it('prints only a token that the verifier accepts, with the defaults', async () => {
    // Act
    const outcome = await token(['--scope', 'user/Patient.r']);

    // Assess
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const principal = await verifier.verify(outcome.stdout.trim());
    expect(principal.subject).toBe('dev-user');
    expect(principal.scopes).toStrictEqual(['user/Patient.r']);
  });

  it('takes several scopes, a subject and a lifetime', async () => {
    // Act
    const outcome = await token([
      '--scope',
      'system/Patient.c user/Patient.r',
      '--scope',
      'user/Consent.u',
      '--sub',
      'integration-test',
      '--ttl',
      '60',
    ]);

    // Assess
    expect(outcome.code).toBe(0);
    const principal = await verifier.verify(outcome.stdout.trim());
    expect(principal).toMatchObject({
      subject: 'integration-test',
      scopes: ['system/Patient.c', 'user/Patient.r', 'user/Consent.u'],
    });
  });

  it('takes a patient launch context', async () => {
    // Prepare
    const patient = '0b6f5f1e-8d3c-4f7a-9c2e-5a1d3e4f6a7b';

    // Act
    const outcome = await token(['--scope', 'patient/*.rs', '--patient', patient]);

    // Assess
    expect(outcome.code).toBe(0);
    const principal = await verifier.verify(outcome.stdout.trim());
    expect(principal).toMatchObject({ scopes: ['patient/*.rs'], patient });
  });

  it.each([
    ['no --scope', [], {}, /--scope is required.*system\/Patient\.c.*system\/AuditEvent\.r/],
    ['a scope that is not SMART', ['--scope', 'admin'], {}, /not SMART scopes: admin/],
    ['a zero --ttl', ['--scope', 'user/Patient.r', '--ttl', '0'], {}, /--ttl must be/],
    [
      'a --patient that is not a patient id',
      ['--scope', 'patient/*.rs', '--patient', 'MRN-1'],
      {},
      /--patient must be a patient id/,
    ],
    ['an unknown option', ['--scope', 'user/Patient.r', '--admin'], {}, /--admin/],
    [
      'JWKS keys configured',
      ['--scope', 'user/Patient.r'],
      { AUTH_JWKS_URL: 'https://issuer.example.test/jwks.json' },
      /AUTH_JWKS_URL/,
    ],
  ])(
    'exits 1 with %s, printing the reason on stderr and nothing on stdout',
    async (_, args, env, reason) => {
      // Act
      const outcome = await token(args, env);

      // Assess
      expect(outcome.code).toBe(1);
      expect(outcome.stdout).toBe('');
      expect(outcome.stderr).toMatch(reason);
      expect(outcome.stderr).not.toContain(SECRET.toString('base64'));
    },
  );
});
