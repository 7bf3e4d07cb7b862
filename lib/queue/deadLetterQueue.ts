import {
  type MessageAttributeValue,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { toQueueError } from '../aws/errors.ts';
import {
  CONTENT_TYPE_ATTRIBUTE,
  type DeadLetter,
  type DeadLetterQueue,
  IDEMPOTENCY_KEY_ATTRIBUTE,
} from './ingestQueue.ts';

/** Why the message is in the dead-letter queue: the error code it was refused with. */
export const FAILURE_CODE_ATTRIBUTE = 'failureCode';
/** The message id it had on ingest-queue, which the consumer's log lines name. */
export const FAILED_MESSAGE_ID_ATTRIBUTE = 'failedMessageId';

export interface SqsDeadLetterQueueOptions {
  readonly client: SQSClient;
  /** ingest-queue's dead-letter queue: the one its redrive policy names. */
  readonly queueUrl: string;
}

function text(value: string): MessageAttributeValue {
  return { DataType: 'String', StringValue: value };
}

/**
 * Puts a message that can never succeed into ingest-queue's dead-letter queue: its body and
 * ingest attributes unchanged, so that once the cause is fixed a redrive (StartMessageMoveTask)
 * sends it back as it came, plus why it failed and which message it was.
 */
export class SqsDeadLetterQueue implements DeadLetterQueue {
  readonly #client: SQSClient;
  readonly #queueUrl: string;

  constructor(options: SqsDeadLetterQueueOptions) {
    this.#client = options.client;
    this.#queueUrl = options.queueUrl;
  }

  async quarantine(letter: DeadLetter): Promise<void> {
    try {
      await this.#client.send(
        new SendMessageCommand({
          QueueUrl: this.#queueUrl,
          MessageBody: letter.body,
          MessageAttributes: {
            ...(letter.contentType === undefined
              ? {}
              : { [CONTENT_TYPE_ATTRIBUTE]: text(letter.contentType) }),
            [IDEMPOTENCY_KEY_ATTRIBUTE]: text(letter.idempotencyKey),
            [FAILURE_CODE_ATTRIBUTE]: text(letter.failureCode),
            [FAILED_MESSAGE_ID_ATTRIBUTE]: text(letter.messageId),
          },
        }),
      );
    } catch (error) {
      throw toQueueError('SendMessage', error);
    }
  }
}
