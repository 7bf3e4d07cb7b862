/** One run: its figures, the state machine coloured by its progress, its rejections, re-drive. */
import { STAGES } from '../lib/pipeline/stages.ts';
import definition from '../statemachine/ingest.asl.json' with { type: 'json' };
import {
  ApiError,
  getRun,
  type HistoryEventView,
  listRejections,
  mayRedrive,
  type Principal,
  type RejectionView,
  type RunView,
  redriveRun,
  runHistory,
} from './api.ts';
import { h } from './dom.ts';
import { byReason, formatDuration, formatMs, formatRate, formatTime } from './format.ts';
import { stateMachineSvg } from './graphView.ts';
import { historyLimitsNote } from './history.ts';
import { type DetailsRead, detailsDue, type Poller, startPolling } from './polling.ts';
import { rejectionDetailLines } from './rejections.ts';
import { graphOf, type StateStatus, stateStatuses } from './stateMachineGraph.ts';

const POLL_MS = 2_000;
const graph = graphOf(definition);
const stages: ReadonlySet<string> = new Set(STAGES);
const LEGEND: readonly StateStatus[] = ['done', 'running', 'failed', 'not-reached'];

function facts(run: RunView): HTMLElement {
  const rows: [string, string][] = [
    ['Status', run.status],
    ['Source', run.source],
    ['Submitter', run.submitter],
    ['Created', formatTime(run.createdAt)],
    ['Finished', run.finishedAt === null ? '—' : formatTime(run.finishedAt)],
    ['Duration', formatDuration(run.durationMs)],
    ['Records/s', formatRate(run.recordsPerSecond)],
    [
      'Counts',
      Object.entries(run.counts)
        .map(([name, n]) => `${name} ${n}`)
        .join(', ') || '—',
    ],
    ['Rejected by reason', byReason(run.rejectedByReason)],
    ['Failed in', run.failedStage ?? '—'],
    ['Error', run.errorCode ?? '—'],
  ];
  return h(
    'dl',
    { class: 'facts' },
    ...rows.flatMap(([name, value]) => [h('dt', {}, name), h('dd', { 'data-fact': name }, value)]),
  );
}

function rejectionTable(rejections: readonly RejectionView[]): HTMLElement {
  if (rejections.length === 0) return h('p', { class: 'empty' }, 'No record was rejected.');
  return h(
    'table',
    { class: 'rejections' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ...['Record', 'Type', 'Reason', 'Stage', 'Where (schema paths)'].map((title) =>
          h('th', {}, title),
        ),
      ),
    ),
    h(
      'tbody',
      {},
      ...rejections.map((rejection) =>
        h(
          'tr',
          { 'data-reason': rejection.reason },
          h('td', { class: 'number' }, rejection.recordIndex),
          h('td', {}, rejection.resourceType ?? '—'),
          h('td', {}, rejection.reason),
          h('td', {}, rejection.stage),
          h(
            'td',
            {},
            h(
              'ul',
              { class: 'details' },
              ...rejectionDetailLines(rejection.details).map((line) => h('li', {}, line)),
            ),
          ),
        ),
      ),
    ),
  );
}

function historyTable(events: readonly HistoryEventView[]): HTMLElement {
  if (events.length === 0) return h('p', { class: 'empty' }, 'No execution recorded yet.');
  const started = new Map<number, number>();
  for (const event of events) {
    if (!started.has(event.attempt)) started.set(event.attempt, Date.parse(event.timestamp));
  }
  return h(
    'table',
    { class: 'history' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ...['Execution', '#', 'At', 'Event', 'State', 'Error'].map((title) => h('th', {}, title)),
      ),
    ),
    h(
      'tbody',
      {},
      ...events.map((event) =>
        h(
          'tr',
          { class: event.error === null ? '' : 'history--error', 'data-type': event.type },
          h('td', {}, event.attempt === 0 ? 'first' : `re-drive ${event.attempt}`),
          h('td', { class: 'number' }, event.id),
          h(
            'td',
            { class: 'number', title: event.timestamp },
            `+${formatMs(Date.parse(event.timestamp) - (started.get(event.attempt) ?? 0))}`,
          ),
          h('td', {}, event.type),
          h('td', {}, event.stateName ?? '—'),
          h('td', {}, event.error ?? ''),
        ),
      ),
    ),
  );
}

/** The history and what it leaves out, or what stands in for it when the workflow service could not say. */
type HistoryRead =
  | { readonly events: readonly HistoryEventView[]; readonly note?: string }
  | string;

