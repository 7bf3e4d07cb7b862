import { describe, expect, it } from 'vitest';
import { runView } from '../../../lib/api/runViews.ts';
import type { IngestRun } from '../../../lib/db/repositories/ingestRuns.ts';
import { WORKFLOW_START_FAILED } from '../../../lib/pipeline/runExecutions.ts';

const CREATED_AT = new Date('2030-01-01T00:00:00.000Z');
const RUN = {
  id: '7d1c2f5e-52b1-4d1e-9a0e-6f1f3e2b9c41',
  status: 'queued',
  currentStage: null,
  format: 'flat',
  source: 'api',
  actor: 'system:submitter',
  dataKeyId: '0f2c8e1a-5b7d-4c3e-8a9f-1b2c3d4e5f60',
  counts: { received: 40 },
  stageTimings: {},
  errorCode: null,
  createdAt: CREATED_AT,
  updatedAt: CREATED_AT,
  finishedAt: null,
  publishedAt: null,
  redrives: 0,
} satisfies IngestRun;

const THROUGH_VALIDATE = { extract: 5, validate: 7 };
const ALL_STAGES = { ...THROUGH_VALIDATE, consentCheck: 3, transform: 9, load: 20 };
const TWO_SECONDS_LATER = new Date(CREATED_AT.getTime() + 2_000);

describe('runView', () => {
  it.each<[string, Partial<IngestRun>, string | null, string | null]>([
    ['a queued run', {}, 'extract', null],
    [
      'a running run past Validate',
      { status: 'running', currentStage: 'validate', stageTimings: THROUGH_VALIDATE },
      'consentCheck',
      null,
    ],
    [
      'a re-driven run, running again past Validate',
      { status: 'running', currentStage: 'validate', stageTimings: THROUGH_VALIDATE, redrives: 1 },
      'consentCheck',
      null,
    ],
    [
      'a succeeded run',
      {
        status: 'succeeded',
        currentStage: 'load',
        stageTimings: ALL_STAGES,
        finishedAt: TWO_SECONDS_LATER,
      },
      null,
      null,
    ],
    [
      'a run that failed in ConsentCheck',
      {
        status: 'failed',
        currentStage: 'validate',
        stageTimings: THROUGH_VALIDATE,
        errorCode: 'database-unavailable',
        finishedAt: TWO_SECONDS_LATER,
      },
      null,
      'consentCheck',
    ],
    [
      'a run that failed in Extract',
      { status: 'failed', errorCode: 'internal', finishedAt: TWO_SECONDS_LATER },
      null,
      'extract',
    ],
    [
      'a run whose workflow never started',
      { status: 'failed', errorCode: WORKFLOW_START_FAILED, finishedAt: TWO_SECONDS_LATER },
      null,
      null,
    ],
  ])('shows %s at currentStage %s, failedStage %s', (_, fields, currentStage, failedStage) => {
    // Act
    const view = runView({ ...RUN, ...fields }, {});

    // Assess
    expect(view.currentStage).toBe(currentStage);
    expect(view.failedStage).toBe(failedStage);
  });

  it('gives an ended run its duration and the records it received per second', () => {
    // Act
    const view = runView(
      { ...RUN, status: 'succeeded', stageTimings: ALL_STAGES, finishedAt: TWO_SECONDS_LATER },
      { schema: 3, consent: 1 },
    );

    // Assess
    expect(view).toMatchObject({
      source: 'api',
      submitter: 'system:submitter',
      counts: { received: 40 },
      rejectedByReason: { schema: 3, consent: 1 },
      createdAt: '2030-01-01T00:00:00.000Z',
      finishedAt: '2030-01-01T00:00:02.000Z',
      durationMs: 2_000,
      recordsPerSecond: 20,
    });
  });

  it.each<[string, Partial<IngestRun>]>([
    ['a running run', { status: 'running', stageTimings: THROUGH_VALIDATE }],
    [
      'an ended run that received nothing',
      { status: 'failed', counts: {}, finishedAt: TWO_SECONDS_LATER },
    ],
    ['a run that ended as it was created', { status: 'failed', finishedAt: CREATED_AT }],
  ])('gives %s no records per second', (_, fields) => {
    // Act
    const view = runView({ ...RUN, ...fields }, {});

    // Assess
    expect(view.recordsPerSecond).toBeNull();
  });

  it('names no content of a record: only ids, states, counts and times', () => {
    // Act
    const view = runView({ ...RUN, status: 'running', stageTimings: THROUGH_VALIDATE }, {});

    // Assess
    expect(Object.keys(view).sort()).toStrictEqual(
      [
        'runId',
        'status',
        'currentStage',
        'failedStage',
        'source',
        'submitter',
        'counts',
        'rejectedByReason',
        'stageTimings',
        'errorCode',
        'createdAt',
        'finishedAt',
        'durationMs',
        'recordsPerSecond',
        'links',
      ].sort(),
    );
  });
});
