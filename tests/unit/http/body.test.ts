import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  InputValidationError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
} from '../../../lib/errors.ts';
import type { ReadBodyOptions } from '../../../lib/http/body.ts';
import { headerValue, readBody } from '../../../lib/http/body.ts';
import { problemResponse } from '../../../lib/http/problem.ts';
import {
  FHIR_JSON_MEDIA_TYPE,
  JSON_MEDIA_TYPE,
  NDJSON_MEDIA_TYPE,
} from '../../../lib/mediaTypes.ts';
import { thrownBySync } from '../../helpers/thrown.ts';
import { httpEvent } from './httpEvent.ts';

const JSON_ONLY: ReadBodyOptions = { maxBytes: 100, accept: ['application/json'] };
const BATCH = '{"records":[{"resourceType":"Patient","mrn":"MRN-001"}]}';

describe('readBody: media type', () => {
  it.each([
    ['application/json'],
    ['Application/JSON'],
    ['application/json; charset=utf-8'],
    ['application/json;charset="UTF-8"'],
    ['application/json ; charset=utf-8 ; boundary=ignored'],
  ])('accepts %s and reports the bare media type', (contentType) => {
    // Prepare
    const event = httpEvent({ headers: { 'content-type': contentType }, body: BATCH });

    // Act
    const body = readBody(event, JSON_ONLY);

    // Assess
    expect(body).toStrictEqual({ raw: BATCH, contentType: 'application/json' });
  });

  it('finds the header whatever the case of its name', () => {
    // Prepare
    const event = httpEvent({ headers: { 'Content-Type': 'application/json' }, body: BATCH });

    // Act
    const body = readBody(event, JSON_ONLY);

    // Assess
    expect(body.contentType).toBe('application/json');
  });

  it('reports which of several accepted types was sent', () => {
    // Prepare
    const event = httpEvent({
      headers: { 'content-type': 'application/fhir+ndjson' },
      body: '{"resourceType":"Patient"}\n',
    });

    // Act
    const body = readBody(event, {
      maxBytes: 100,
      accept: ['application/json', 'application/fhir+ndjson'],
    });

    // Assess
    expect(body.contentType).toBe('application/fhir+ndjson');
  });

  it.each<[string, Record<string, string>]>([
    ['no Content-Type', {}],
    ['an empty Content-Type', { 'content-type': '' }],
    ['text/plain', { 'content-type': 'text/plain' }],
    ['a media type with the accepted one as a prefix', { 'content-type': 'application/jsonx' }],
    ['two media types', { 'content-type': 'application/json, text/plain' }],
    ['charset latin1', { 'content-type': 'application/json; charset=latin1' }],
    ['a quoted ISO-8859-1 charset', { 'content-type': 'application/json; charset="ISO-8859-1"' }],
  ])('refuses %s with a 415 naming the accepted types', (_, headers) => {
    // Prepare
    const event = httpEvent({ headers, body: BATCH });

    // Act
    const error = thrownBySync(() => readBody(event, JSON_ONLY));

    // Assess
    expect(error).toBeInstanceOf(UnsupportedMediaTypeError);
    expect((error as UnsupportedMediaTypeError).statusCode).toBe(415);
    expect((error as Error).message).toMatch(/application\/json|utf-8/);
  });
});

