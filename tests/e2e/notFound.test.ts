import { describe, expect, it } from 'vitest';
import { call } from './api.ts';

describe('a request no route matches', () => {
  it.each([
    ['GET', '/no-such-route'],
    ['POST', '/api/v1/nope'],
    ['DELETE', '/health'],
  ])(
    '%s %s answers a problem+json 404 that names neither the path nor the routes',
    async (method, path) => {
      // Act
      const response = await call(method, path, {
        ...(method === 'GET' ? {} : { body: '{}' }),
        headers: { 'content-type': 'application/json' },
      });

      // Assess
      expect(response.status).toBe(404);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(response.json).toStrictEqual({
        type: 'urn:problem:healthcare-etl:not-found',
        title: 'Not Found',
        status: 404,
        detail: 'no such route',
        correlationId: expect.any(String),
      });
      expect(response.text).not.toContain(path);
    },
  );
});
