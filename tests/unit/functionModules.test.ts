import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const FUNCTION_DIRS = ['api', 'fhir', 'queue', 'stages'] as const;
const modules = FUNCTION_DIRS.flatMap((dir) =>
  readdirSync(new URL(`../../functions/${dir}/`, import.meta.url))
    .filter((file) => file.endsWith('.ts'))
    .map((file) => `${dir}/${file}`),
);

describe('every Lambda module', () => {
  it.each(modules)('%s loads without configuration and exports a handler', async (path) => {
    // Act: what a cold start does before the first event (schemas compile here)
    const module = (await import(`../../functions/${path}`)) as { handler?: unknown };

    // Assess
    expect(typeof module.handler).toBe('function');
  });

  it('serverless.yml binds every module, and only those', () => {
    // Prepare
    const yml = readFileSync(new URL('../../serverless.yml', import.meta.url), 'utf8');

    // Act
    const bound = [...yml.matchAll(/handler: functions\/(\S+)\.handler/g)].map((m) => `${m[1]}.ts`);

    // Assess
    expect(bound.sort()).toEqual([...modules].sort());
  });
});
