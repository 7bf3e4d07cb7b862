/**
 * The state machine as a graph, read from its ASL definition, and a run's progress through it.
 * Pure: no DOM, so the unit tests hold it to statemachine/ingest.asl.json.
 */

export interface AslRetrier {
  readonly ErrorEquals: readonly string[];
  readonly MaxAttempts?: number;
}

export interface AslCatcher {
  readonly ErrorEquals: readonly string[];
  readonly Next: string;
}

export interface AslChoiceRule {
  readonly Next: string;
  readonly Variable?: string;
  readonly StringEquals?: string;
}

export interface AslState {
  readonly Type: string;
  readonly Comment?: string;
  readonly Next?: string;
  readonly End?: boolean;
  readonly Default?: string;
  readonly Choices?: readonly AslChoiceRule[];
  readonly Retry?: readonly AslRetrier[];
  readonly Catch?: readonly AslCatcher[];
}

export interface AslDefinition {
  readonly StartAt: string;
  readonly States: Readonly<Record<string, AslState>>;
}

/** `next` and `choice` carry a run forward, `catch` onto the failure path, `retry` back onto itself. */
export type EdgeKind = 'next' | 'choice' | 'default' | 'catch' | 'retry';

export interface GraphNode {
  readonly id: string;
  readonly type: string;
  readonly comment: string | null;
  /** Retriers' total attempts, 0 without a Retry. */
  readonly retryAttempts: number;
  readonly terminal: boolean;
}

export interface GraphEdge {
  readonly from: string;
  readonly to: string;
  readonly kind: EdgeKind;
  readonly label: string;
}

export interface StateMachineGraph {
  readonly startAt: string;
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
}

function choiceLabel(rule: AslChoiceRule): string {
  return rule.Variable !== undefined && rule.StringEquals !== undefined
    ? `${rule.Variable} == "${rule.StringEquals}"`
    : 'rule';
}

function edgesOf(id: string, state: AslState): GraphEdge[] {
  const edges: GraphEdge[] = [];
  if (state.Next !== undefined) edges.push({ from: id, to: state.Next, kind: 'next', label: '' });
  for (const rule of state.Choices ?? []) {
    edges.push({ from: id, to: rule.Next, kind: 'choice', label: choiceLabel(rule) });
  }
  if (state.Default !== undefined) {
    edges.push({ from: id, to: state.Default, kind: 'default', label: 'default' });
  }
  for (const retrier of state.Retry ?? []) {
    edges.push({ from: id, to: id, kind: 'retry', label: retrier.ErrorEquals.join(', ') });
  }
  for (const catcher of state.Catch ?? []) {
    edges.push({
      from: id,
      to: catcher.Next,
      kind: 'catch',
      label: catcher.ErrorEquals.join(', '),
    });
  }
  return edges;
}

/** Every state and every transition of the definition; throws on a transition to no state. */
export function graphOf(definition: AslDefinition): StateMachineGraph {
  const states = Object.entries(definition.States);
  const nodes = states.map(([id, state]) => ({
    id,
    type: state.Type,
    comment: state.Comment ?? null,
    retryAttempts: (state.Retry ?? []).reduce(
      (total, retrier) => total + (retrier.MaxAttempts ?? 3),
      0,
    ),
    terminal: state.End === true || state.Type === 'Succeed' || state.Type === 'Fail',
  }));
  const edges = states.flatMap(([id, state]) => edgesOf(id, state));
  for (const edge of edges) {
    if (!Object.hasOwn(definition.States, edge.to)) {
      throw new Error(`state ${edge.from} goes to ${edge.to}, which the definition lacks`);
    }
  }
  if (!Object.hasOwn(definition.States, definition.StartAt)) {
    throw new Error(`StartAt names ${definition.StartAt}, which the definition lacks`);
  }
  return { startAt: definition.StartAt, nodes, edges };
}

/** The transitions a run can take forward, the failure path included (no retry loops). */
export function forwardEdges(graph: StateMachineGraph): readonly GraphEdge[] {
  return graph.edges.filter((edge) => edge.kind !== 'retry');
}

export type StateStatus = 'done' | 'running' | 'failed' | 'not-reached';

/** What the page knows of a run: the fields of GET /api/v1/runs/{runId} the graph reads. */
export interface RunProgress {
  readonly status: string;
  readonly currentStage: string | null;
  readonly failedStage: string | null;
  readonly stageTimings: Readonly<Record<string, number>>;
}

/** The pipeline stage a Task state runs: `ConsentCheck` runs `consentCheck`. */
export function stageOfState(stateId: string): string {
  return stateId.charAt(0).toLowerCase() + stateId.slice(1);
}

function isStage(stateId: string, stages: ReadonlySet<string>): boolean {
  return stages.has(stageOfState(stateId));
}

function choose(state: AslState, run: RunProgress): string | undefined {
  const rule = (state.Choices ?? []).find(
    (candidate) => candidate.Variable === '$.status' && candidate.StringEquals === run.status,
  );
  return rule?.Next ?? state.Default;
}

/**
 * Each state's status for this run, by walking the definition from StartAt as the run went:
 * a stage that committed is done; the stage a failed run failed in is failed and the walk
 * takes its Catch; a running run's first uncommitted stage is running and the walk stops there.
 * `stages` names the pipeline's stages (the Task states whose progress the run records).
 */
export function stateStatuses(
  definition: AslDefinition,
  run: RunProgress,
  stages: ReadonlySet<string>,
): ReadonlyMap<string, StateStatus> {
  const statuses = new Map<string, StateStatus>(
    Object.keys(definition.States).map((id) => [id, 'not-reached']),
  );
  const ended = run.status === 'succeeded' || run.status === 'failed';
  // Queued, or failed before its workflow started: no state ran.
  if (run.status === 'queued' || (run.status === 'failed' && run.failedStage === null)) {
    return statuses;
  }
  let current: string | undefined = definition.StartAt;
  while (current !== undefined && statuses.get(current) === 'not-reached') {
    const state: AslState | undefined = definition.States[current];
    if (state === undefined) break;
    const stage = stageOfState(current);
    if (isStage(current, stages) && !Object.hasOwn(run.stageTimings, stage)) {
      if (run.status === 'failed' && run.failedStage === stage) {
        statuses.set(current, 'failed');
        current = state.Catch?.[0]?.Next;
        continue;
      }
      if (!ended) statuses.set(current, 'running');
      break;
    }
    if (!ended && !isStage(current, stages)) {
      // Every stage committed and the run still runs: it is in this state.
      statuses.set(current, 'running');
      break;
    }
    if (state.Type === 'Fail') {
      statuses.set(current, 'failed');
      break;
    }
    statuses.set(current, 'done');
    current = state.Type === 'Choice' ? choose(state, run) : state.Next;
  }
  return statuses;
}
