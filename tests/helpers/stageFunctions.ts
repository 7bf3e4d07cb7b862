import type { StageHandler, TaskState } from '../../lib/workflow/stageHandlers.ts';

/** The module under functions/stages/ that each Task state's Lambda function runs. */
const STAGE_FUNCTION_FILES: Readonly<Record<TaskState, string>> = {
  Extract: 'extract',
  Validate: 'validate',
  ConsentCheck: 'consentCheck',
  Transform: 'transform',
  Load: 'load',
  MarkFailed: 'markFailed',
  Publish: 'publish',
};

/**
 * Each Task state's handler, imported from its function module as Lambda loads it. Call it
 * once the environment the modules read is set: they configure themselves from it.
 */
export async function stageFunctionHandlers(): Promise<Record<TaskState, StageHandler>> {
  return Object.fromEntries(
    await Promise.all(
      Object.entries(STAGE_FUNCTION_FILES).map(async ([state, file]) => {
        const module = (await import(`../../functions/stages/${file}.ts`)) as {
          handler: StageHandler;
        };
        return [state, module.handler] as const;
      }),
    ),
  ) as Record<TaskState, StageHandler>;
}