describe('readBody: size', () => {
  it('refuses a declared content-length over the limit before decoding the body', () => {
    // Prepare: the body is not even UTF-8, so only the length check can answer.
    const event = httpEvent({
      headers: { 'content-type': 'application/json', 'content-length': '5000000' },
      body: Buffer.from([0xff, 0xfe]).toString('base64'),
      isBase64Encoded: true,
    });

    // Act
    const error = thrownBySync(() => readBody(event, JSON_ONLY));

    // Assess
    expect(error).toBeInstanceOf(PayloadTooLargeError);
    expect((error as Error).message).toContain('100 bytes');
  });

  it.each([
    ['101 ASCII bytes', 'a'.repeat(101)],
    ['51 two-byte characters (102 bytes)', 'é'.repeat(51)],
  ])('refuses a body of %s over a 100-byte limit', (_, body) => {
    // Prepare
    const event = httpEvent({ headers: { 'content-type': 'application/json' }, body });

    // Act
    const error = thrownBySync(() => readBody(event, JSON_ONLY));

    // Assess
    expect(error).toBeInstanceOf(PayloadTooLargeError);
    expect((error as PayloadTooLargeError).statusCode).toBe(413);
  });

  it('judges the actual size when the declared length lies', () => {
    // Prepare
    const event = httpEvent({
      headers: { 'content-type': 'application/json', 'content-length': '2' },
      body: 'a'.repeat(101),
    });

    // Act
    const error = thrownBySync(() => readBody(event, JSON_ONLY));

    // Assess
    expect(error).toBeInstanceOf(PayloadTooLargeError);
  });

  it('accepts a body of exactly the limit', () => {
    // Prepare
    const body = 'é'.repeat(50);
    const event = httpEvent({ headers: { 'content-type': 'application/json' }, body });

    // Act
    const read = readBody(event, JSON_ONLY);

    // Assess
    expect(read.raw).toBe(body);
  });
});

describe('readBody: encoding', () => {
  it('decodes a base64 body, measuring its decoded size', () => {
    // Prepare: 100 bytes take 136 base64 characters.
    const text = `"${'ü'.repeat(49)}"`;
    const event = httpEvent({
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(text, 'utf8').toString('base64'),
      isBase64Encoded: true,
    });

    // Act
    const read = readBody(event, JSON_ONLY);

    // Assess
    expect(Buffer.byteLength(text)).toBe(100);
    expect(read.raw).toBe(text);
  });

  it('refuses a base64 body over the limit once decoded', () => {
    // Prepare
    const event = httpEvent({
      headers: { 'content-type': 'application/json' },
      body: Buffer.alloc(101, 0x20).toString('base64'),
      isBase64Encoded: true,
    });

    // Act
    const error = thrownBySync(() => readBody(event, JSON_ONLY));

    // Assess
    expect(error).toBeInstanceOf(PayloadTooLargeError);
  });

  it.each<[string, string | undefined, boolean]>([
    ['a missing body', undefined, false],
    ['an empty body', '', false],
    ['an empty base64 body', '', true],
  ])('refuses %s with a 400', (_, body, isBase64Encoded) => {
    // Prepare
    const event = httpEvent({
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body }),
      isBase64Encoded,
    });

    // Act
    const error = thrownBySync(() => readBody(event, JSON_ONLY));

    // Assess
    expect(error).toBeInstanceOf(InputValidationError);
    expect((error as InputValidationError).problems).toStrictEqual([
      { path: '', keyword: 'required', message: 'a request body is required' },
    ]);
  });

  it.each<[string, string, boolean]>([
    ['a lone continuation byte', Buffer.from([0x7b, 0x80, 0x7d]).toString('base64'), true],
    ['an overlong encoding', Buffer.from([0xc0, 0xaf]).toString('base64'), true],
    ['a truncated sequence', Buffer.from([0x22, 0xe2, 0x82]).toString('base64'), true],
    ['a lone surrogate in a text body', '"\ud800"', false],
  ])('refuses %s as invalid UTF-8', (_, body, isBase64Encoded) => {
    // Prepare
    const event = httpEvent({
      headers: { 'content-type': 'application/json' },
      body,
      isBase64Encoded,
    });

    // Act
    const error = thrownBySync(() => readBody(event, JSON_ONLY));

    // Assess
    expect(error).toBeInstanceOf(InputValidationError);
    expect((error as InputValidationError).problems[0]?.keyword).toBe('encoding');
  });
});

