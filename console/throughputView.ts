/** Throughput: records per second of each run over the last hours, and where the time goes by stage. */
import uPlot from 'uplot';
import { STAGES } from '../lib/pipeline/stages.ts';
import { listRuns, type RunView, runsPath } from './api.ts';
import { h } from './dom.ts';
import { formatMs } from './format.ts';

const PAGE_SIZE = 200;
const MAX_PAGES = 5;
const CHART_HEIGHT = 240;
const STAGE_COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#d62728'];

/** The chart's time axis: the window asked for, in seconds. */
interface TimeWindow {
  readonly from: number;
  readonly to: number;
}

async function endedRunsSince(span: TimeWindow): Promise<RunView[]> {
  const from = new Date(span.from * 1000).toISOString();
  const runs: RunView[] = [];
  let path: string | null = runsPath({ statuses: [], source: '', from, to: '' }, PAGE_SIZE);
  for (let page = 0; path !== null && page < MAX_PAGES; page += 1) {
    const { data, links }: Awaited<ReturnType<typeof listRuns>> = await listRuns(path);
    runs.push(...data);
    path = links.next;
  }
  // Oldest first, as the time axis runs.
  return runs.filter((run) => run.durationMs !== null).reverse();
}

function secondsOf(run: RunView): number {
  return new Date(run.createdAt).getTime() / 1000;
}

function rateChart(runs: readonly RunView[], span: TimeWindow, width: number): HTMLElement {
  const target = h('div', { class: 'chart', 'data-chart': 'records-per-second' });
  new uPlot(
    {
      width,
      height: CHART_HEIGHT,
      scales: { x: { time: true, range: [span.from, span.to] } },
      axes: [{}, { label: 'records/s' }],
      series: [
        {},
        {
          label: 'records/s',
          stroke: '#1f77b4',
          width: 0,
          points: { show: true, size: 7, fill: '#1f77b4' },
        },
      ],
    },
    [runs.map(secondsOf), runs.map((run) => run.recordsPerSecond)],
    target,
  );
  return target;
}

function stageChart(runs: readonly RunView[], span: TimeWindow, width: number): HTMLElement {
  const target = h('div', { class: 'chart', 'data-chart': 'stage-time' });
  new uPlot(
    {
      width,
      height: CHART_HEIGHT,
      scales: { x: { time: true, range: [span.from, span.to] } },
      axes: [{}, { label: 'ms per stage' }],
      series: [
        {},
        ...STAGES.map((stage, index) => ({
          label: stage,
          stroke: STAGE_COLOURS[index % STAGE_COLOURS.length] ?? '#444',
          width: 1.5,
          points: { show: true, size: 5 },
        })),
      ],
    },
    [
      runs.map(secondsOf),
      ...STAGES.map((stage) => runs.map((run) => run.stageTimings[stage] ?? null)),
    ],
    target,
  );
  return target;
}

/** Each stage's share of all stage time over the runs: the slow stage has the longest bar. */
function stageSplit(runs: readonly RunView[]): HTMLElement {
  const totals = STAGES.map((stage) => ({
    stage,
    total: runs.reduce((sum, run) => sum + (run.stageTimings[stage] ?? 0), 0),
    timed: runs.filter((run) => run.stageTimings[stage] !== undefined).length,
  }));
  const all = totals.reduce((sum, { total }) => sum + total, 0);
  return h(
    'table',
    { class: 'stage-split' },
    h(
      'thead',
      {},
      h('tr', {}, ...['Stage', 'Mean', 'Share of stage time', ''].map((t) => h('th', {}, t))),
    ),
    h(
      'tbody',
      {},
      ...totals.map(({ stage, total, timed }) =>
        h(
          'tr',
          { 'data-stage': stage },
          h('td', {}, stage),
          h('td', { class: 'number' }, timed === 0 ? '—' : formatMs(total / timed)),
          h('td', {}, h('meter', { min: 0, max: 1, value: all === 0 ? 0 : total / all })),
          h('td', { class: 'number' }, all === 0 ? '—' : `${Math.round((total * 100) / all)} %`),
        ),
      ),
    ),
  );
}

export function throughputView(onError: (error: unknown) => void): HTMLElement {
  const hours = h(
    'select',
    { name: 'hours' },
    ...[1, 6, 24, 72].map((n) => h('option', { value: n, selected: n === 6 }, `last ${n} h`)),
  );
  const content = h('div', { class: 'throughput-content' }, h('p', {}, 'Loading…'));
  const section = h(
    'section',
    { class: 'throughput-view' },
    h('h2', {}, 'Throughput ', hours),
    content,
  );

  async function draw(): Promise<void> {
    const to = Date.now() / 1000;
    const span = { from: to - Number(hours.value) * 3_600, to };
    const runs = await endedRunsSince(span);
    const width = Math.max(480, Math.min(1100, section.clientWidth - 24));
    content.replaceChildren(
      ...(runs.length === 0
        ? [h('p', { class: 'empty' }, 'No run ended in this window.')]
        : [
            h('h3', {}, `Records per second, ${runs.length} ended runs`),
            rateChart(runs, span, width),
            h('h3', {}, 'Stage time per run'),
            stageChart(runs, span, width),
            h('h3', {}, 'Stage time split'),
            stageSplit(runs),
          ]),
    );
  }

  hours.addEventListener('change', () => draw().catch(onError));
  queueMicrotask(() => draw().catch(onError));
  return section;
}
