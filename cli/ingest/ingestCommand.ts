import { basename, join, resolve } from 'node:path';
import { MAX_INGEST_BODY_BYTES, NDJSON_MEDIA_TYPE } from '../../lib/mediaTypes.ts';
import { createApiClient } from './apiClient.ts';
import { writeFileAtomically } from './atomicFile.ts';
import { type BatchFailure, deliverBatches, endedRunCounts } from './batchDelivery.ts';
import { planBatches } from './batchPlan.ts';
import { bearerTokenSource } from './bearerToken.ts';
import { InputError, UsageError } from './errors.ts';
import { locateInput } from './inputFiles.ts';
import { contentHash, stateKey } from './inputIdentity.ts';
import { readInputFile } from './inputRecords.ts';
import { DEFAULT_BATCH_SIZE, type IngestOptions, parseCommandLine, USAGE } from './options.ts';
import { outcomeFileText, outcomeLines } from './outcomes.ts';
import { createProgressBar } from './progressBar.ts';
import { openResumeState, type StateIdentity, savedBatchSize } from './resumeState.ts';
import { summarize, summaryTable } from './summary.ts';

export interface TextStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

export interface CommandContext {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: TextStream;
  readonly stderr: TextStream;
  readonly now?: () => number;
}

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

const POLL_INTERVAL_MS = 500;

function outcomesFileFor(options: IngestOptions, inputName: string): string {
  return options.outcomesFile ?? join(options.stateDir, `${inputName}.outcomes.ndjson`);
}

function describeBatch(failure: BatchFailure, total: number): string {
  const { records, index, contentType } = failure.batch;
  const first = records[0];
  const last = records.at(-1);
  const unit = contentType === NDJSON_MEDIA_TYPE ? 'lines' : 'entries';
  const where =
    first === undefined || last === undefined
      ? ''
      : ` (${first.file} ${unit} ${first.line}-${last.line})`;
  return `batch ${index + 1}/${total}${where}`;
}

async function ingest(options: IngestOptions, context: CommandContext): Promise<number> {
  const now = context.now ?? Date.now;
  const startedAt = now();
  const bearer = bearerTokenSource(options.token, context.env);
  const inputName = basename(resolve(options.inputPath));
  const outcomesFile = outcomesFileFor(options, inputName);
  const location = locateInput(options.inputPath, [outcomesFile]);
  const files = location.files.map(readInputFile);
  const hash = contentHash(files);
  const identity: StateIdentity = {
    stateDir: options.stateDir,
    inputName,
    key: stateKey(location.resolvedPath, hash),
  };
  const batchSize = options.batchSize ?? savedBatchSize(identity) ?? DEFAULT_BATCH_SIZE;
  const plan = planBatches(files, { batchSize, maxBodyBytes: MAX_INGEST_BODY_BYTES });
  const state = openResumeState(identity, batchSize, {
    input: location.resolvedPath,
    contentHash: hash,
    batchCount: plan.batches.length,
    recordCount: plan.records.length,
  });
  const finishedBefore = [...state.batches.values()].filter(
    (saved) => saved.status === 'succeeded',
  ).length;
  if (finishedBefore > 0) {
    context.stderr.write(
      `ingest: resuming: ${finishedBefore} of ${plan.batches.length} batches finished before (state in ${state.directory})\n`,
    );
  }

  const client = createApiClient({ baseUrl: options.apiUrl, bearer });
  const bar = createProgressBar(context.stderr, options.progress && context.stderr.isTTY === true);
  const report = await deliverBatches({
    client,
    plan,
    state,
    contentHash: hash,
    maxBatches: options.maxBatches,
    runTimeoutMs: options.runTimeoutSeconds * 1000,
    pollIntervalMs: POLL_INTERVAL_MS,
    onProgress: (progress) =>
      bar.update({ ...progress, total: plan.records.length, elapsedMs: now() - startedAt }),
  }).finally(() => bar.close());

  const lines = outcomeLines(plan, report.results);
  writeFileAtomically(outcomesFile, outcomeFileText(lines));
  const runIds = new Set(lines.flatMap((line) => line.runId ?? []));
  // An API the delivery found unreachable is not asked again, run by run.
  const runCounts =
    report.failure?.code === 'api-unreachable'
      ? report.runCounts
      : await endedRunCounts(client, runIds, report.runCounts);
  const summary = summarize(lines, runCounts);
  context.stdout.write(
    summaryTable(summary, {
      batches: plan.batches.length,
      batchesSentNow: report.sentNow,
      elapsedMs: now() - startedAt,
      outcomesFile,
    }),
  );
  if (report.failure !== undefined) {
    context.stderr.write(
      `ingest: ${describeBatch(report.failure, plan.batches.length)}: ${report.failure.message}\n`,
    );
    return EXIT_FAILED;
  }
  if (summary.pending > 0) {
    context.stderr.write(
      `ingest: stopped after ${report.sentNow} batches (--max-batches); run the same command again to send the rest\n`,
    );
  }
  return EXIT_OK;
}

/** `npm run ingest -- …`: the exit code; expected failures print their message, never a stack. */
export async function ingestCommand(context: CommandContext): Promise<number> {
  try {
    const commandLine = parseCommandLine(context.argv, context.env);
    if (commandLine.help) {
      context.stdout.write(`${USAGE}\n`);
      return EXIT_OK;
    }
    return await ingest(commandLine, context);
  } catch (error) {
    if (error instanceof UsageError) {
      context.stderr.write(`ingest: ${error.message}\nRun with --help for the usage.\n`);
      return EXIT_USAGE;
    }
    if (error instanceof InputError) {
      context.stderr.write(`ingest: ${error.message}\n`);
      return EXIT_USAGE;
    }
    // File system errors (a state directory we may not write) name the path and the cause.
    context.stderr.write(`ingest: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_FAILED;
  }
}
