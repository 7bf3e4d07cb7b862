import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import { LOCALSTACK_JWT_SECRET, PARAMS, STAGE } from './packagedStack.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Where `npm run package` wrote the CloudFormation template and the function zips. */
    packageDir: string;
    /** `osls print --stage localstack`, as JSON. */
    localStackConfigurationFile: string;
  }
}

const run = promisify(execFile);
const OUTPUT_LIMIT = 64 * 1024 * 1024;

function failure(what: string, error: unknown): Error {
  const { stdout, stderr } = error as { stdout?: string; stderr?: string };
  const output = `${stdout ?? ''}\n${stderr ?? ''}`.trim().slice(-4000);
  return new Error(`${what} failed:\n${output}`, { cause: error });
}

/**
 * Packages the stack once for the deploy tests, offline and without AWS credentials, into a
 * directory of its own (never `.serverless/`, which may hold a package someone is about to
 * deploy), and prints the LocalStack stage's resolved configuration beside it.
 */
export default async function setup(project: TestProject): Promise<() => void> {
  const dir = mkdtempSync(join(tmpdir(), 'etl-package-'));
  const packageDir = join(dir, STAGE);
  const localStackConfigurationFile = join(dir, 'localstack.json');
  const params = Object.entries(PARAMS).flatMap(([name, value]) => ['--param', `${name}=${value}`]);
  // No AWS credentials, profile or endpoint: packaging must not need any.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('AWS_')),
  );
  try {
    await run(
      'npm',
      ['run', '--silent', 'package', '--', '--stage', STAGE, ...params, '--package', packageDir],
      { env, maxBuffer: OUTPUT_LIMIT, timeout: 170_000 },
    ).catch((error: unknown) => {
      throw failure('npm run package', error);
    });
    const printed = await run(
      process.execPath,
      ['node_modules/osls/bin/serverless.js', 'print', '--stage', 'localstack', '--format', 'json'],
      { env: { ...env, AUTH_JWT_SECRET: LOCALSTACK_JWT_SECRET }, maxBuffer: OUTPUT_LIMIT },
    ).catch((error: unknown) => {
      throw failure('osls print --stage localstack', error);
    });
    writeFileSync(localStackConfigurationFile, printed.stdout);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  project.provide('packageDir', packageDir);
  project.provide('localStackConfigurationFile', localStackConfigurationFile);
  return () => rmSync(dir, { recursive: true, force: true });
}
