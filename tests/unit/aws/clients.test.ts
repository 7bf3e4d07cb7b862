import { KMSClient } from '@aws-sdk/client-kms';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { createAwsClient } from '../../../lib/aws/clients.ts';

/** What these tests read of a client's resolved configuration. */
interface ConfiguredClient {
  readonly config: {
    readonly endpoint?: () => Promise<{ hostname: string; port?: number; protocol: string }>;
    readonly region: () => Promise<string>;
    readonly credentials: () => Promise<{ accessKeyId: string; secretAccessKey: string }>;
    readonly maxAttempts: () => Promise<number>;
  };
}

const CLIENTS: readonly (readonly [
  string,
  new (config: { endpoint?: string; region?: string }) => ConfiguredClient,
])[] = [
  ['KMS', KMSClient],
  ['SQS', SQSClient],
  ['Step Functions', SFNClient],
  ['Lambda', LambdaClient],
];

describe('createAwsClient', () => {
  it.each(
    CLIENTS.flatMap(([service, Client]) => [
      [
        service,
        Client,
        'http://localstack.test:4566',
        { hostname: 'localstack.test', port: 4566, protocol: 'http:' },
      ] as const,
      [
        service,
        Client,
        'http://127.0.0.1:8083',
        { hostname: '127.0.0.1', port: 8083, protocol: 'http:' },
      ] as const,
      [
        service,
        Client,
        'https://localstack.test:4566',
        { hostname: 'localstack.test', port: 4566, protocol: 'https:' },
      ] as const,
    ]),
  )(
    'sends %s requests to the endpoint %s in the given region',
    async (_, Client, endpoint, expected) => {
      // Act
      const client = createAwsClient(Client, { endpoint, region: 'eu-west-3' });

      // Assess
      expect(await client.config.endpoint?.()).toMatchObject(expected);
      await expect(client.config.region()).resolves.toBe('eu-west-3');
    },
  );

  it.each(CLIENTS)(
    'leaves the %s endpoint to the SDK when none is configured',
    async (_, Client) => {
      // Act
      const client = createAwsClient(Client, { endpoint: undefined, region: 'eu-west-1' });

      // Assess
      expect(client.config.endpoint).toBeUndefined();
      await expect(client.config.region()).resolves.toBe('eu-west-1');
    },
  );

  it.each(CLIENTS)(
    'gives the %s client the credentials and attempts a local endpoint takes',
    async (_, Client) => {
      // Act
      const client = createAwsClient(Client, {
        endpoint: 'http://127.0.0.1:3002',
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        maxAttempts: 1,
      });

      // Assess
      await expect(client.config.credentials()).resolves.toMatchObject({
        accessKeyId: 'local',
        secretAccessKey: 'local',
      });
      await expect(client.config.maxAttempts()).resolves.toBe(1);
    },
  );

  it.each(CLIENTS)(
    'leaves the %s client the SDK default of three attempts without a limit',
    async (_, Client) => {
      // Act
      const client = createAwsClient(Client, { endpoint: undefined, region: 'us-east-1' });

      // Assess
      await expect(client.config.maxAttempts()).resolves.toBe(3);
    },
  );
});
