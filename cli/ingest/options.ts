import { parseArgs } from 'node:util';
import { apiPort, DEFAULT_API_PORT } from '../../local/stackSettings.ts';
import { UsageError } from './errors.ts';

export const DEFAULT_BATCH_SIZE = 1000;
export const DEFAULT_STATE_DIR = '.data/ingest';
export const DEFAULT_RUN_TIMEOUT_SECONDS = 600;
/** The server's own ceiling for MAX_RECORDS_PER_BATCH: no larger batch can ever be accepted. */
const MAX_BATCH_SIZE = 100_000;

export const USAGE = `Usage: npm run ingest -- <file.ndjson | bundle.json | directory> [options]

Sends FHIR R4 data through the API (POST /api/v1/ingest) in batches, one batch at a time,
waits for each batch's run, and writes one outcome line per input record. Run it again on
the same input to resume: batches that finished are not sent again.

Input
  file.ndjson   one resource per line (FHIR Bulk Data); blank lines are not records
  bundle.json   a FHIR Bundle (collection, batch or transaction): sent whole when it fits in
                one batch (--batch-size entries and 6 MB); otherwise its entries are split, in
                order, into collection Bundles of at most --batch-size entries, and a urn:uuid
                reference to an entry that lands in another batch no longer resolves
  directory     its *.ndjson and *.json files (not subdirectories), such as a Bulk Data
                export: Consent.* files first, then Patient.*, then the types no patient
                owns (Organization.*, Location.*, Practitioner.*, Medication.*, …), then
                the others; each group by name

  A new Patient is stored only with an active permit Consent, sent with it or before it
  (a Consent for a patient not stored yet waits for that Patient). A Patient sent without
  one is blocked and not stored: a Consent or Observation sent after it finds no patient,
  so send the Patient again after its Consent. Put Observations after their Patients.

Options
  --api URL            the API (env ETL_API_URL; else http://127.0.0.1:$PORT, as npm start
                       listens; default http://127.0.0.1:${DEFAULT_API_PORT})
  --token TOKEN        bearer token with scope system/Patient.c (env ETL_TOKEN); without one,
                       a 1-hour token is minted with the local development secret
                       (AUTH_JWT_SECRET or .data/jwt-secret, as npm run token does)
  --batch-size N       records per batch (default ${DEFAULT_BATCH_SIZE}, or the size the input was
                       started with); at most the server's MAX_RECORDS_PER_BATCH
  --outcomes FILE      the outcome file (default <state-dir>/<input name>.outcomes.ndjson)
  --state-dir DIR      where progress is kept for resuming (default ${DEFAULT_STATE_DIR})
  --max-batches N      send at most N batches this time, then stop; run again to go on
  --run-timeout SEC    how long to wait for one batch's run (default ${DEFAULT_RUN_TIMEOUT_SECONDS})
  --no-progress        no progress bar (it is drawn only when stderr is a terminal)
  -h, --help           this text

Resuming: progress is kept per input, content and batch size in
  <state-dir>/<input name>.<key>.b<batch size>/, one file per batch, written as each batch's
  run ends, so stopping at any point (Ctrl-C included) loses nothing. A changed input starts
  fresh; a batch whose run failed is sent again, one whose run was not seen to end is waited
  for again; each batch carries an Idempotency-Key, so one posted just before a stop is not
  loaded twice. Delete the directory to forget the progress.

Outcome file: one JSON line per record, in input order, rewritten whole at the end:
  {"file":…,"line":n,"resourceType":…,"resourceId":…,"outcome":…,"reason":…,"runId":…}
  line is the line number in an NDJSON file and the entry number (from 1) in a Bundle;
  resourceId is the resource's id (a Bundle entry without one: its fullUrl); outcome is
  loaded, rejected (reason schema, consent, orphan-reference, duplicate-in-batch, or
  too-large: over 6 MB alone, never sent), skipped (unsupported-type), failed (the run's
  error code, or the API's problem code when it refused the batch) or pending (not sent
  yet).

Summary (stdout): one row per resource type, received; created, updated and unchanged as its
  runs counted them; rejected by reason; skipped; then the whole input's totals.

Exit status: 0 when every batch sent has a succeeded run (rejections are not failures),
1 when a batch failed or the API stayed unreachable, 2 for a usage or input error.`;

