import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ExecutionError, StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { describe, expect, it } from 'vitest';
import { RETRYABLE_ERROR_NAMES } from '../../lib/errors.ts';
import { TASK_STATES } from '../../lib/workflow/stageHandlers.ts';

interface Retrier {
  readonly ErrorEquals: readonly string[];
  readonly IntervalSeconds?: number;
  readonly MaxAttempts?: number;
  readonly BackoffRate?: number;
  readonly MaxDelaySeconds?: number;
  readonly JitterStrategy?: string;
}

interface Catcher {
  readonly ErrorEquals: readonly string[];
  readonly ResultPath?: string;
  readonly Next: string;
}

interface State {
  readonly Type: string;
  readonly Resource?: string;
  readonly Next?: string;
  readonly Retry?: readonly Retrier[];
  readonly Catch?: readonly Catcher[];
  readonly Choices?: readonly unknown[];
  readonly Default?: string;
}

interface Definition {
  readonly StartAt: string;
  readonly States: Readonly<Record<string, State>>;
}

interface AslValidation {
  readonly isValid: boolean;
  readonly errors: readonly unknown[];
  readonly errorsText: (separator?: string) => string;
}

// asl-validator is CommonJS without type declarations: typed here at the one place it is used.
const validateAsl = createRequire(import.meta.url)('asl-validator') as (
  definition: unknown,
) => AslValidation;

const raw: unknown = JSON.parse(
  readFileSync(new URL('../../statemachine/ingest.asl.json', import.meta.url), 'utf8'),
);
const definition = raw as Definition;

const PIPELINE_STAGES = ['Extract', 'Validate', 'ConsentCheck', 'Transform', 'Load'] as const;
const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];
const RUN_ID = '3f1c2a9e-8b7d-4c6e-9a5f-0d1e2f3a4b5c';
const COUNTS = { received: 2, loaded: 2 };

function stateNamed(name: string | undefined): State {
  const state = name === undefined ? undefined : definition.States[name];
  if (state === undefined) throw new Error(`ingest.asl.json has no state '${name}'`);
  return state;
}

const taskNames = Object.entries(definition.States)
  .filter(([, state]) => state.Type === 'Task')
  .map(([name]) => name);

describe('statemachine/ingest.asl.json', () => {
  it('passes asl-validator with its default options', () => {
    // Act
    const result = validateAsl(structuredClone(raw));

    // Assess
    expect(result.errorsText()).toBe('');
    expect(result.errors).toEqual([]);
    expect(result.isValid).toBe(true);
  });

  it('is accepted by aws-local-stepfunctions', () => {
    // Act
    const act = () => new StateMachine(structuredClone(raw) as StateMachineDefinition);

    // Assess
    expect(act).not.toThrow();
  });

  it('has exactly the Task states the stage handlers serve', () => {
    // Assess
    expect([...taskNames].sort()).toEqual([...TASK_STATES].sort());
  });

  it.each(TASK_STATES)('binds %s to its FunctionArn placeholder', (name) => {
    // Act
    const state = stateNamed(name);

    // Assess
    expect(state.Resource).toBe(`\${${name}FunctionArn}`);
  });

  it('runs Extract, Validate, ConsentCheck, Transform, Load, then Publish', () => {
    // Prepare
    const path: string[] = [];
    let name: string | undefined = definition.StartAt;

    // Act
    while (name !== undefined && stateNamed(name).Type === 'Task') {
      path.push(name);
      name = stateNamed(name).Next;
    }

    // Assess
    expect(path).toEqual([...PIPELINE_STAGES, 'Publish']);
  });

  it.each(TASK_STATES)('retries %s on the retryable error names first, with backoff', (name) => {
    // Act
    const [first] = stateNamed(name).Retry ?? [];

    // Assess
    expect(first).toBeDefined();
    expect([...(first?.ErrorEquals ?? [])].sort()).toEqual([...RETRYABLE_ERROR_NAMES].sort());
    expect(first?.BackoffRate).toBeGreaterThan(1);
    expect(first?.MaxAttempts).toBeGreaterThanOrEqual(2);
  });

  it.each(TASK_STATES)(
    'keeps retrying %s through a database failover or a spell of dropped connections',
    (name) => {
      // Prepare
      const [first] = stateNamed(name).Retry ?? [];
      const interval = first?.IntervalSeconds ?? 1;
      const cap = first?.MaxDelaySeconds ?? Number.POSITIVE_INFINITY;
      const waits = Array.from({ length: first?.MaxAttempts ?? 3 }, (_, attempt) =>
        Math.min(cap, interval * (first?.BackoffRate ?? 2) ** attempt),
      );

      // Act: full jitter waits a uniform fraction of each backoff, half of it on average
      const expectedSeconds = waits.reduce((sum, wait) => sum + wait, 0) / 2;

      // Assess: an RDS Multi-AZ failover takes a minute or two; the embedded stack's e2e kills for 30 s
      expect(first?.JitterStrategy).toBe('FULL');
      expect(expectedSeconds).toBeGreaterThanOrEqual(90);
      expect(cap).toBeLessThanOrEqual(30);
    },
  );

  it.each(TASK_STATES)('retries %s on the Lambda service errors', (name) => {
    // Act
    const retriers = stateNamed(name).Retry ?? [];

    // Assess
    expect(retriers.map((retrier) => [...retrier.ErrorEquals].sort())).toContainEqual(
      [...LAMBDA_SERVICE_ERRORS].sort(),
    );
  });

  it.each(PIPELINE_STAGES)(
    'catches everything in %s into $.error and goes to MarkFailed',
    (name) => {
      // Act
      const catchers = stateNamed(name).Catch;

      // Assess
      expect(catchers).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'MarkFailed' },
      ]);
    },
  );

  it('publishes the outcome after MarkFailed', () => {
    // Act
    const markFailed = stateNamed('MarkFailed');

    // Assess
    expect(markFailed.Next).toBe('Publish');
  });

  it('ends in a Fail state for a failed run and a Succeed state otherwise', () => {
    // Prepare
    const publish = stateNamed('Publish');

    // Act
    const outcome = stateNamed(publish.Next);

    // Assess
    expect(publish.Next).toBe('RunOutcome');
    expect(outcome.Type).toBe('Choice');
    expect(outcome.Choices).toHaveLength(1);
    const [choice] = (outcome.Choices ?? []) as readonly { Next?: string }[];
    expect(choice).toMatchObject({ Variable: '$.status', StringEquals: 'failed' });
    expect(stateNamed(choice?.Next).Type).toBe('Fail');
    expect(stateNamed(outcome.Default).Type).toBe('Succeed');
  });

  it.each(
    taskNames.flatMap((name) =>
      ['Parameters', 'ResultSelector', 'ResultPath', 'InputPath', 'OutputPath'].map((field) => ({
        name,
        field,
      })),
    ),
  )('leaves $field off the $name Task, so its output is the stage result', ({ name, field }) => {
    // Act
    const state = stateNamed(name);

    // Assess
    expect(state).not.toHaveProperty(field);
  });
});

