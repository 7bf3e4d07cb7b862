import middy, { type MiddlewareObj, type MiddyfiedHandler } from '@middy/core';
import type { Context } from 'aws-lambda';
import { toAppError } from '../db/errors.ts';
import { type AppError, StageInputError } from '../errors.ts';
import { isUuid } from '../ids.ts';
import { consentCheck } from '../pipeline/consentCheck.ts';
import type { PipelineDependencies } from '../pipeline/dependencies.ts';
import { extract } from '../pipeline/extract.ts';
import { load } from '../pipeline/load.ts';
import { markFailed, publish } from '../pipeline/outcome.ts';
import type { RunOutcome, StageResult } from '../pipeline/stages.ts';
import { transform } from '../pipeline/transform.ts';
import { validate } from '../pipeline/validate.ts';

/** The Task states of statemachine/ingest.asl.json, each bound to one Lambda function. */
export const TASK_STATES = [
  'Extract',
  'Validate',
  'ConsentCheck',
  'Transform',
  'Load',
  'MarkFailed',
  'Publish',
] as const;
export type TaskState = (typeof TASK_STATES)[number];

/**
 * What a stage function is invoked with to start its worker before the first run (`npm start`
 * does, so that the first run is as fast as the next). It has no runId, so it never reaches a
 * stage's work: the function answers it at once, touching no database, key or payload.
 */
export const WARM_UP_EVENT = { warmUp: true } as const;

/** How a stage function answers the warm-up event: the Task state it serves. */
export interface WarmUpAnswer {
  readonly warm: TaskState;
}

/** What a stage event gets; the warm-up event alone gets a WarmUpAnswer, ahead of the work. */
export type StageHandler = MiddyfiedHandler<unknown, StageResult | RunOutcome>;

/** Exactly `{ "warmUp": true }`: an event with anything more is a stage event, parsed as one. */
export function isWarmUpEvent(event: unknown): boolean {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return false;
  const keys = Object.keys(event);
  return (
    keys.length === 1 && keys[0] === 'warmUp' && (event as { warmUp?: unknown }).warmUp === true
  );
}

const ERROR_NAME = /^[A-Za-z][A-Za-z0-9.]{0,63}$/;

interface StageEvent {
  readonly runId: string;
  /** Set by the ASL's Catch (ResultPath $.error) on the way to MarkFailed. */
  readonly errorName: string;
}

export function parseStageEvent(event: unknown): StageEvent {
  if (typeof event !== 'object' || event === null) {
    throw new StageInputError('stage input must be an object with a runId');
  }
  const { runId, error } = event as { runId?: unknown; error?: unknown };
  if (!isUuid(runId)) {
    throw new StageInputError('stage input runId must be a UUID');
  }
  const name =
    typeof error === 'object' && error !== null ? (error as { Error?: unknown }).Error : undefined;
  return {
    runId,
    errorName: typeof name === 'string' && ERROR_NAME.test(name) ? name : 'InternalError',
  };
}

const STAGE_WORK: Record<
  TaskState,
  (deps: PipelineDependencies, event: StageEvent) => Promise<StageResult | RunOutcome>
> = {
  Extract: (deps, { runId }) => extract(deps, runId),
  Validate: (deps, { runId }) => validate(deps, runId),
  ConsentCheck: (deps, { runId }) => consentCheck(deps, runId),
  Transform: (deps, { runId }) => transform(deps, runId),
  Load: (deps, { runId }) => load(deps, runId),
  MarkFailed: (deps, { runId, errorName }) => markFailed(deps, runId, errorName),
  Publish: (deps, { runId }) => publish(deps, runId),
};

function runIdOf(event: unknown): string | undefined {
  const runId = (event as { runId?: unknown } | null)?.runId;
  return isUuid(runId) ? runId : undefined;
}

/** Answers the warm-up event before anything else runs: the handler's work is never reached. */
function warmUpAnswer(state: TaskState): MiddlewareObj<unknown, StageResult | RunOutcome> {
  return {
    name: 'warmUpAnswer',
    // middy ends the request with what a `before` returns (its early response).
    before: (request): WarmUpAnswer | undefined =>
      isWarmUpEvent(request.event) ? { warm: state } : undefined,
  };
}

/**
 * Replaces whatever a stage threw with an AppError: its name is what the ASL's Retry and
 * Catch match, and its message is ours, never a driver's (which can quote the data).
 */
function stageErrorBoundary(
  state: TaskState,
  dependencies: () => PipelineDependencies,
): MiddlewareObj<unknown, StageResult | RunOutcome> {
  return {
    name: 'stageErrorBoundary',
    onError: (request) => {
      const error: AppError = toAppError(request.error);
      const cause = error.cause;
      dependencies().logger.error('stage failed', {
        state,
        runId: runIdOf(request.event),
        error: {
          name: error.name,
          code: error.code,
          retryable: error.retryable,
          causeName: cause instanceof Error ? cause.name : undefined,
          causeCode: (cause as { code?: unknown } | undefined)?.code,
        },
      });
      request.error = error;
    },
  };
}

export function createStageHandler(
  state: TaskState,
  dependencies: () => PipelineDependencies,
): StageHandler {
  const work = STAGE_WORK[state];
  return middy<unknown, StageResult | RunOutcome>()
    .use(warmUpAnswer(state))
    .use(stageErrorBoundary(state, dependencies))
    .handler(async (event: unknown, _context: Context) => {
      const deps = dependencies();
      const parsed = parseStageEvent(event);
      const result = await work(deps, parsed);
      deps.logger.info('stage done', { state, runId: parsed.runId, counts: result.counts });
      return result;
    });
}

export function createStageHandlers(
  dependencies: () => PipelineDependencies,
): Record<TaskState, StageHandler> {
  return Object.fromEntries(
    TASK_STATES.map((state) => [state, createStageHandler(state, dependencies)]),
  ) as Record<TaskState, StageHandler>;
}
