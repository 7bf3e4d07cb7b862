import { describe, expect, it } from 'vitest';
import { mountUrl } from '../../../lib/http/baseUrl.ts';
import { httpEvent } from './httpEvent.ts';

function get(rawPath: string, headers: Record<string, string>) {
  return { ...httpEvent({ headers }), rawPath };
}

describe('mountUrl', () => {
  it.each<[string, string, Record<string, string>, string]>([
    [
      'API Gateway (https, its own host)',
      '/fhir/r4/Observation',
      { host: 'abc123.execute-api.us-east-1.amazonaws.com', 'x-forwarded-proto': 'https' },
      'https://abc123.execute-api.us-east-1.amazonaws.com/fhir/r4',
    ],
    [
      'serverless-offline (no X-Forwarded-Proto: plain HTTP)',
      '/fhir/r4/Patient/0b7e4c1a-5d2f-4e8a-9c3b-6f1d2e3a4b5c',
      { host: '127.0.0.1:3000' },
      'http://127.0.0.1:3000/fhir/r4',
    ],
    [
      'a named stage in front of the mount',
      '/prod/fhir/r4/Observation',
      { Host: 'api.example.test', 'X-Forwarded-Proto': 'https' },
      'https://api.example.test/prod/fhir/r4',
    ],
    [
      'an IPv6 literal',
      '/fhir/r4/Observation',
      { host: '[::1]:3000' },
      'http://[::1]:3000/fhir/r4',
    ],
    [
      'an unknown scheme claimed by the client',
      '/fhir/r4/Observation',
      { host: 'api.example.test', 'x-forwarded-proto': 'javascript' },
      'http://api.example.test/fhir/r4',
    ],
  ])('answers %s with the absolute base URL', (_, rawPath, headers, expected) => {
    // Act
    const url = mountUrl(get(rawPath, headers), '/fhir/r4');

    // Assess
    expect(url).toBe(expected);
  });

  it.each<[string, Record<string, string>]>([
    ['no Host header', {}],
    ['a Host with a path in it', { host: 'evil.example/x?' }],
    ['a Host with credentials', { host: 'user:pass@evil.example' }],
    ['a Host with a space', { host: 'evil example' }],
  ])('falls back to a relative base with %s', (_, headers) => {
    // Act
    const url = mountUrl(get('/fhir/r4/Observation', headers), '/fhir/r4');

    // Assess
    expect(url).toBe('/fhir/r4');
  });

  it('ignores a prefix it cannot trust', () => {
    // Act
    const url = mountUrl(get('/a%22b/fhir/r4/Observation', { host: 'h.test' }), '/fhir/r4');

    // Assess
    expect(url).toBe('http://h.test/fhir/r4');
  });
});
