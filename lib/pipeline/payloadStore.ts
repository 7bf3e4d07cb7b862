import type { StagePayloadRecord } from '../db/repositories/stagePayloads.ts';
import { InternalError } from '../errors.ts';

/**
 * Where the claim check's sealed payloads are kept. stage_payloads stays the commit record: a
 * stage puts its sealed output first, then its transaction records what `put` returned, so a
 * payload exists for readers once (and only once) the stage that wrote it has committed.
 */
export interface PayloadStore {
  /** Where the payloads are, for logs and errors: the database, a directory or a bucket. */
  readonly location: string;
  /**
   * Keeps a sealed payload, durably, under a name unique to this attempt, and returns the record
   * stage_payloads holds for it: its location, or the ciphertext itself when kept inline.
   */
  put(runId: string, payload: string, sealed: Buffer): Promise<StagePayloadRecord>;
  /** The sealed payload at a location `put` returned; undefined when it is gone. */
  get(location: string): Promise<Buffer | undefined>;
  /** Deletes what `put` wrote for an attempt whose transaction did not record it. */
  discard(location: string): Promise<void>;
  /** Deletes every payload of the run kept here, recorded or orphaned by a failed attempt. */
  purgeRun(runId: string): Promise<void>;
}

/**
 * The payloads inline in stage_payloads: nothing is written outside the stage's transaction.
 * Payloads recorded by location were written before the switch to this store (the embedded
 * stack's directory); they are read, discarded and purged where they are, so that the runs
 * holding them finish, or can be re-driven, and leave nothing behind.
 */
export class PostgresPayloadStore implements PayloadStore {
  readonly location = 'stage_payloads';
  readonly #earlier: PayloadStore | undefined;

  /** `earlier`: where payloads were kept before; without it a located payload is an error. */
  constructor(earlier?: PayloadStore) {
    this.#earlier = earlier;
  }

  async put(_runId: string, _payload: string, sealed: Buffer): Promise<StagePayloadRecord> {
    return { ciphertext: sealed };
  }

  async get(location: string): Promise<Buffer | undefined> {
    // Not "gone": the payload is elsewhere, and the run must fail as misconfigured, not as lost.
    if (this.#earlier === undefined) {
      throw new InternalError('a payload is recorded outside the database, where no store reads');
    }
    return this.#earlier.get(location);
  }

  async discard(location: string): Promise<void> {
    await this.#earlier?.discard(location);
  }

  async purgeRun(runId: string): Promise<void> {
    await this.#earlier?.purgeRun(runId);
  }
}

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const RUN_ID = new RegExp(`^${UUID}$`);
const LOCATION = new RegExp(`^${UUID}/[a-z][A-Za-z]{0,63}-${UUID}$`);

/** An external store's name for one attempt's payload: `<runId>/<payload>-<random uuid>`. */
export function payloadLocation(runId: string, payload: string, attempt: string): string {
  const location = `${runId}/${payload}-${attempt}`;
  if (!LOCATION.test(location)) throw new InternalError('not a payload location');
  return location;
}

/** Refuses a location no `put` could have returned, so a row never names a path of its choosing. */
export function checkedLocation(location: string): string {
  if (!LOCATION.test(location)) throw new InternalError('not a payload location');
  return location;
}

export function checkedRunId(runId: string): string {
  if (!RUN_ID.test(runId)) throw new InternalError('not a run id');
  return runId;
}
