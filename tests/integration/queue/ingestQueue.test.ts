import { randomUUID } from 'node:crypto';
import { RequestThrottled, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { KeyService } from '../../../lib/crypto/keyService.ts';
import {
  KeyServiceRefusedError,
  KeyServiceUnavailableError,
  ServiceUnavailableError,
} from '../../../lib/errors.ts';
import type { ExecutionState, WorkflowStarter } from '../../../lib/pipeline/dependencies.ts';
import { SqsDeadLetterQueue } from '../../../lib/queue/deadLetterQueue.ts';
import {
  consumeIngestQueue,
  type IngestQueueDependencies,
} from '../../../lib/queue/ingestQueue.ts';
import { createLogger } from '../../../lib/runtime.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { bundle, consentFor, ndjson, patientResource } from '../../helpers/fhir.ts';
import { FaultyKeyService } from '../../helpers/keyServices.ts';
import { captureOutput } from '../../helpers/output.ts';
import { createTestPipeline, flatRecord } from '../../helpers/pipeline.ts';
import { type SqsMessage, sqsEvent, sqsRecord } from '../../helpers/sqsEvents.ts';

const MAX_RECORDS = 3;
const DLQ_URL = 'https://sqs.us-east-1.amazonaws.com/000000000000/ingest-queue-dlq';

/** The workflow port as a fake: remembers every start; the calls numbered in `failing` throw as SFN down would. */
class ScriptedStarter implements WorkflowStarter {
  readonly calls: Array<{ readonly runId: string; readonly attempt: number }> = [];
  readonly #failing: ReadonlySet<number>;

  constructor(failing: readonly number[] = []) {
    this.#failing = new Set(failing);
  }

  async start(runId: string, attempt = 0): Promise<void> {
    this.calls.push({ runId, attempt });
    if (this.#failing.has(this.calls.length)) {
      throw new ServiceUnavailableError('the workflow service did not start the run');
    }
  }

  async executionHistory(): Promise<undefined> {
    return undefined;
  }

  async executionState(runId: string, attempt: number): Promise<ExecutionState> {
    const started = this.calls.some(
      (call, index) =>
        call.runId === runId && call.attempt === attempt && !this.#failing.has(index + 1),
    );
    return started ? 'RUNNING' : 'MISSING';
  }
}

interface RunRow {
  readonly id: string;
  readonly status: string;
  readonly format: string;
  readonly source: string;
  readonly idempotency_key: string;
  readonly error_code: string | null;
  readonly redrives: number;
  readonly received: number;
}

/** Each test consumes as a queue principal of its own, so its runs are told apart by actor. */
const freshActor = (name: string) => `system:ingest-queue-${name}-${randomUUID().slice(0, 8)}`;

function flatBody(mrn: string, overrides: Record<string, unknown> = {}): string {
  return JSON.stringify({ records: [flatRecord({ mrn, ...overrides })] });
}

describe('consumeIngestQueue: ingest-queue batches through intake, with partial batch failures', () => {
  const sqsMock = mockClient(SQSClient);
  const database = useTestDatabase();

  function queueDeps(
    actor: string,
    workflow: WorkflowStarter,
    options: { keyService?: KeyService; logLevel?: 'DEBUG' | 'SILENT' } = {},
  ): IngestQueueDependencies {
    const pipeline = createTestPipeline(database, {
      ...(options.keyService === undefined ? {} : { keyService: options.keyService }),
    });
    return {
      intake: {
        ...pipeline.deps,
        logger: createLogger({ logLevel: options.logLevel ?? 'SILENT' }),
        workflow,
        maxRecordsPerBatch: MAX_RECORDS,
      },
      deadLetters: new SqsDeadLetterQueue({
        client: new SQSClient({ region: 'us-east-1' }),
        queueUrl: DLQ_URL,
      }),
      actor,
    };
  }

  async function runsOf(actor: string): Promise<RunRow[]> {
    const { rows } = await database.pool.query<RunRow>(
      `SELECT id, status, format, source, idempotency_key, error_code, redrives,
              (counts->>'received')::int AS received
       FROM ingest_runs WHERE actor = $1 ORDER BY created_at`,
      [actor],
    );
    return rows;
  }

  function deadLettered() {
    return sqsMock.commandCalls(SendMessageCommand).map((call) => call.args[0].input);
  }

  beforeEach(() => {
    sqsMock.reset();
    sqsMock.on(SendMessageCommand).resolves({ MessageId: randomUUID() });
  });

  afterAll(async () => {
    sqsMock.restore();
  });

  it('starts one run per message for a flat envelope, a FHIR Bundle and NDJSON', async () => {
    // Prepare
    const actor = freshActor('formats');
    const starter = new ScriptedStarter();
    const flat = sqsRecord({ body: flatBody('MRN-Q-FLAT-1') });
    const fhirBundle = sqsRecord({
      body: bundle('collection', [
        {
          fullUrl: 'urn:uuid:0d7f5d1c-4c52-4c43-9d6e-3b1a3f2e9b10',
          resource: patientResource(undefined, 'MRN-Q-B-1', 'Bundlova'),
        },
        { resource: consentFor('urn:uuid:0d7f5d1c-4c52-4c43-9d6e-3b1a3f2e9b10') },
      ]),
      attributes: { contentType: 'application/fhir+json' },
    });
    const lines = sqsRecord({
      body: ndjson([
        patientResource('q-nd-1', 'MRN-Q-ND-1', 'Ndjsonsen'),
        consentFor('Patient/q-nd-1'),
        patientResource('q-nd-2', 'MRN-Q-ND-2', 'Ndjsonsen'),
      ]),
      attributes: { contentType: 'application/fhir+ndjson' },
    });

    // Act
    const response = await consumeIngestQueue(
      queueDeps(actor, starter),
      sqsEvent(flat, fhirBundle, lines),
    );

    // Assess
    expect(response).toStrictEqual({ batchItemFailures: [] });
    const runs = await runsOf(actor);
    expect(
      runs.map(({ format, source, status, idempotency_key, received }) => ({
        format,
        source,
        status,
        idempotency_key,
        received,
      })),
    ).toEqual([
      {
        format: 'flat',
        source: 'queue',
        status: 'queued',
        idempotency_key: `sqs:${flat.messageId}`,
        received: 1,
      },
      {
        format: 'fhir-bundle',
        source: 'queue',
        status: 'queued',
        idempotency_key: `sqs:${fhirBundle.messageId}`,
        received: 2,
      },
      {
        format: 'ndjson',
        source: 'queue',
        status: 'queued',
        idempotency_key: `sqs:${lines.messageId}`,
        received: 3,
      },
    ]);
    expect(starter.calls).toEqual(runs.map((run) => ({ runId: run.id, attempt: 0 })));
    expect(deadLettered()).toEqual([]);
  });

  it('reports only the transient message, dead-letters the permanent one, and re-runs none of the good ones', async () => {
    // Prepare: the second workflow start (the transient message's) fails
    const actor = freshActor('mixed');
    const starter = new ScriptedStarter([2]);
    const deps = queueDeps(actor, starter);
    const good = sqsRecord({ body: flatBody('MRN-Q-MIX-1') });
    const permanent = sqsRecord({ body: '{"records": [ {"name": "Jane Doe", ' });
    const transient = sqsRecord({ body: flatBody('MRN-Q-MIX-2') });
    const alsoGood = sqsRecord({ body: flatBody('MRN-Q-MIX-3') });

    // Act
    const response = await consumeIngestQueue(deps, sqsEvent(good, permanent, transient, alsoGood));

    // Assess
    expect(response).toStrictEqual({
      batchItemFailures: [{ itemIdentifier: transient.messageId }],
    });
    expect(deadLettered()).toEqual([
      {
        QueueUrl: DLQ_URL,
        MessageBody: permanent.body,
        MessageAttributes: {
          idempotencyKey: { DataType: 'String', StringValue: `sqs:${permanent.messageId}` },
          failureCode: { DataType: 'String', StringValue: 'validation-failed' },
          failedMessageId: { DataType: 'String', StringValue: permanent.messageId },
        },
      },
    ]);
    const runs = await runsOf(actor);
    expect(runs.map((run) => [run.idempotency_key, run.status, run.error_code])).toEqual([
      [`sqs:${good.messageId}`, 'queued', null],
      [`sqs:${transient.messageId}`, 'failed', 'workflow-start-failed'],
      [`sqs:${alsoGood.messageId}`, 'queued', null],
    ]);
    expect(starter.calls.map((call) => call.runId)).toEqual(runs.map((run) => run.id));
  });

  it('starts the run of a transient failure when SQS delivers the message again', async () => {
    // Prepare
    const actor = freshActor('retry');
    const starter = new ScriptedStarter([1]);
    const deps = queueDeps(actor, starter);
    const message = sqsRecord({ body: flatBody('MRN-Q-RETRY-1') });
    const first = await consumeIngestQueue(deps, sqsEvent(message));
    expect(first.batchItemFailures).toEqual([{ itemIdentifier: message.messageId }]);

    // Act
    const again = await consumeIngestQueue(
      deps,
      sqsEvent({ ...message, attributes: { ...message.attributes, ApproximateReceiveCount: '2' } }),
    );

    // Assess
    expect(again).toStrictEqual({ batchItemFailures: [] });
    const runs = await runsOf(actor);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: 'running', error_code: null, redrives: 1 });
    expect(starter.calls).toEqual([
      { runId: runs[0]!.id, attempt: 0 },
      { runId: runs[0]!.id, attempt: 1 },
    ]);
  });

  it.each([
    ['without an idempotencyKey (the key derives from the messageId)', undefined],
    ['with an idempotencyKey', 'partner-feed/batch-0042'],
  ])('starts no second run when the same message is delivered again, %s', async (_, key) => {
    // Prepare
    const actor = freshActor('redelivery');
    const starter = new ScriptedStarter();
    const deps = queueDeps(actor, starter);
    const message = sqsRecord({
      body: flatBody('MRN-Q-REDELIVER-1'),
      ...(key === undefined ? {} : { attributes: { idempotencyKey: key } }),
    });
    const redelivery: SQSRecord = {
      ...message,
      receiptHandle: `${message.receiptHandle}-2`,
      attributes: { ...message.attributes, ApproximateReceiveCount: '2' },
    };
    await consumeIngestQueue(deps, sqsEvent(message));

    // Act
    const response = await consumeIngestQueue(deps, sqsEvent(redelivery));

    // Assess
    expect(response).toStrictEqual({ batchItemFailures: [] });
    const runs = await runsOf(actor);
    expect(runs).toHaveLength(1);
    expect(runs[0]!.idempotency_key).toBe(key ?? `sqs:${message.messageId}`);
    expect(starter.calls).toEqual([{ runId: runs[0]!.id, attempt: 0 }]);
    expect(deadLettered()).toEqual([]);
  });

  it('starts one run for two messages sent with the same idempotencyKey and body', async () => {
    // Prepare: a producer that retried its SendMessage, so SQS holds two messages
    const actor = freshActor('producer-retry');
    const starter = new ScriptedStarter();
    const attributes = { idempotencyKey: 'partner-feed/batch-0043' };
    const body = flatBody('MRN-Q-PRODUCER-1');

    // Act
    const response = await consumeIngestQueue(
      queueDeps(actor, starter),
      sqsEvent(sqsRecord({ body, attributes }), sqsRecord({ body, attributes })),
    );

    // Assess
    expect(response).toStrictEqual({ batchItemFailures: [] });
    expect(await runsOf(actor)).toHaveLength(1);
    expect(starter.calls).toHaveLength(1);
  });

  it.each<[string, SqsMessage, string]>([
    ['invalid JSON', { body: '{"records": [' }, 'validation-failed'],
    ['a flat envelope without records', { body: '{"patients": []}' }, 'validation-failed'],
    [
      'more records than MAX_RECORDS_PER_BATCH',
      {
        body: JSON.stringify({
          records: [1, 2, 3, 4].map((n) => flatRecord({ mrn: `MRN-Q-BIG-${n}` })),
        }),
      },
      'payload-too-large',
    ],
    [
      'an unsupported contentType',
      { body: 'mrn,name\nMRN-Q-CSV-1,Jane Doe\n', attributes: { contentType: 'text/csv' } },
      'unsupported-media-type',
    ],
    [
      'a searchset Bundle',
      {
        body: JSON.stringify({ resourceType: 'Bundle', type: 'searchset', entry: [] }),
        attributes: { contentType: 'application/fhir+json' },
      },
      'validation-failed',
    ],
    [
      'NDJSON without a resource',
      { body: '\n\n', attributes: { contentType: 'application/fhir+ndjson' } },
      'validation-failed',
    ],
    [
      'a malformed idempotencyKey',
      { body: flatBody('MRN-Q-KEY-1'), attributes: { idempotencyKey: 'has spaces in it' } },
      'validation-failed',
    ],
  ])(
    'dead-letters a message with %s at once, acknowledges it and starts nothing',
    async (_, message, failureCode) => {
      // Prepare
      const actor = freshActor('permanent');
      const starter = new ScriptedStarter();
      const record = sqsRecord(message);

      // Act
      const response = await consumeIngestQueue(queueDeps(actor, starter), sqsEvent(record));

      // Assess
      expect(response).toStrictEqual({ batchItemFailures: [] });
      const letters = deadLettered();
      expect(letters).toHaveLength(1);
      expect(letters[0]).toMatchObject({
        QueueUrl: DLQ_URL,
        MessageBody: record.body,
        MessageAttributes: {
          failureCode: { DataType: 'String', StringValue: failureCode },
          failedMessageId: { DataType: 'String', StringValue: record.messageId },
          idempotencyKey: {
            DataType: 'String',
            StringValue: message.attributes?.['idempotencyKey'] ?? `sqs:${record.messageId}`,
          },
        },
      });
      expect(letters[0]?.MessageAttributes?.['contentType']?.StringValue).toBe(
        message.attributes?.['contentType'],
      );
      expect(await runsOf(actor)).toEqual([]);
      expect(starter.calls).toEqual([]);
    },
  );

  it('dead-letters a reused idempotencyKey with another body (the 422), keeping the first run', async () => {
    // Prepare
    const actor = freshActor('conflict');
    const starter = new ScriptedStarter();
    const deps = queueDeps(actor, starter);
    const attributes = { idempotencyKey: 'partner-feed/batch-0044' };
    await consumeIngestQueue(
      deps,
      sqsEvent(sqsRecord({ body: flatBody('MRN-Q-CONFLICT-1'), attributes })),
    );
    const other = sqsRecord({ body: flatBody('MRN-Q-CONFLICT-2'), attributes });

    // Act
    const response = await consumeIngestQueue(deps, sqsEvent(other));

    // Assess
    expect(response).toStrictEqual({ batchItemFailures: [] });
    expect(
      deadLettered().map((letter) => letter.MessageAttributes?.['failureCode']?.StringValue),
    ).toEqual(['idempotency-key-reused']);
    expect(await runsOf(actor)).toHaveLength(1);
    expect(starter.calls).toHaveLength(1);
  });

  it.each([
    ['the workflow service', { failing: [1] }],
    [
      'the key service',
      {
        keyService: new FaultyKeyService(
          () =>
            new KeyServiceUnavailableError('KMS GenerateDataKey unavailable (ThrottlingException)'),
        ),
      },
    ],
  ])(
    'reports a message for a retry when %s is unavailable, and dead-letters nothing',
    async (_, fault) => {
      // Prepare
      const actor = freshActor('transient');
      const starter = new ScriptedStarter('failing' in fault ? fault.failing : []);
      const deps = queueDeps(
        actor,
        starter,
        'keyService' in fault ? { keyService: fault.keyService } : {},
      );
      const message = sqsRecord({ body: flatBody('MRN-Q-TRANSIENT-1') });

      // Act
      const response = await consumeIngestQueue(deps, sqsEvent(message));

      // Assess
      expect(response).toStrictEqual({
        batchItemFailures: [{ itemIdentifier: message.messageId }],
      });
      expect(deadLettered()).toEqual([]);
    },
  );

  it('dead-letters at once a failure no retry mends, even one of ours (KMS refusing the key)', async () => {
    // Prepare
    const actor = freshActor('refused');
    const keyService = new FaultyKeyService(
      () => new KeyServiceRefusedError('KMS GenerateDataKey refused (AccessDeniedException)'),
    );
    const message = sqsRecord({ body: flatBody('MRN-Q-REFUSED-1') });

    // Act
    const response = await consumeIngestQueue(
      queueDeps(actor, new ScriptedStarter(), { keyService }),
      sqsEvent(message),
    );

    // Assess
    expect(response).toStrictEqual({ batchItemFailures: [] });
    expect(
      deadLettered().map((letter) => letter.MessageAttributes?.['failureCode']?.StringValue),
    ).toEqual(['key-service-refused']);
    expect(await runsOf(actor)).toEqual([]);
  });

  it('reports a permanent failure for a retry when the dead-letter queue cannot take it', async () => {
    // Prepare: SQS's redrive policy then moves it after maxReceiveCount receives
    sqsMock
      .on(SendMessageCommand)
      .rejects(new RequestThrottled({ message: 'throttled', $metadata: {} }));
    const actor = freshActor('dlq-down');
    const message = sqsRecord({ body: 'not json' });

    // Act
    const response = await consumeIngestQueue(
      queueDeps(actor, new ScriptedStarter()),
      sqsEvent(message),
    );

    // Assess
    expect(response).toStrictEqual({ batchItemFailures: [{ itemIdentifier: message.messageId }] });
    expect(sqsMock.commandCalls(SendMessageCommand)).toHaveLength(1);
    expect(await runsOf(actor)).toEqual([]);
  });

  it('logs message ids, run ids and codes, and nothing of the bodies', async () => {
    // Prepare
    const canaries = {
      name: 'Qvxz Queuecanary',
      mrn: 'MRN-QUEUE-CANARY-40417',
      ssn: '987-65-4411',
      badName: 'Wvqz Poisonmessage',
      badMrn: 'MRN-QUEUE-CANARY-POISON',
      ndjsonName: 'Zqxv Ndjsoncanary',
    };
    const actor = freshActor('logs');
    const starter = new ScriptedStarter([2]);
    const deps = queueDeps(actor, starter, { logLevel: 'DEBUG' });
    const good = sqsRecord({
      body: flatBody(canaries.mrn, { name: canaries.name, ssn: canaries.ssn }),
    });
    const poison = sqsRecord({
      body: `{"records": [{"mrn": "${canaries.badMrn}", "name": "${canaries.badName}"`,
    });
    const transient = sqsRecord({
      body: ndjson([patientResource('q-log-1', 'MRN-QUEUE-CANARY-ND', canaries.ndjsonName)]),
      attributes: { contentType: 'application/fhir+ndjson' },
    });
    const tooLarge = sqsRecord({
      body: JSON.stringify({
        records: [1, 2, 3, 4].map(() => flatRecord({ name: canaries.name })),
      }),
    });

    // Act
    const { result: response, output: logs } = await captureOutput(() =>
      consumeIngestQueue(deps, sqsEvent(good, poison, transient, tooLarge)),
    );

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: transient.messageId }]);
    for (const canary of Object.values(canaries)) expect(logs).not.toContain(canary);
    for (const record of [good, poison, transient, tooLarge])
      expect(logs).toContain(record.messageId);
    // The deferred message's run (its workflow not started) is found by its key, sqs:<messageId>.
    const accepted = (await runsOf(actor)).filter((run) => run.status === 'queued');
    expect(accepted).toHaveLength(1);
    expect(logs).toContain(accepted[0]!.id);
    expect(logs).toContain('validation-failed');
    expect(logs).toContain('payload-too-large');
    expect(logs).toContain('service-unavailable');
  });
});
