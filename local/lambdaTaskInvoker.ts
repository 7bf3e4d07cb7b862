import { InvokeCommand, type InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import { createAwsClient } from '../lib/aws/clients.ts';
import type { TaskInvoker } from './localStateMachine.ts';

interface FunctionErrorPayload {
  errorType?: unknown;
  errorMessage?: unknown;
  trace?: unknown;
}

/** An error as Step Functions sees a failed Lambda: its name is what Retry and Catch match. */
class TaskFunctionError extends Error {
  constructor(name: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = name;
  }
}

/**
 * serverless-offline reports every handler error as errorType "Error"; the real name (what
 * the ASL's Retry and Catch match, as AWS Lambda reports it) heads the stack trace it sends.
 */
function errorName(payload: FunctionErrorPayload): string {
  if (typeof payload.errorType === 'string' && payload.errorType !== 'Error')
    return payload.errorType;
  const first = Array.isArray(payload.trace) ? payload.trace[0] : undefined;
  const match = typeof first === 'string' ? /^([A-Za-z][A-Za-z0-9.]{0,63}):/.exec(first) : null;
  return match?.[1] ?? 'Error';
}

/** Invokes each Task's stage Lambda through a Lambda endpoint (serverless-offline's, embedded). */
export function lambdaTaskInvoker(options: {
  readonly endpoint: string;
  readonly region: string;
  readonly functionNames: Readonly<Record<string, string>>;
}): TaskInvoker {
  const client = createAwsClient(LambdaClient, {
    endpoint: options.endpoint,
    region: options.region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  return async (stateName, input) => {
    const functionName = options.functionNames[stateName];
    if (functionName === undefined)
      throw new TaskFunctionError('States.TaskFailed', `no function for ${stateName}`);
    let response: InvokeCommandOutput;
    try {
      response = await client.send(
        new InvokeCommand({
          FunctionName: functionName,
          Payload: Buffer.from(JSON.stringify(input)),
        }),
      );
    } catch (error) {
      throw new TaskFunctionError('Lambda.ServiceException', `invoking ${functionName} failed`, {
        cause: error,
      });
    }
    // serverless-offline answers an undefined result with an empty body, which the SDK gives as null.
    const text = response.Payload == null ? '' : Buffer.from(response.Payload).toString('utf8');
    const payload: unknown = text === '' ? null : JSON.parse(text);
    if (response.FunctionError !== undefined) {
      const failure = (payload ?? {}) as FunctionErrorPayload;
      const message =
        typeof failure.errorMessage === 'string' ? failure.errorMessage : 'function failed';
      throw new TaskFunctionError(errorName(failure), message);
    }
    return payload;
  };
}
