import { Logger } from '@aws-lambda-powertools/logger';
import { type Config, config, type KeyConfig } from './config.ts';
import { DataKeyCache } from './crypto/dataKeyCache.ts';
import { Keyring } from './crypto/keyring.ts';
import type { KeyService } from './crypto/keyService.ts';
import { createKmsClient, KmsKeyService } from './crypto/kmsKeyService.ts';
import { LocalKeyService } from './crypto/localKeyService.ts';
import { loadLocalMasterKey } from './crypto/masterKey.ts';
import { createPool } from './db/pool.ts';
import { TableEventSink } from './events/eventSink.ts';
import type { PipelineDependencies } from './pipeline/dependencies.ts';

/**
 * The composition root: the only place that turns configuration into adapters.
 * Which adapter runs (KMS or the local key service, ...) is decided by configuration alone.
 */
export function createKeyService(keys: KeyConfig): KeyService {
  if (keys.provider === 'kms') {
    return new KmsKeyService({
      client: createKmsClient({ endpoint: keys.endpoint, region: keys.region }),
      keyId: keys.keyId,
    });
  }
  return new LocalKeyService(loadLocalMasterKey(keys));
}

export function createLogger(settings: Pick<Config, 'logLevel'>): Logger {
  return new Logger({ serviceName: 'healthcare-etl', logLevel: settings.logLevel });
}

export function createPipelineDependencies(settings: Config): PipelineDependencies {
  const pool = createPool(settings);
  return {
    pool,
    keyring: new Keyring(createKeyService(settings.keys), new DataKeyCache(settings.keyCache)),
    events: new TableEventSink(pool),
    logger: createLogger(settings),
    now: () => new Date(),
  };
}

let shared: PipelineDependencies | undefined;

/** This process's dependencies, built on first use (a Lambda's cold start) from the environment. */
export function pipelineDependencies(): PipelineDependencies {
  shared ??= createPipelineDependencies(config());
  return shared;
}
