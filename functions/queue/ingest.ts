import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { consumeIngestQueue } from '../../lib/queue/ingestQueue.ts';
import { ingestQueueDependencies } from '../../lib/runtime.ts';

/**
 * ingest-queue's consumer (event source mapping with ReportBatchItemFailures): one run per
 * message, the failed messages named in the response. The message format is in lib/queue/ingestQueue.ts.
 */
export const handler = middy<SQSEvent, SQSBatchResponse>().handler((event) =>
  consumeIngestQueue(ingestQueueDependencies(), event),
);
