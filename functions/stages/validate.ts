import { pipelineDependencies } from '../../lib/runtime.ts';
import { createStageHandler } from '../../lib/workflow/stageHandlers.ts';

/** The Validate state of statemachine/ingest.asl.json. */
export const handler = createStageHandler('Validate', pipelineDependencies);
