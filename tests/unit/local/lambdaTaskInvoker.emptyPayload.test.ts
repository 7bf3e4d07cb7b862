import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lambdaTaskInvoker } from '../../../local/lambdaTaskInvoker.ts';
import type { TaskInvoker } from '../../../local/stepFunctionsEndpoint.ts';

const RUN_ID = '3f1c2a9e-8b7d-4c6e-9a5f-0d1e2f3a4b5c';

describe('lambdaTaskInvoker and a handler that returned nothing', () => {
  let server: Server;
  let invoke: TaskInvoker;

  beforeAll(async () => {
    // serverless-offline answers 200 with an empty body when the handler resolves to undefined.
    server = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    invoke = lambdaTaskInvoker({
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      region: 'us-east-1',
      functionNames: { Publish: 'healthcare-etl-test-publish' },
    });
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('returns null, as AWS Lambda reports an undefined result', async () => {
    // Act
    const result = await invoke('Publish', { runId: RUN_ID });

    // Assess
    expect(result).toBeNull();
  });
});
