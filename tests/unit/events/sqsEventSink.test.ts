import {
  KmsAccessDenied,
  QueueDoesNotExist,
  RequestThrottled,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import {
  QueueRefusedError,
  QueueUnavailableError,
  RETRYABLE_ERROR_NAMES,
} from '../../../lib/errors.ts';
import type { RunOutcomeEvent } from '../../../lib/events/eventSink.ts';
import { SqsEventSink } from '../../../lib/events/sqsEventSink.ts';

const queueUrl = 'https://sqs.us-east-1.amazonaws.com/000000000000/pipeline-events';
const runId = '3f1c2a9e-8b7d-4c6e-9a5f-0d1e2f3a4b5c';

const failedEvent = {
  type: 'ingest.run.failed',
  runId,
  attempt: 2,
  status: 'failed',
  counts: { received: 3, rejected: 1 },
  errorCode: 'database-unavailable',
  occurredAt: '2026-03-01T10:00:00.000Z',
} satisfies RunOutcomeEvent;

const succeededEvent = {
  type: 'ingest.run.succeeded',
  runId,
  attempt: 0,
  status: 'succeeded',
  counts: { received: 2, loaded: 2 },
  errorCode: null,
  occurredAt: '2026-03-01T10:00:00.000Z',
} satisfies RunOutcomeEvent;

function sdkError(name: string, fields: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`${name} from the SDK: https://sqs.example/secret-ish`), {
    name,
    ...fields,
  });
}

describe('SqsEventSink', () => {
  const sqsMock = mockClient(SQSClient);
  const sink = new SqsEventSink({ client: new SQSClient({ region: 'us-east-1' }), queueUrl });

  beforeEach(() => {
    sqsMock.reset();
    sqsMock.on(SendMessageCommand).resolves({ MessageId: 'b7e9f1c2-0000-4000-8000-000000000001' });
  });

  afterAll(() => {
    sqsMock.restore();
  });

  it.each([
    ['a succeeded run', succeededEvent],
    ['a failed re-drive', failedEvent],
  ])(
    'sends %s to the queue as JSON, its ids and status as message attributes',
    async (_, event) => {
      // Act
      await sink.publish(event);

      // Assess
      const calls = sqsMock.commandCalls(SendMessageCommand);
      expect(calls).toHaveLength(1);
      const input = calls[0]!.args[0].input;
      expect(input).toStrictEqual({
        QueueUrl: queueUrl,
        MessageBody: expect.any(String),
        MessageAttributes: {
          runId: { DataType: 'String', StringValue: runId },
          status: { DataType: 'String', StringValue: event.status },
          type: { DataType: 'String', StringValue: event.type },
          attempt: { DataType: 'Number', StringValue: String(event.attempt) },
        },
      });
      expect(JSON.parse(input.MessageBody ?? '')).toStrictEqual(event);
    },
  );

  it('sets no FIFO fields, which a standard queue refuses', async () => {
    // Act
    await sink.publish(succeededEvent);

    // Assess
    const input = sqsMock.commandCalls(SendMessageCommand)[0]!.args[0].input;
    expect(input).not.toHaveProperty('MessageDeduplicationId');
    expect(input).not.toHaveProperty('MessageGroupId');
  });

  it('sends only the declared identifiers and counts, whatever else the event object carries', async () => {
    // Prepare: an event with undeclared PHI riding along at run time
    const phi = { name: 'Jane Doe', mrn: 'MRN-SQS-CANARY-1', ssn: '123-45-6789' };
    const event = { ...succeededEvent, patient: phi, records: [phi] } as RunOutcomeEvent;

    // Act
    await sink.publish(event);

    // Assess
    const input = sqsMock.commandCalls(SendMessageCommand)[0]!.args[0].input;
    expect(Object.keys(JSON.parse(input.MessageBody ?? '')).sort()).toEqual([
      'attempt',
      'counts',
      'errorCode',
      'occurredAt',
      'runId',
      'status',
      'type',
    ]);
    const sent = JSON.stringify(input);
    for (const value of Object.values(phi)) expect(sent).not.toContain(value);
  });

  it.each([
    ['RequestThrottled', new RequestThrottled({ message: 'throttled', $metadata: {} })],
    ['KmsThrottled', sdkError('KmsThrottled', { $metadata: { httpStatusCode: 400 } })],
    ['ThrottlingException', sdkError('ThrottlingException')],
    ['an HTTP 500', sdkError('InternalError', { $metadata: { httpStatusCode: 500 } })],
    ['an HTTP 503', sdkError('ServiceUnavailable', { $metadata: { httpStatusCode: 503 } })],
    ['TimeoutError', sdkError('TimeoutError')],
    ['ECONNREFUSED', sdkError('Error', { code: 'ECONNREFUSED' })],
    ['ECONNRESET', sdkError('Error', { code: 'ECONNRESET' })],
    ['ENOTFOUND', sdkError('Error', { code: 'ENOTFOUND' })],
  ])('maps %s to QueueUnavailableError, a name the ASL retries Publish on', async (_, failure) => {
    // Prepare
    sqsMock.on(SendMessageCommand).rejects(failure);

    // Act
    const publishing = sink.publish(failedEvent);

    // Assess
    await expect(publishing).rejects.toBeInstanceOf(QueueUnavailableError);
    await expect(publishing).rejects.toMatchObject({
      name: 'QueueUnavailableError',
      cause: failure,
      retryable: true,
    });
    expect(RETRYABLE_ERROR_NAMES).toContain('QueueUnavailableError');
  });

  it.each([
    ['QueueDoesNotExist', new QueueDoesNotExist({ message: 'no such queue', $metadata: {} })],
    ['KmsAccessDenied', new KmsAccessDenied({ message: 'denied', $metadata: {} })],
    ['AccessDenied', sdkError('AccessDenied', { $metadata: { httpStatusCode: 403 } })],
    ['InvalidParameterValue', sdkError('InvalidParameterValue')],
  ])('maps %s to QueueRefusedError, which is not retried', async (_, failure) => {
    // Prepare
    sqsMock.on(SendMessageCommand).rejects(failure);

    // Act
    const publishing = sink.publish(failedEvent);

    // Assess
    await expect(publishing).rejects.toBeInstanceOf(QueueRefusedError);
    await expect(publishing).rejects.toMatchObject({ cause: failure, retryable: false });
    expect(RETRYABLE_ERROR_NAMES).not.toContain('QueueRefusedError');
  });

  it('names the SDK error, never its message', async () => {
    // Prepare
    sqsMock.on(SendMessageCommand).rejects(sdkError('AccessDenied'));

    // Act
    const publishing = sink.publish(failedEvent);

    // Assess
    await expect(publishing).rejects.toThrow(/^SQS SendMessage refused \(AccessDenied\)$/);
  });
});
