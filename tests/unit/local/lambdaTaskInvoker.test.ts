import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TASK_STATES } from '../../../lib/workflow/stageHandlers.ts';
import { lambdaTaskInvoker } from '../../../local/lambdaTaskInvoker.ts';
import type { TaskInvoker } from '../../../local/localStateMachine.ts';

const REGION = 'us-east-1';
const RUN_ID = '3f1c2a9e-8b7d-4c6e-9a5f-0d1e2f3a4b5c';
const INVOCATIONS = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

/** Named as local/start.ts names the stage functions for serverless-offline. */
const FUNCTION_NAMES: Readonly<Record<string, string>> = Object.fromEntries(
  TASK_STATES.map((state) => [state, `healthcare-etl-test-${state.toLowerCase()}`]),
);

interface Invocation {
  readonly method: string | undefined;
  readonly functionName: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly payload: unknown;
}

interface Answer {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body: string;
}

/** serverless-offline's report of an unhandled handler error: always errorType "Error". */
function unhandled(body: Record<string, unknown>): Answer {
  return {
    status: 200,
    headers: { 'X-Amz-Function-Error': 'Unhandled' },
    body: JSON.stringify(body),
  };
}

async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('lambdaTaskInvoker against a serverless-offline Lambda endpoint', () => {
  const invocations: Invocation[] = [];
  let answer: Answer = { status: 200, body: '{}' };
  let server: Server;
  let invoke: TaskInvoker;

  beforeAll(async () => {
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        invocations.push({
          method: request.method,
          functionName: INVOCATIONS.exec(request.url ?? '')?.[1],
          headers: request.headers,
          payload: text === '' ? undefined : JSON.parse(text),
        });
        response.writeHead(answer.status, {
          'content-type': 'application/json',
          ...answer.headers,
        });
        response.end(answer.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    invoke = lambdaTaskInvoker({
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      region: REGION,
      functionNames: FUNCTION_NAMES,
    });
  });

  beforeEach(() => {
    invocations.length = 0;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('posts the state input as the payload and returns the parsed result', async () => {
    // Prepare
    const input = { runId: RUN_ID, counts: { received: 3, valid: 2 } };
    const output = { runId: RUN_ID, counts: { received: 3, valid: 2, consented: 2 } };
    answer = { status: 200, body: JSON.stringify(output) };

    // Act
    const result = await invoke('ConsentCheck', input);

    // Assess
    expect(result).toStrictEqual(output);
    expect(invocations).toHaveLength(1);
    expect(invocations[0]).toMatchObject({
      method: 'POST',
      functionName: FUNCTION_NAMES['ConsentCheck'],
      payload: input,
    });
    expect(invocations[0]!.headers['x-amz-invocation-type'] ?? 'RequestResponse').toBe(
      'RequestResponse',
    );
  });

  it.each(TASK_STATES)('invokes the function mapped for %s', async (state) => {
    // Prepare
    answer = { status: 200, body: JSON.stringify({ runId: RUN_ID, counts: {} }) };

    // Act
    await invoke(state, { runId: RUN_ID });

    // Assess
    expect(invocations.map((invocation) => invocation.functionName)).toEqual([
      FUNCTION_NAMES[state],
    ]);
  });

  it('names an unhandled error after the head of its trace, as the ASL matches it', async () => {
    // Prepare
    answer = unhandled({
      errorMessage: 'KMS GenerateDataKey refused (AccessDeniedException)',
      errorType: 'Error',
      trace: [
        'KeyServiceRefusedError: KMS GenerateDataKey refused (AccessDeniedException)',
        '    at KmsKeyService.generateDataKey (file:///app/lib/crypto/kmsKeyService.ts:41:13)',
      ],
    });

    // Act
    const error = await rejectionOf(invoke('Transform', { runId: RUN_ID }));

    // Assess
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('KeyServiceRefusedError');
    expect(error.message).toBe('KMS GenerateDataKey refused (AccessDeniedException)');
  });

  it.each([
    ['a dotted name', ['States.Timeout: the stage timed out', '    at x'], 'States.Timeout'],
    ['a trace whose head is not an error name', ['    at handler (file:///x.ts:1:1)'], 'Error'],
    ['an empty trace', [], 'Error'],
    ['no trace', undefined, 'Error'],
    ['a head with a space in the name', ['Key Service: refused'], 'Error'],
  ])('reads %s from the trace', async (_, trace, name) => {
    // Prepare
    answer = unhandled({
      errorMessage: 'stage failed',
      errorType: 'Error',
      ...(trace === undefined ? {} : { trace }),
    });

    // Act
    const error = await rejectionOf(invoke('Load', { runId: RUN_ID }));

    // Assess
    expect(error.name).toBe(name);
    expect(error.message).toBe('stage failed');
  });

  it('prefers an errorType other than Error to the trace', async () => {
    // Prepare
    answer = unhandled({
      errorMessage: 'database unavailable (SQLSTATE 57P01)',
      errorType: 'TransientDatabaseError',
      trace: ['KeyServiceRefusedError: something else', '    at …'],
    });

    // Act
    const error = await rejectionOf(invoke('Load', { runId: RUN_ID }));

    // Assess
    expect(error.name).toBe('TransientDatabaseError');
    expect(error.message).toBe('database unavailable (SQLSTATE 57P01)');
  });

  it('gives a generic message when the error response has none', async () => {
    // Prepare
    answer = unhandled({ errorType: 'DatabaseError' });

    // Act
    const error = await rejectionOf(invoke('Load', { runId: RUN_ID }));

    // Assess
    expect(error.name).toBe('DatabaseError');
    expect(error.message).toBe('function failed');
  });

  it('fails a state that has no function with States.TaskFailed, invoking nothing', async () => {
    // Act
    const error = await rejectionOf(invoke('NoSuchState', { runId: RUN_ID }));

    // Assess
    expect(error.name).toBe('States.TaskFailed');
    expect(error.message).toContain('NoSuchState');
    expect(invocations).toEqual([]);
  });

  it('reports a Lambda endpoint fault as Lambda.ServiceException, which the ASL retries', async () => {
    // Prepare
    answer = {
      status: 500,
      headers: { 'x-amzn-errortype': 'ServiceException' },
      body: JSON.stringify({ Type: 'Service', message: 'internal failure at 10.0.0.7' }),
    };

    // Act
    const error = await rejectionOf(invoke('Extract', { runId: RUN_ID }));

    // Assess
    expect(error.name).toBe('Lambda.ServiceException');
    expect(error.message).toBe(`invoking ${FUNCTION_NAMES['Extract']} failed`);
    expect(error.message).not.toContain('10.0.0.7');
    expect(invocations).toHaveLength(1);
  });

  it('returns null for a handler that returned nothing, as AWS Lambda reports an undefined result', async () => {
    // Prepare: serverless-offline's answer when the handler resolves to undefined
    answer = { status: 200, body: '' };

    // Act
    const result = await invoke('Publish', { runId: RUN_ID });

    // Assess
    expect(result).toBeNull();
  });
});

describe('lambdaTaskInvoker without a Lambda endpoint', () => {
  it('reports an unreachable endpoint as Lambda.ServiceException', async () => {
    // Prepare: a port that was free a moment ago and has nothing listening now
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const invoke = lambdaTaskInvoker({
      endpoint: `http://127.0.0.1:${port}`,
      region: REGION,
      functionNames: FUNCTION_NAMES,
    });

    // Act
    const error = await rejectionOf(invoke('Extract', { runId: RUN_ID }));

    // Assess
    expect(error.name).toBe('Lambda.ServiceException');
    expect(error.cause).toBeInstanceOf(Error);
  });
});
