import { describe, expect, it } from 'vitest';
import {
  CONSOLE_CONTENT_SECURITY_POLICY,
  consoleAssets,
  consolePage,
  consolePageResponse,
} from '../../../lib/console/consolePage.ts';

const BUNDLE = new URL('../../../console/dist/', import.meta.url);

describe('consolePage', () => {
  const page = consolePage();

  it('loads its script and stylesheet from /console/assets/ and has no inline script or style', () => {
    // Act
    const scripts = [...page.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];

    // Assess
    expect(scripts).toHaveLength(1);
    expect(scripts[0]?.[1]).toContain(' src="/console/assets/console.js"');
    expect(scripts[0]?.[2]).toBe('');
    expect(page).toContain('href="/console/assets/console.css"');
    expect(page).not.toMatch(/<style|style="/);
  });

  it('is served with a policy that allows this origin only: scripts, styles and connections', () => {
    // Act
    const response = consolePageResponse();

    // Assess
    expect(response.headers?.['content-security-policy']).toBe(CONSOLE_CONTENT_SECURITY_POLICY);
    for (const directive of [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "connect-src 'self'",
      "frame-ancestors 'none'",
    ]) {
      expect(CONSOLE_CONTENT_SECURITY_POLICY).toContain(directive);
    }
    expect(CONSOLE_CONTENT_SECURITY_POLICY).not.toContain('unsafe');
  });
});

describe('consoleAssets', () => {
  const asset = consoleAssets(BUNDLE);

  it.each([
    ['console.js', /^text\/javascript/],
    ['console.css', /^text\/css/],
  ])('serves %s from the bundle with the policy', (name, contentType) => {
    // Act
    const response = asset(name);

    // Assess
    expect(response?.statusCode).toBe(200);
    expect(response?.headers?.['content-type']).toMatch(contentType);
    expect(response?.headers?.['content-security-policy']).toBe(CONSOLE_CONTENT_SECURITY_POLICY);
    expect(String(response?.body).length).toBeGreaterThan(1000);
  });

  it.each([['../package.json'], ['main.ts'], ['console.js.map'], ['']])('knows no %j', (name) => {
    // Assess
    expect(asset(name)).toBeUndefined();
  });
});
