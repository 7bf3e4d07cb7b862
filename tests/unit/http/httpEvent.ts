import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';

/** An HTTP API (payload format 2.0) event as API Gateway sends it, with the parts a test varies. */
export function httpEvent(
  overrides: Partial<Pick<APIGatewayProxyEventV2, 'headers' | 'body' | 'isBase64Encoded'>> & {
    readonly requestId?: string;
  } = {},
): APIGatewayProxyEventV2 {
  const { requestId = 'gw-request-0001', ...event } = overrides;
  return {
    version: '2.0',
    routeKey: 'POST /api/v1/ingest',
    rawPath: '/api/v1/ingest',
    rawQueryString: '',
    headers: {},
    isBase64Encoded: false,
    requestContext: {
      accountId: '000000000000',
      apiId: 'api',
      domainName: 'api.example.test',
      domainPrefix: 'api',
      http: {
        method: 'POST',
        path: '/api/v1/ingest',
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'vitest',
      },
      requestId,
      routeKey: 'POST /api/v1/ingest',
      stage: '$default',
      time: '01/Jan/2030:00:00:00 +0000',
      timeEpoch: 1_893_456_000_000,
    },
    ...event,
  };
}

export const lambdaContext: Context = {
  callbackWaitsForEmptyEventLoop: false,
  functionName: 'ingest',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:000000000000:function:ingest',
  memoryLimitInMB: '256',
  awsRequestId: 'lambda-request-1',
  logGroupName: '/aws/lambda/ingest',
  logStreamName: 'stream',
  getRemainingTimeInMillis: () => 30_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
};
