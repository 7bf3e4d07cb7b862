import { RequestThrottled, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { QueueRefusedError, QueueUnavailableError } from '../../../lib/errors.ts';
import { SqsDeadLetterQueue } from '../../../lib/queue/deadLetterQueue.ts';
import type { DeadLetter } from '../../../lib/queue/ingestQueue.ts';

const queueUrl = 'https://sqs.us-east-1.amazonaws.com/000000000000/ingest-queue-dlq';

const letter = {
  messageId: '059f36b4-87a3-44ab-83d2-661975830a7d',
  body: 'not json at all\n',
  contentType: 'application/fhir+ndjson',
  idempotencyKey: 'sqs:059f36b4-87a3-44ab-83d2-661975830a7d',
  failureCode: 'validation-failed',
} satisfies DeadLetter;

describe('SqsDeadLetterQueue', () => {
  const sqsMock = mockClient(SQSClient);
  const deadLetters = new SqsDeadLetterQueue({
    client: new SQSClient({ region: 'us-east-1' }),
    queueUrl,
  });

  beforeEach(() => {
    sqsMock.reset();
    sqsMock.on(SendMessageCommand).resolves({ MessageId: 'a1b2c3d4-0000-4000-8000-000000000002' });
  });

  afterAll(() => {
    sqsMock.restore();
  });

  it('sends the body unchanged with its ingest attributes, the failure code and the message id', async () => {
    // Act
    await deadLetters.quarantine(letter);

    // Assess
    const calls = sqsMock.commandCalls(SendMessageCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toStrictEqual({
      QueueUrl: queueUrl,
      MessageBody: letter.body,
      MessageAttributes: {
        contentType: { DataType: 'String', StringValue: 'application/fhir+ndjson' },
        idempotencyKey: { DataType: 'String', StringValue: letter.idempotencyKey },
        failureCode: { DataType: 'String', StringValue: 'validation-failed' },
        failedMessageId: { DataType: 'String', StringValue: letter.messageId },
      },
    });
  });

  it('leaves contentType off when the message had none', async () => {
    // Act
    await deadLetters.quarantine({ ...letter, contentType: undefined });

    // Assess
    const input = sqsMock.commandCalls(SendMessageCommand)[0]!.args[0].input;
    expect(Object.keys(input.MessageAttributes ?? {}).sort()).toEqual([
      'failedMessageId',
      'failureCode',
      'idempotencyKey',
    ]);
  });

  it.each([
    [
      'a throttled queue',
      new RequestThrottled({ message: 'throttled', $metadata: {} }),
      QueueUnavailableError,
    ],
    [
      'a refused send',
      Object.assign(new Error('denied'), { name: 'AccessDenied' }),
      QueueRefusedError,
    ],
  ])('maps %s to the queue errors', async (_, failure, expected) => {
    // Prepare
    sqsMock.on(SendMessageCommand).rejects(failure);

    // Act
    const sending = deadLetters.quarantine(letter);

    // Assess
    await expect(sending).rejects.toBeInstanceOf(expected);
    await expect(sending).rejects.toMatchObject({ cause: failure });
  });
});
