import { describe, expect, it } from 'vitest';
import { call, counts, token } from './api.ts';

describe('a JSON body that is a falsy scalar', () => {
  it.each(['false', '0', '-0', '0.0', ' false '])(
    'POST /api/v1/ingest with body %j → 400 problem+json, nothing stored',
    async (body) => {
      // Prepare
      const writer = await token(['system/Patient.c']);
      const before = await counts();

      // Act
      const response = await call('POST', '/api/v1/ingest', {
        token: writer,
        body,
        headers: { 'content-type': 'application/json' },
      });

      // Assess
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(response.json).toMatchObject({
        type: 'urn:problem:healthcare-etl:validation-failed',
        status: 400,
      });
      expect(await counts()).toEqual(before);
    },
  );

  it.each(['false', '0'])(
    'PUT /api/v1/patients/{id}/consent with body %j → 400, not 500',
    async (body) => {
      // Prepare
      const clerk = await token(['user/Consent.u']);

      // Act
      const response = await call(
        'PUT',
        '/api/v1/patients/00000000-0000-4000-8000-000000000000/consent',
        {
          token: clerk,
          body,
          headers: { 'content-type': 'application/json' },
        },
      );

      // Assess
      expect(response.status).toBe(400);
      expect(response.json.type).toBe('urn:problem:healthcare-etl:validation-failed');
    },
  );
});
