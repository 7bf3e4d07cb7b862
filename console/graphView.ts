/**
 * The state machine drawn as SVG: each box as wide as its text, placed by dagre, and coloured by
 * the run's progress.
 */
import type { RunView } from './api.ts';
import { svg } from './dom.ts';
import { formatMs } from './format.ts';
import { boxWidth, layOut, type Point } from './graphLayout.ts';
import { type StateMachineGraph, type StateStatus, stageOfState } from './stateMachineGraph.ts';

/** The counts each stage adds to the run, shown under its name. */
const STAGE_COUNTS: Readonly<Record<string, readonly string[]>> = {
  extract: ['extracted'],
  validate: ['valid', 'invalid', 'duplicates'],
  consentCheck: ['consented', 'blocked'],
  transform: ['transformed'],
  load: ['loaded'],
};

function pathOf(points: readonly Point[]): string {
  return points.map((point, index) => `${index === 0 ? 'M' : 'L'}${point.x},${point.y}`).join(' ');
}

/** A Choice's rule beside its edge, halfway along. */
function edgeLabel(points: readonly Point[], label: string): SVGTextElement | null {
  const middle = points[Math.floor(points.length / 2)];
  if (middle === undefined) return null;
  return svg('text', { class: 'edge-label', x: middle.x + 6, y: middle.y }, label);
}

function detailOf(stateId: string, run: RunView): string {
  const stage = stageOfState(stateId);
  const timing = run.stageTimings[stage];
  const counts = (STAGE_COUNTS[stage] ?? [])
    .filter((name) => run.counts[name] !== undefined)
    .map((name) => `${name} ${run.counts[name]}`);
  return [timing === undefined ? '' : formatMs(timing), ...counts].filter(Boolean).join(' · ');
}

/** Each state's lines of text, as the page draws them. */
function linesOf(graph: StateMachineGraph, run: RunView): Map<string, [string, string]> {
  return new Map(graph.nodes.map((node) => [node.id, [node.id, detailOf(node.id, run)]]));
}

/**
 * Each state's box width, from its lines measured as the page's stylesheet renders them: in a
 * hidden drawing of the same classes, attached for the moment it takes.
 */
function measuredWidths(
  lines: ReadonlyMap<string, readonly [string, string]>,
): Map<string, number> {
  const texts = new Map(
    [...lines].map(([id, [name, detail]]) => [
      id,
      [svg('text', { class: 'state-name' }, name), svg('text', { class: 'state-detail' }, detail)],
    ]),
  );
  const probe = svg(
    'svg',
    { class: 'state-machine', 'aria-hidden': 'true', width: 0, height: 0 },
    ...[...texts.values()].flat(),
  );
  // Removed before the page paints again: never seen, and no change of the page's layout shows.
  document.body.append(probe);
  try {
    return new Map(
      [...texts].map(([id, elements]) => [
        id,
        boxWidth(elements.map((element) => element.getComputedTextLength())),
      ]),
    );
  } finally {
    probe.remove();
  }
}

export function stateMachineSvg(
  graph: StateMachineGraph,
  statuses: ReadonlyMap<string, StateStatus>,
  run: RunView,
): SVGSVGElement {
  const lines = linesOf(graph, run);
  const widths = measuredWidths(lines);
  const layout = layOut(graph, (id) => widths.get(id) ?? boxWidth([]));
  const width = layout.width + 60;
  const marker = (id: string, className: string) =>
    svg(
      'marker',
      {
        id,
        class: className,
        viewBox: '0 0 10 10',
        refX: 9,
        refY: 5,
        markerWidth: 7,
        markerHeight: 7,
        orient: 'auto-start-reverse',
      },
      svg('path', { d: 'M0,0 L10,5 L0,10 z' }),
    );
  const edges = layout.edges.map((edge) =>
    svg(
      'g',
      { class: `edge edge--${edge.kind}`, 'data-from': edge.from, 'data-to': edge.to },
      svg('title', {}, `${edge.from} → ${edge.to}${edge.label === '' ? '' : ` (${edge.label})`}`),
      svg('path', {
        d: pathOf(edge.points),
        'marker-end': `url(#arrow-${edge.kind === 'catch' ? 'catch' : 'next'})`,
      }),
      edge.kind === 'choice' || edge.kind === 'default' ? edgeLabel(edge.points, edge.label) : null,
    ),
  );
  const nodes = graph.nodes.map((node) => {
    const placed = layout.nodes.get(node.id);
    if (placed === undefined) return null;
    const status = statuses.get(node.id) ?? 'not-reached';
    const [name, detail] = lines.get(node.id) ?? [node.id, ''];
    const left = placed.x - placed.width / 2;
    const top = placed.y - placed.height / 2;
    const retries = graph.edges.filter((edge) => edge.kind === 'retry' && edge.from === node.id);
    return svg(
      'g',
      {
        class: `state state--${status} state-type--${node.type.toLowerCase()}`,
        'data-state': node.id,
        'data-status': status,
      },
      svg(
        'title',
        {},
        `${node.id} (${node.type}): ${status}${node.comment === null ? '' : `\n${node.comment}`}`,
      ),
      svg('rect', {
        x: left,
        y: top,
        width: placed.width,
        height: placed.height,
        rx: node.type === 'Choice' ? 18 : 6,
      }),
      svg('text', { class: 'state-name', x: placed.x, y: top + 20 }, name),
      svg('text', { class: 'state-detail', x: placed.x, y: top + 38 }, detail),
      retries.length === 0
        ? null
        : svg(
            'g',
            { class: 'retry' },
            svg('title', {}, retries.map((edge) => `Retry on ${edge.label}`).join('\n')),
            svg('path', {
              d: `M${left + placed.width},${top + 12} c 22,-6 22,34 0,28`,
              'marker-end': 'url(#arrow-next)',
            }),
            svg(
              'text',
              { x: left + placed.width + 20, y: top + placed.height / 2 + 4 },
              `↻${node.retryAttempts}`,
            ),
          ),
    );
  });
  return svg(
    'svg',
    {
      class: 'state-machine',
      viewBox: `0 0 ${width} ${layout.height}`,
      width,
      height: layout.height,
      role: 'img',
      'aria-label': 'The ingest state machine, coloured by this run’s progress',
    },
    svg('defs', {}, marker('arrow-next', 'arrow'), marker('arrow-catch', 'arrow arrow--catch')),
    svg('g', { class: 'edges' }, ...edges),
    svg('g', { class: 'states' }, ...nodes),
  );
}