export interface IngestOptions {
  readonly inputPath: string;
  readonly apiUrl: string;
  /** undefined: mint one with the local development secret. */
  readonly token: string | undefined;
  /** undefined: the size this input was started with, or the default. */
  readonly batchSize: number | undefined;
  readonly outcomesFile: string | undefined;
  readonly stateDir: string;
  readonly maxBatches: number | undefined;
  readonly runTimeoutSeconds: number;
  readonly progress: boolean;
}

export type CommandLine = { readonly help: true } | ({ readonly help: false } & IngestOptions);

type Environment = Readonly<Record<string, string | undefined>>;

function wholeNumber(flag: string, value: string | undefined, max: number): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < 1 || number > max) {
    throw new UsageError(`${flag} must be a whole number from 1 to ${max}`);
  }
  return number;
}

function apiUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--api must be an http(s) URL, e.g. http://127.0.0.1:${DEFAULT_API_PORT}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--api must be an http(s) URL, e.g. http://127.0.0.1:${DEFAULT_API_PORT}`);
  }
  return url.toString().replace(/\/+$/, '');
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** Where `npm start` listens when ETL_API_URL does not say: its PORT, as it reads it. */
function localApiUrl(env: Environment): string {
  try {
    return `http://127.0.0.1:${apiPort(env)}`;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function bearerToken(value: string | undefined): string | undefined {
  const token = nonEmpty(value)?.trim();
  // A token read from a file may end in a newline; fetch refuses such a header outright.
  if (token !== undefined && !/^[\x21-\x7e]+$/.test(token)) {
    throw new UsageError('the token (--token or ETL_TOKEN) must be one word of visible ASCII');
  }
  return token;
}

function parse(argv: readonly string[]) {
  try {
    return parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        api: { type: 'string' },
        token: { type: 'string' },
        'batch-size': { type: 'string' },
        outcomes: { type: 'string' },
        'state-dir': { type: 'string' },
        'max-batches': { type: 'string' },
        'run-timeout': { type: 'string' },
        'no-progress': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    // parseArgs names the offending flag; its message carries nothing else.
    throw new UsageError(error instanceof Error ? error.message : 'invalid arguments');
  }
}

/** The command line and the environment (ETL_*, PORT), checked; throws UsageError with what is wrong. */
export function parseCommandLine(argv: readonly string[], env: Environment): CommandLine {
  const { values, positionals } = parse(argv);
  if (values.help) return { help: true };
  const [inputPath, ...extra] = positionals;
  if (inputPath === undefined || inputPath === '') {
    throw new UsageError('the input is missing: a file.ndjson, a bundle.json or a directory');
  }
  if (extra.length > 0) throw new UsageError(`one input at a time; also given: ${extra.join(' ')}`);
  return {
    help: false,
    inputPath,
    apiUrl: apiUrl(nonEmpty(values.api) ?? nonEmpty(env['ETL_API_URL']) ?? localApiUrl(env)),
    token: bearerToken(nonEmpty(values.token) ?? env['ETL_TOKEN']),
    batchSize: wholeNumber('--batch-size', values['batch-size'], MAX_BATCH_SIZE),
    outcomesFile: nonEmpty(values.outcomes),
    stateDir: nonEmpty(values['state-dir']) ?? DEFAULT_STATE_DIR,
    maxBatches: wholeNumber('--max-batches', values['max-batches'], Number.MAX_SAFE_INTEGER),
    runTimeoutSeconds:
      wholeNumber('--run-timeout', values['run-timeout'], 86_400) ?? DEFAULT_RUN_TIMEOUT_SECONDS,
    progress: !values['no-progress'],
  };
}
