/** Static credentials, as a local endpoint takes them. */
export interface StaticCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export interface AwsClientOptions {
  /** LocalStack's URL, or a local endpoint; undefined for AWS. */
  readonly endpoint: string | undefined;
  /** undefined lets the SDK resolve the region (AWS_REGION in Lambda). */
  readonly region: string | undefined;
  /** Fixed credentials for a local endpoint; without them the SDK's default chain resolves them. */
  readonly credentials?: StaticCredentials;
  /** The SDK retries a failed request up to this many attempts in all; its default without. */
  readonly maxAttempts?: number;
}

/** What every SDK v3 client's configuration accepts of the options above. */
interface AwsClientConfig {
  endpoint?: string;
  region?: string;
  credentials?: StaticCredentials;
  maxAttempts?: number;
}

/** One AWS SDK client (KMS, SQS, Step Functions, Lambda, ...) configured the same way for each. */
export function createAwsClient<Client>(
  ClientClass: new (config: AwsClientConfig) => Client,
  options: AwsClientOptions,
): Client {
  const config: AwsClientConfig = {};
  if (options.endpoint !== undefined) config.endpoint = options.endpoint;
  if (options.region !== undefined) config.region = options.region;
  if (options.credentials !== undefined) config.credentials = options.credentials;
  if (options.maxAttempts !== undefined) config.maxAttempts = options.maxAttempts;
  return new ClientClass(config);
}
