import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  type AslDefinition,
  graphOf,
  type RunProgress,
  type StateStatus,
  stateStatuses,
} from '../../../console/stateMachineGraph.ts';
import { STAGES } from '../../../lib/pipeline/stages.ts';

const definition: AslDefinition = JSON.parse(
  readFileSync(new URL('../../../statemachine/ingest.asl.json', import.meta.url), 'utf8'),
);
const stages: ReadonlySet<string> = new Set(STAGES);
const ALL_TIMINGS = { extract: 4, validate: 3, consentCheck: 2, transform: 5, load: 9 };

function run(progress: Partial<RunProgress>): RunProgress {
  return {
    status: 'running',
    currentStage: null,
    failedStage: null,
    stageTimings: {},
    ...progress,
  };
}

function statusesOf(progress: Partial<RunProgress>): Record<string, StateStatus> {
  return Object.fromEntries(stateStatuses(definition, run(progress), stages));
}

describe('graphOf', () => {
  const graph = graphOf(definition);

  it('has a node for every state of the ASL, with its type', () => {
    // Assess
    expect(graph.nodes.map((node) => node.id)).toEqual(Object.keys(definition.States));
    expect(graph.nodes.find((node) => node.id === 'RunOutcome')?.type).toBe('Choice');
    expect(graph.nodes.find((node) => node.id === 'RunFailed')?.terminal).toBe(true);
  });

  it('has the main path, each stage’s Catch onto the failure path, the Choice’s rule and default, and the Retry loops', () => {
    // Act
    const edges = graph.edges.map(({ from, to, kind }) => `${from} -${kind}-> ${to}`);

    // Assess
    expect(edges).toEqual(
      expect.arrayContaining([
        'Extract -next-> Validate',
        'Load -next-> Publish',
        'Validate -catch-> MarkFailed',
        'Load -catch-> MarkFailed',
        'MarkFailed -next-> Publish',
        'MarkFailed -catch-> RunFailed',
        'Publish -catch-> OutcomeNotPublished',
        'RunOutcome -choice-> RunFailed',
        'RunOutcome -default-> RunSucceeded',
        'Extract -retry-> Extract',
      ]),
    );
    expect(graph.nodes.find((node) => node.id === 'Extract')?.retryAttempts).toBe(13);
  });

  it('refuses a definition whose transition names no state', () => {
    // Prepare
    const broken: AslDefinition = {
      StartAt: 'A',
      States: { A: { Type: 'Task', Next: 'Nowhere' } },
    };

    // Act / Assess
    expect(() => graphOf(broken)).toThrow('state A goes to Nowhere');
  });
});

describe('stateStatuses', () => {
  it('colours a succeeded run’s path done, through the Choice to RunSucceeded, and nothing else', () => {
    // Act
    const statuses = statusesOf({ status: 'succeeded', stageTimings: ALL_TIMINGS });

    // Assess
    expect(statuses).toEqual({
      Extract: 'done',
      Validate: 'done',
      ConsentCheck: 'done',
      Transform: 'done',
      Load: 'done',
      MarkFailed: 'not-reached',
      Publish: 'done',
      RunOutcome: 'done',
      RunSucceeded: 'done',
      RunFailed: 'not-reached',
      OutcomeNotPublished: 'not-reached',
    });
  });

  it('colours a failed run’s stage failed and follows its Catch: MarkFailed, Publish, the Choice, RunFailed', () => {
    // Act
    const statuses = statusesOf({
      status: 'failed',
      failedStage: 'load',
      stageTimings: { extract: 4, validate: 3, consentCheck: 2, transform: 5 },
    });

    // Assess
    expect(statuses).toEqual({
      Extract: 'done',
      Validate: 'done',
      ConsentCheck: 'done',
      Transform: 'done',
      Load: 'failed',
      MarkFailed: 'done',
      Publish: 'done',
      RunOutcome: 'done',
      RunSucceeded: 'not-reached',
      RunFailed: 'failed',
      OutcomeNotPublished: 'not-reached',
    });
  });

  it.each([
    ['the first stage', {}, 'Extract'],
    ['a stage after committed ones', { extract: 1, validate: 1 }, 'ConsentCheck'],
    ['Publish once every stage committed', ALL_TIMINGS, 'Publish'],
  ])('colours a running run’s current state running: %s', (_, stageTimings, running) => {
    // Act
    const statuses = statusesOf({ status: 'running', stageTimings });

    // Assess
    expect(Object.entries(statuses).filter(([, status]) => status === 'running')).toEqual([
      [running, 'running'],
    ]);
    expect(
      Object.keys(stageTimings).every((stage) =>
        Object.entries(statuses).some(
          ([id, status]) => id.toLowerCase() === stage.toLowerCase() && status === 'done',
        ),
      ),
    ).toBe(true);
  });

  it.each([
    ['queued', { status: 'queued' }],
    ['failed before its workflow started', { status: 'failed', failedStage: null }],
  ])('leaves every state not reached for a run %s', (_, progress) => {
    // Act
    const statuses = statusesOf(progress);

    // Assess
    expect(new Set(Object.values(statuses))).toEqual(new Set(['not-reached']));
  });
});
