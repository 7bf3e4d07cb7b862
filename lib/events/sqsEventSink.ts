import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { toQueueError } from '../aws/errors.ts';
import type { EventSink, RunOutcomeEvent } from './eventSink.ts';

export interface SqsEventSinkOptions {
  readonly client: SQSClient;
  /** The pipeline-events queue (a standard queue). */
  readonly queueUrl: string;
}

/**
 * Run outcomes sent to the pipeline-events queue: the event as JSON, and its identifiers as
 * message attributes so that subscribers can filter and deduplicate without parsing the body.
 * No MessageDeduplicationId or MessageGroupId: SQS refuses both on a standard queue.
 */
export class SqsEventSink implements EventSink {
  readonly #client: SQSClient;
  readonly #queueUrl: string;

  constructor(options: SqsEventSinkOptions) {
    this.#client = options.client;
    this.#queueUrl = options.queueUrl;
  }

  async publish(event: RunOutcomeEvent): Promise<void> {
    // Field by field: nothing but the event's declared identifiers and counts leaves the process.
    const body = {
      type: event.type,
      runId: event.runId,
      attempt: event.attempt,
      status: event.status,
      counts: event.counts,
      errorCode: event.errorCode,
      occurredAt: event.occurredAt,
    } satisfies RunOutcomeEvent;
    try {
      await this.#client.send(
        new SendMessageCommand({
          QueueUrl: this.#queueUrl,
          MessageBody: JSON.stringify(body),
          MessageAttributes: {
            runId: { DataType: 'String', StringValue: event.runId },
            status: { DataType: 'String', StringValue: event.status },
            type: { DataType: 'String', StringValue: event.type },
            attempt: { DataType: 'Number', StringValue: String(event.attempt) },
          },
        }),
      );
    } catch (error) {
      throw toQueueError('SendMessage', error);
    }
  }
}
