import type { Logger } from '@aws-lambda-powertools/logger';
import type { Keyring } from '../crypto/keyring.ts';
import type { Pool } from '../db/pool.ts';
import type { EventSink } from '../events/eventSink.ts';

/** The ports every stage works through; built once per process (lib/runtime.ts) or by a test. */
export interface PipelineDependencies {
  readonly pool: Pool;
  readonly keyring: Keyring;
  readonly events: EventSink;
  readonly logger: Logger;
  readonly now: () => Date;
}
