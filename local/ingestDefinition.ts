import { readFileSync } from 'node:fs';
import type { StateMachineDefinition } from 'aws-local-stepfunctions';

/** statemachine/ingest.asl.json: the single definition every environment runs. */
const INGEST_DEFINITION_PATH = new URL('../statemachine/ingest.asl.json', import.meta.url);

export function loadIngestDefinition(): StateMachineDefinition {
  return JSON.parse(readFileSync(INGEST_DEFINITION_PATH, 'utf8')) as StateMachineDefinition;
}
