import { describe, expect, it } from 'vitest';
import { InputValidationError, UnsupportedMediaTypeError } from '../../../lib/errors.ts';
import { batchRequestOf } from '../../../lib/queue/ingestQueue.ts';
import { sqsRecord } from '../../helpers/sqsEvents.ts';
import { thrownBy } from '../../helpers/thrown.ts';

const actor = 'system:ingest-queue';
const messageId = '059f36b4-87a3-44ab-83d2-661975830a7d';
const body = '{"records":[]}';

describe('batchRequestOf: the ingest request an SQS message makes', () => {
  it('takes the body as it is, application/json by default, under the queue principal', () => {
    // Prepare
    const record = sqsRecord({ messageId, body: ` ${body}\n` });

    // Act
    const request = batchRequestOf(record, actor);

    // Assess
    expect(request).toStrictEqual({
      raw: ` ${body}\n`,
      contentType: 'application/json',
      actor,
      source: 'queue',
      idempotencyKey: `sqs:${messageId}`,
    });
  });

  it.each([
    ['application/json', 'application/json'],
    ['application/fhir+json', 'application/fhir+json'],
    ['application/fhir+ndjson', 'application/fhir+ndjson'],
    ['Application/FHIR+NDJSON; charset=UTF-8', 'application/fhir+ndjson'],
    ['application/fhir+json;charset="utf-8"', 'application/fhir+json'],
  ])('reads the contentType attribute %j as %s', (contentType, expected) => {
    // Prepare
    const record = sqsRecord({ messageId, body, attributes: { contentType } });

    // Act
    const request = batchRequestOf(record, actor);

    // Assess
    expect(request.contentType).toBe(expected);
  });

  it('keeps a custom String type such as String.mediaType', () => {
    // Prepare
    const record = sqsRecord({
      messageId,
      body,
      messageAttributes: {
        contentType: { dataType: 'String.mediaType', stringValue: 'application/fhir+ndjson' },
      },
    });

    // Act
    const request = batchRequestOf(record, actor);

    // Assess
    expect(request.contentType).toBe('application/fhir+ndjson');
  });

  it.each(['text/plain', 'application/xml', 'application/json; charset=latin1', ' '])(
    'refuses the contentType attribute %j with UnsupportedMediaTypeError (415)',
    async (contentType) => {
      // Prepare
      const record = sqsRecord({ messageId, body, attributes: { contentType } });

      // Act
      const error = await thrownBy(async () => batchRequestOf(record, actor));

      // Assess
      expect(error).toBeInstanceOf(UnsupportedMediaTypeError);
      expect(error).toMatchObject({ statusCode: 415, retryable: false });
    },
  );

  it.each([
    ['a U+FFFD, what invalid bytes become', '{"records": [{"name": "Ma\uFFFDe"}]}'],
    ['a lone surrogate', '{"records": [{"name": "Ma\uD800e"}]}'],
  ])('refuses a body holding %s as invalid UTF-8 (400)', async (_what, text) => {
    // Prepare
    const record = sqsRecord({ messageId, body: text });

    // Act
    const error = await thrownBy(async () => batchRequestOf(record, actor));

    // Assess
    expect(error).toBeInstanceOf(InputValidationError);
    expect(error).toMatchObject({
      statusCode: 400,
      problems: [expect.objectContaining({ path: '', keyword: 'encoding' })],
    });
  });

  it('uses the idempotencyKey attribute as the Idempotency-Key', () => {
    // Prepare
    const record = sqsRecord({
      messageId,
      body,
      attributes: { idempotencyKey: 'feed-42/batch-7' },
    });

    // Act
    const request = batchRequestOf(record, actor);

    // Assess
    expect(request.idempotencyKey).toBe('feed-42/batch-7');
  });

  it('derives the same key for every delivery of one message, and another for another message', () => {
    // Prepare
    const first = sqsRecord({ messageId, body });
    const redelivered = sqsRecord({ messageId, body, receiveCount: 2 });
    const other = sqsRecord({ body });

    // Act
    const keys = [first, redelivered, other].map((r) => batchRequestOf(r, actor).idempotencyKey);

    // Assess
    expect(keys[0]).toBe(keys[1]);
    expect(keys[2]).not.toBe(keys[0]);
  });

  it.each([
    ['contentType', { dataType: 'Binary', binaryValue: 'YXBwbGljYXRpb24vanNvbg==' }],
    ['contentType', { dataType: 'Number', stringValue: '1' }],
    ['idempotencyKey', { dataType: 'Binary', binaryValue: 'a2V5' }],
    ['idempotencyKey', { dataType: 'Number', stringValue: '42' }],
  ])(
    'refuses a %s attribute of type %o with InputValidationError (400)',
    async (name, attribute) => {
      // Prepare
      const record = sqsRecord({ messageId, body, messageAttributes: { [name]: attribute } });

      // Act
      const error = await thrownBy(async () => batchRequestOf(record, actor));

      // Assess
      expect(error).toBeInstanceOf(InputValidationError);
      expect((error as InputValidationError).problems).toEqual([
        {
          path: `/messageAttributes/${name}`,
          keyword: 'type',
          message: 'must be a String attribute',
        },
      ]);
    },
  );
});
