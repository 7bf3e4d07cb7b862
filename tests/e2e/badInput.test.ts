import { Buffer } from 'node:buffer';
import { describe, expect, inject, it } from 'vitest';
import { call, counts, ingestBody, token } from './api.ts';

const record = (mrn: string) => ({
  resourceType: 'Patient',
  mrn,
  name: 'Bad Input',
  consent: { data_sharing: true },
});

/** Text around the raw bytes FF FE, which are not UTF-8. */
const withInvalidBytes = (before: string, after: string): Buffer =>
  Buffer.concat([Buffer.from(before), Buffer.from([0xff, 0xfe]), Buffer.from(after)]);

describe('bad input: a clear 4xx problem+json, and nothing stored', () => {
  it.each([
    {
      name: 'a body over 6 MB',
      status: 413,
      type: 'payload-too-large',
      body: () => ingestBody([{ ...record('MRN-HUGE'), name: 'x'.repeat(6.5 * 1024 * 1024) }]),
      contentType: 'application/json',
    },
    {
      name: 'more records than the configured maximum',
      status: 413,
      type: 'payload-too-large',
      body: () =>
        ingestBody(
          Array.from({ length: inject('maxRecordsPerBatch') + 1 }, (_, i) =>
            record(`MRN-MANY-${i}`),
          ),
        ),
      contentType: 'application/json',
    },
    {
      name: 'a body that is not JSON',
      status: 400,
      type: 'validation-failed',
      body: () => '{"records": [',
      contentType: 'application/json',
    },
    {
      name: 'a wrong Content-Type',
      status: 415,
      type: 'unsupported-media-type',
      body: () => ingestBody([record('MRN-CT')]),
      contentType: 'text/plain',
    },
    {
      name: 'no Content-Type',
      status: 415,
      type: 'unsupported-media-type',
      body: () => ingestBody([record('MRN-NOCT')]),
      contentType: undefined,
    },
    {
      name: 'an envelope without records',
      status: 400,
      type: 'validation-failed',
      body: () => '{"patients": []}',
      contentType: 'application/json',
    },
    {
      name: 'records that is not an array',
      status: 400,
      type: 'validation-failed',
      body: () => '{"records": {"mrn": "MRN-OBJ"}}',
      contentType: 'application/json',
    },
    {
      name: 'an empty records array',
      status: 400,
      type: 'validation-failed',
      body: () => '{"records": []}',
      contentType: 'application/json',
    },
    {
      name: 'an empty body',
      status: 400,
      type: 'validation-failed',
      body: (): string | Buffer => '',
      contentType: 'application/json',
    },
    {
      name: 'invalid UTF-8 (FF FE) in a flat batch',
      status: 400,
      type: 'validation-failed',
      body: () =>
        withInvalidBytes('{"records":[{"resourceType":"Patient","mrn":"MRN-UTF8","name":"', '"}]}'),
      contentType: 'application/json',
    },
    {
      name: 'invalid UTF-8 (FF FE) in a FHIR Bundle',
      status: 400,
      type: 'validation-failed',
      body: () =>
        withInvalidBytes(
          '{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","name":[{"family":"',
          '"}]}}]}',
        ),
      contentType: 'application/fhir+json',
    },
    {
      name: 'invalid UTF-8 (FF FE) in an NDJSON line',
      status: 400,
      type: 'validation-failed',
      body: () => withInvalidBytes('{"resourceType":"Patient","name":[{"family":"', '"}]}\n'),
      contentType: 'application/fhir+ndjson',
    },
  ])('$name → $status', async ({ status, type, body, contentType }) => {
    // Prepare
    const writer = await token(['system/Patient.c']);
    const before = await counts();

    // Act
    const response = await call('POST', '/api/v1/ingest', {
      token: writer,
      body: body(),
      ...(contentType === undefined ? {} : { headers: { 'content-type': contentType } }),
    });

    // Assess
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(response.json).toMatchObject({
      type: `urn:problem:healthcare-etl:${type}`,
      status,
      title: expect.any(String),
      detail: expect.any(String),
      correlationId: expect.any(String),
    });
    expect(await counts()).toEqual(before);
  });

  it.each(['false', '0', '-0', '0.0', ' false '])(
    'a JSON body that is a falsy scalar, %j → 400 problem+json',
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
    'a consent body that is a falsy scalar, %j → 400, not 500',
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

  it('a schema-invalid envelope lists the failing paths, without echoing the input', async () => {
    // Prepare
    const writer = await token(['system/Patient.c']);
    const before = await counts();

    // Act
    const response = await call('POST', '/api/v1/ingest', {
      token: writer,
      body: JSON.stringify({
        records: [record('MRN-ENV-1')],
        extraSecretField: 'Jane Doe 123-45-6789',
      }),
      headers: { 'content-type': 'application/json' },
    });

    // Assess
    expect(response.status).toBe(400);
    expect(response.json.errors).toEqual([
      expect.objectContaining({ path: '', keyword: 'additionalProperties' }),
    ]);
    expect(response.text).not.toContain('Jane Doe');
    expect(response.text).not.toContain('extraSecretField');
    expect(await counts()).toEqual(before);
  });

  it.each([
    ['GET', '/api/v1/runs/not-a-uuid', 404],
    ['GET', '/api/v1/runs/00000000-0000-4000-8000-000000000000', 404],
    ['GET', '/api/v1/runs/00000000-0000-4000-8000-000000000000/rejections', 404],
    ['GET', '/api/v1/patients/00000000-0000-4000-8000-000000000000', 404],
    ['GET', '/api/v1/patients', 400],
    ['GET', `/api/v1/patients?mrn=${encodeURIComponent('MRN\n1')}`, 400],
  ])('%s %s → %i problem+json', async (method, path, status) => {
    // Prepare
    const bearer = await token(['system/Patient.c', 'user/Patient.r']);

    // Act
    const response = await call(method, path, { token: bearer });

    // Assess
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(response.json.status).toBe(status);
  });
});