describe('readBody: invalid bytes in a body the front end decoded as text', () => {
  const INGEST: ReadBodyOptions = {
    maxBytes: 1000,
    accept: [JSON_MEDIA_TYPE, FHIR_JSON_MEDIA_TYPE, NDJSON_MEDIA_TYPE],
  };
  // What serverless-offline and API Gateway hand over for the raw bytes FF FE inside a string.
  const decodedInvalidBytes = Buffer.from([0x22, 0xff, 0xfe, 0x22]).toString('utf8');
  const BODIES: Readonly<Record<string, (text: string) => string>> = {
    [JSON_MEDIA_TYPE]: (text) =>
      `{"records":[{"resourceType":"Patient","mrn":"M","name":${text}}]}`,
    [FHIR_JSON_MEDIA_TYPE]: (text) =>
      `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":${text}}}]}`,
    [NDJSON_MEDIA_TYPE]: (text) =>
      `{"resourceType":"Patient"}\n{"resourceType":"Patient","id":${text}}\n`,
  };

  it.each([[JSON_MEDIA_TYPE], [FHIR_JSON_MEDIA_TYPE], [NDJSON_MEDIA_TYPE]])(
    'refuses a %s text body holding U+FFFD as invalid UTF-8, with a 400 problem',
    (contentType) => {
      // Prepare
      const body = BODIES[contentType]?.(decodedInvalidBytes) ?? '';
      const event = httpEvent({ headers: { 'content-type': contentType }, body });

      // Act
      const error = thrownBySync(() => readBody(event, INGEST));

      // Assess
      expect(decodedInvalidBytes).toContain('\uFFFD');
      expect(error).toBeInstanceOf(InputValidationError);
      expect((error as InputValidationError).message).toMatch(/not valid UTF-8.*U\+FFFD/);
      expect((error as InputValidationError).problems).toStrictEqual([
        {
          path: '',
          keyword: 'encoding',
          message: 'the body must be encoded as UTF-8, and a text body must not hold U+FFFD',
        },
      ]);
      const response = problemResponse(error as InputValidationError, 'corr-utf8-0001');
      expect(response.statusCode).toBe(400);
      expect(response.headers?.['content-type']).toBe('application/problem+json');
    },
  );

  it.each([[JSON_MEDIA_TYPE], [FHIR_JSON_MEDIA_TYPE], [NDJSON_MEDIA_TYPE]])(
    'refuses a base64 %s body holding the bytes FF FE, with the strict decoder',
    (contentType) => {
      // Prepare
      const prefix = Buffer.from(BODIES[contentType]?.('"x"') ?? '', 'utf8');
      const event = httpEvent({
        headers: { 'content-type': contentType },
        body: Buffer.concat([prefix, Buffer.from([0xff, 0xfe])]).toString('base64'),
        isBase64Encoded: true,
      });

      // Act
      const error = thrownBySync(() => readBody(event, INGEST));

      // Assess
      expect(error).toBeInstanceOf(InputValidationError);
      expect((error as InputValidationError).problems[0]?.keyword).toBe('encoding');
    },
  );

  it('accepts U+FFFD encoded as valid UTF-8 in a base64 body', () => {
    // Prepare
    const text = '{"records":[{"resourceType":"Patient","mrn":"M","name":"\uFFFD"}]}';
    const event = httpEvent({
      headers: { 'content-type': JSON_MEDIA_TYPE },
      body: Buffer.from(text, 'utf8').toString('base64'),
      isBase64Encoded: true,
    });

    // Act
    const read = readBody(event, INGEST);

    // Assess
    expect(read.raw).toBe(text);
  });
});

describe('readBody: options', () => {
  it.each<[string, ReadBodyOptions]>([
    ['a zero limit', { maxBytes: 0, accept: ['application/json'] }],
    ['a fractional limit', { maxBytes: 1.5, accept: ['application/json'] }],
    ['no accepted type', { maxBytes: 100, accept: [] }],
  ])('refuses %s as a programming error', (_, options) => {
    // Prepare
    const event = httpEvent({ headers: { 'content-type': 'application/json' }, body: BATCH });

    // Act
    const error = thrownBySync(() => readBody(event, options));

    // Assess
    expect(error).toBeInstanceOf(ConfigError);
  });
});

describe('headerValue', () => {
  it.each([
    ['x-request-id', 'a'],
    ['X-Request-Id', 'a'],
    ['Idempotency-Key', 'k-1'],
    ['missing', undefined],
  ])('finds %s in any case', (name, expected) => {
    // Prepare
    const event = httpEvent({ headers: { 'X-REQUEST-ID': 'a', 'idempotency-key': 'k-1' } });

    // Act
    const value = headerValue(event, name);

    // Assess
    expect(value).toBe(expected);
  });
});
