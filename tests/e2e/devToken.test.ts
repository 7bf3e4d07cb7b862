import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { call } from './api.ts';

describe('the development token of the embedded stack', () => {
  const dataDir = dirname(inject('jwtSecretFile'));
  const tokenFile = join(dataDir, 'dev-token');

  it('is kept in <data dir>/dev-token, readable by its owner alone, and opens the API', async () => {
    // Act
    const mode = statSync(tokenFile).mode & 0o777;
    const token = readFileSync(tokenFile, 'utf8').trim();
    const runs = await call('GET', '/api/v1/runs?limit=1', { token });

    // Assess
    expect(mode.toString(8)).toBe('600');
    expect(token).toBe(inject('devToken'));
    expect(runs.status).toBe(200);
  });

  it('is never written to the stack’s output, which is not a terminal here: only the command reading it', () => {
    // Prepare
    const token = readFileSync(tokenFile, 'utf8').trim();

    // Act
    const log = readFileSync(inject('stackLogFile'), 'utf8');

    // Assess
    expect(log).toMatch(/^ {2}Dev token {7}cat \S+dev-token$/m);
    expect(log).not.toContain(token);
    // No JWT at all: every one starts with the base64url of '{"'.
    expect(log).not.toContain('eyJ');
  });
});