describe('running statemachine/ingest.asl.json with stand-in stages', () => {
  type Json = Parameters<typeof StateMachine.prototype.run>[0];

  function stageResult(input: Json): Json {
    return { runId: (input as { runId: string }).runId, counts: COUNTS };
  }

  it('passes { runId, counts } and nothing else between the stages of a run that succeeds', async () => {
    // Prepare
    const inputs: Array<[string, Json]> = [];
    const record =
      (name: string, result: (input: Json) => Json) =>
      (input: Json): Json => {
        inputs.push([name, input]);
        return result(input);
      };
    const machine = new StateMachine(structuredClone(raw) as StateMachineDefinition);

    // Act
    const output = await machine.run(
      { runId: RUN_ID },
      {
        overrides: {
          taskResourceLocalHandlers: {
            ...Object.fromEntries(PIPELINE_STAGES.map((name) => [name, record(name, stageResult)])),
            Publish: record('Publish', (input) => ({
              ...(stageResult(input) as object),
              status: 'succeeded',
            })),
          },
        },
      },
    ).result;

    // Assess
    expect(inputs).toEqual([
      ['Extract', { runId: RUN_ID }],
      ['Validate', { runId: RUN_ID, counts: COUNTS }],
      ['ConsentCheck', { runId: RUN_ID, counts: COUNTS }],
      ['Transform', { runId: RUN_ID, counts: COUNTS }],
      ['Load', { runId: RUN_ID, counts: COUNTS }],
      ['Publish', { runId: RUN_ID, counts: COUNTS }],
    ]);
    expect(output).toEqual({ runId: RUN_ID, counts: COUNTS, status: 'succeeded' });
  });

  it('sends a failing stage to MarkFailed with the error name, then Publish, then fails', async () => {
    // Prepare
    const markFailedInputs: Json[] = [];
    const failure = Object.assign(new Error('database error (SQLSTATE 23505)'), {
      name: 'DatabaseError',
    });
    const machine = new StateMachine(structuredClone(raw) as StateMachineDefinition);

    // Act
    const running = machine.run(
      { runId: RUN_ID },
      {
        overrides: {
          taskResourceLocalHandlers: {
            Extract: stageResult,
            Validate: stageResult,
            ConsentCheck: () => {
              throw failure;
            },
            MarkFailed: (input) => {
              markFailedInputs.push(input);
              return { ...(stageResult(input) as object), status: 'failed' };
            },
            Publish: (input) => input,
          },
        },
      },
    ).result;

    // Assess
    await expect(running).rejects.toBeInstanceOf(ExecutionError);
    expect(markFailedInputs).toEqual([
      {
        runId: RUN_ID,
        counts: COUNTS,
        error: { Error: 'DatabaseError', Cause: 'database error (SQLSTATE 23505)' },
      },
    ]);
  });
});
