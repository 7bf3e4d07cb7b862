import { describe, expect, it } from 'vitest';
import { StageInputError } from '../../../lib/errors.ts';
import type { PipelineDependencies } from '../../../lib/pipeline/dependencies.ts';
import {
  createStageHandler,
  isWarmUpEvent,
  parseStageEvent,
  TASK_STATES,
  WARM_UP_EVENT,
} from '../../../lib/workflow/stageHandlers.ts';
import { thrownBy, thrownBySync } from '../../helpers/thrown.ts';

const RUN_ID = '3f1c2a9e-8b7d-4c6e-9a5f-0d1e2f3a4b5c';

describe('parseStageEvent', () => {
  it.each([
    ['a lower-case UUID', RUN_ID],
    ['an upper-case UUID', RUN_ID.toUpperCase()],
  ])('reads the runId from %s, with InternalError as the error name', (_, runId) => {
    // Act
    const event = parseStageEvent({ runId });

    // Assess
    expect(event).toStrictEqual({ runId, errorName: 'InternalError' });
  });

  it('ignores the counts a previous stage passed along', () => {
    // Act
    const event = parseStageEvent({ runId: RUN_ID, counts: { received: 3 } });

    // Assess
    expect(event).toStrictEqual({ runId: RUN_ID, errorName: 'InternalError' });
  });

  it.each([
    'TransientDatabaseError',
    'KeyServiceRefusedError',
    'States.Timeout',
    'Lambda.ServiceException',
    `E${'x'.repeat(63)}`,
  ])('reads the error name %s that the Catch put on $.error', (name) => {
    // Act
    const event = parseStageEvent({
      runId: RUN_ID,
      counts: {},
      error: { Error: name, Cause: '{"errorMessage":"database unavailable (SQLSTATE 57P01)"}' },
    });

    // Assess
    expect(event).toStrictEqual({ runId: RUN_ID, errorName: name });
  });

  it.each([
    ['a space', 'Transient DatabaseError'],
    ['markup', '<script>alert(1)</script>'],
    ['a quote and SQL', "X'; DROP TABLE patients; --"],
    ['a newline', 'DatabaseError\nJane Doe'],
    ['a leading digit', '1Error'],
    ['a leading dot', '.Error'],
    ['65 characters', `E${'x'.repeat(64)}`],
    ['200 characters', 'E'.repeat(200)],
    ['an empty string', ''],
  ])('falls back to InternalError for an error name with %s', (_, name) => {
    // Act
    const event = parseStageEvent({ runId: RUN_ID, error: { Error: name, Cause: 'x' } });

    // Assess
    expect(event.errorName).toBe('InternalError');
  });

  it.each([
    ['a number', 42],
    ['null', null],
    ['an error that is not an object', 'TransientDatabaseError'],
    ['an Error field that is not a string', { Error: 42 }],
    ['no Error field', { Cause: 'x' }],
  ])('falls back to InternalError when error is %s', (_, error) => {
    // Act
    const event = parseStageEvent({ runId: RUN_ID, error });

    // Assess
    expect(event.errorName).toBe('InternalError');
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a string', RUN_ID],
    ['a number', 7],
    ['an array', [RUN_ID]],
    ['an object without runId', { counts: { received: 1 } }],
    ['a numeric runId', { runId: 12345 }],
    ['an empty runId', { runId: '' }],
    ['a runId that is not a UUID', { runId: 'run-0001-jane-doe' }],
    ['a UUID without dashes', { runId: RUN_ID.replaceAll('-', '') }],
    ['a UUID with a trailing newline', { runId: `${RUN_ID}\n` }],
    ['a runId with SQL', { runId: '1; DROP TABLE patients' }],
    ['a UUID followed by SQL', { runId: `${RUN_ID}'; DROP TABLE patients; --` }],
  ])('refuses %s with a StageInputError that does not echo it', (_, input) => {
    // Act
    const error = thrownBySync(() => parseStageEvent(input));

    // Assess
    expect(error).toBeInstanceOf(StageInputError);
    const message = (error as StageInputError).message;
    expect(message).not.toContain('DROP TABLE');
    expect(message).not.toContain('jane-doe');
    expect(message).not.toContain(RUN_ID.slice(0, 8));
  });
});

describe('the warm-up event', () => {
  /** Dependencies that count how often a stage reached for them: a stage doing work does. */
  const countedDependencies = () => {
    const reached = { count: 0 };
    const dependencies = (): PipelineDependencies => {
      reached.count += 1;
      return { logger: { error: () => undefined } } as unknown as PipelineDependencies;
    };
    return { reached, dependencies };
  };
  const context = {} as Parameters<ReturnType<typeof createStageHandler>>[1];

  it.each(TASK_STATES)(
    '%s answers it with its state name, without touching its dependencies',
    async (state) => {
      // Prepare
      const { reached, dependencies } = countedDependencies();
      const handler = createStageHandler(state, dependencies);

      // Act
      const answer = await handler(structuredClone(WARM_UP_EVENT), context);

      // Assess
      expect(answer).toStrictEqual({ warm: state });
      expect(reached.count).toBe(0);
    },
  );

  it.each([
    ['a runId beside it', { warmUp: true, runId: RUN_ID }],
    ['counts beside it', { warmUp: true, counts: {} }],
    ['an error beside it', { warmUp: true, error: { Error: 'States.ALL' } }],
    ['warmUp "true" as a string', { warmUp: 'true' }],
    ['warmUp false', { warmUp: false }],
    ['an array', [WARM_UP_EVENT]],
    ['null', null],
  ])('is only ever exactly { warmUp: true }: not with %s', (_, event) => {
    // Act
    const recognised = isWarmUpEvent(event);

    // Assess
    expect(recognised).toBe(false);
  });

  it('a stage event that also says warmUp is parsed as a stage event and does the work', async () => {
    // Prepare
    const { reached, dependencies } = countedDependencies();
    const handler = createStageHandler('Load', dependencies);

    // Act
    await thrownBy(() => handler({ warmUp: true, runId: RUN_ID }, context));

    // Assess
    expect(reached.count).toBeGreaterThan(0);
  });

  it('an event that is almost the warm-up event is refused as stage input', async () => {
    // Prepare
    const { dependencies } = countedDependencies();
    const handler = createStageHandler('Load', dependencies);

    // Act
    const error = await thrownBy(() => handler({ warmUp: 1 }, context));

    // Assess
    expect(error).toBeInstanceOf(StageInputError);
  });
});
