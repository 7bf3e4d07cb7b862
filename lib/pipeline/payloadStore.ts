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

/** The payloads inline in stage_payloads: nothing is written outside the stage's transaction. */
export class PostgresPayloadStore implements PayloadStore {
  readonly location = 'stage_payloads';

  async put(_runId: string, _payload: string, sealed: Buffer): Promise<StagePayloadRecord> {
    return { ciphertext: sealed };
  }

  async get(_location: string): Promise<Buffer | undefined> {
    return undefined;
  }

  async discard(_location: string): Promise<void> {}

  async purgeRun(_runId: string): Promise<void> {}
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
