import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { SQSEvent, SQSMessageAttributes, SQSRecord } from 'aws-lambda';

export const INGEST_QUEUE_ARN = 'arn:aws:sqs:us-east-1:000000000000:ingest-queue';

export interface SqsMessage {
  readonly body: string;
  readonly messageId?: string;
  /** String attributes by name (`contentType`, `idempotencyKey`); use `messageAttributes` for others. */
  readonly attributes?: Readonly<Record<string, string>>;
  readonly messageAttributes?: SQSMessageAttributes;
  /** 1 for a first delivery; more for a redelivery. */
  readonly receiveCount?: number;
}

/** A record as Lambda's SQS event source mapping delivers it. */
export function sqsRecord(message: SqsMessage): SQSRecord {
  const sentAt = Date.now() - 1000;
  return {
    messageId: message.messageId ?? randomUUID(),
    receiptHandle: randomBytes(96).toString('base64'),
    body: message.body,
    attributes: {
      ApproximateReceiveCount: String(message.receiveCount ?? 1),
      SentTimestamp: String(sentAt),
      SenderId: 'AROAEXAMPLEROLEID0001:producer',
      ApproximateFirstReceiveTimestamp: String(sentAt + 200),
    },
    messageAttributes: {
      ...Object.fromEntries(
        Object.entries(message.attributes ?? {}).map(([name, value]) => [
          name,
          { stringValue: value, stringListValues: [], binaryListValues: [], dataType: 'String' },
        ]),
      ),
      ...message.messageAttributes,
    },
    md5OfBody: createHash('md5').update(message.body).digest('hex'),
    eventSource: 'aws:sqs',
    eventSourceARN: INGEST_QUEUE_ARN,
    awsRegion: 'us-east-1',
  };
}

export function sqsEvent(...records: SQSRecord[]): SQSEvent {
  return { Records: records };
}