async function historyOf(runId: string): Promise<HistoryRead> {
  try {
    const history = await runHistory(runId);
    const note = historyLimitsNote(history);
    return note === undefined ? { events: history.data } : { events: history.data, note };
  } catch (error) {
    if (error instanceof ApiError && error.status !== 401) {
      return `The execution history is unavailable (${error.status}: ${error.message}).`;
    }
    throw error;
  }
}

export function runView(
  runId: string,
  principal: Principal,
  onError: (error: unknown) => void,
): { element: HTMLElement; stop: () => void } {
  const header = h('div', { class: 'run-header' });
  const drawing = h('div', { class: 'graph' });
  const rejections = h('div', { class: 'rejections-view' });
  const history = h('div', { class: 'history-view' });
  const message = h('p', { class: 'message', role: 'status' });
  let poller: Poller | undefined;
  let stopped = false;
  let detailsRead: DetailsRead | undefined;
  let rejected: readonly RejectionView[] = [];
  let events: HistoryRead = { events: [] };

  async function redrive(button: HTMLButtonElement): Promise<void> {
    button.disabled = true;
    try {
      await redriveRun(runId);
    } catch (error) {
      button.disabled = false;
      onError(error);
      return;
    }
    message.textContent = 'Re-driven: the run continues from the stage that failed.';
    follow();
  }

  function render(run: RunView, rejected: readonly RejectionView[], events: HistoryRead): void {
    const statuses = stateStatuses(definition, run, stages);
    const redriveButton =
      run.status === 'failed' && mayRedrive(principal)
        ? h('button', { type: 'button', class: 'redrive' }, 'Re-drive')
        : null;
    redriveButton?.addEventListener('click', () => redrive(redriveButton));
    header.replaceChildren(
      h(
        'h2',
        {},
        'Run ',
        h('code', {}, run.runId),
        ' ',
        h('span', { class: `status status--${run.status}` }, run.status),
        ' ',
        redriveButton,
      ),
      facts(run),
    );
    drawing.replaceChildren(
      h(
        'ul',
        { class: 'legend' },
        ...LEGEND.map((status) =>
          h('li', {}, h('span', { class: `swatch state--${status}` }), status),
        ),
        h('li', {}, h('span', { class: 'swatch swatch--catch' }), 'Catch (failure path)'),
        h('li', {}, '↻n: retries'),
      ),
      stateMachineSvg(graph, statuses, run),
    );
    rejections.replaceChildren(
      h('h3', {}, `Rejections (${rejected.length})`),
      rejectionTable(rejected),
    );
    history.replaceChildren(
      h('h3', {}, 'Execution history'),
      ...(typeof events === 'string'
        ? [h('p', { class: 'empty' }, events)]
        : events.note === undefined
          ? [historyTable(events.events)]
          : [h('p', { class: 'history-note' }, events.note), historyTable(events.events)]),
    );
  }

  /** Reads the run, and its rejections and history when due; whether it is still under way. */
  async function refresh(): Promise<boolean> {
    const run = await getRun(runId);
    if (stopped) return false;
    if (detailsDue(detailsRead, run, Date.now())) {
      const [rejectionPage, historyRead] = await Promise.all([
        listRejections(runId),
        historyOf(runId),
      ]);
      if (stopped) return false;
      rejected = rejectionPage.data;
      events = historyRead;
      detailsRead = { status: run.status, currentStage: run.currentStage, atMs: Date.now() };
    }
    render(run, rejected, events);
    return run.status === 'queued' || run.status === 'running';
  }

  /** Shows the run now, then every POLL_MS while it is under way; an error is shown, not final. */
  function follow(): void {
    poller?.stop();
    if (stopped) return;
    poller = startPolling(
      async () => {
        try {
          return await refresh();
        } catch (error) {
          // No such run: nothing to wait for. Any other error may pass.
          if (error instanceof ApiError && error.status === 404) {
            onError(error);
            return false;
          }
          throw error;
        }
      },
      onError,
      { everyMs: POLL_MS, firstMs: 0 },
    );
  }

  follow();
  return {
    element: h(
      'section',
      { class: 'run-view' },
      h('p', {}, h('a', { href: '#/runs' }, '← All runs')),
      header,
      message,
      drawing,
      rejections,
      history,
    ),
    stop: () => {
      stopped = true;
      poller?.stop();
    },
  };
}
