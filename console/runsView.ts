/** Runs: newest first, filtered, a keyset page at a time; the first page refreshes itself. */
import { listRuns, type Page, type RunFilter, type RunView, runsPath } from './api.ts';
import { h } from './dom.ts';
import { byReason, formatDuration, formatRate, formatTime } from './format.ts';
import { startPolling } from './polling.ts';

/** Runs a page unless the page-size field says otherwise (the API caps it: a 400 names the limit). */
const PAGE_SIZE = 25;
const STATUSES = ['queued', 'running', 'succeeded', 'failed'] as const;
const SOURCES = ['api', 'queue'] as const;
export const POLL_MS = 2_000;

function statusBadge(status: string): HTMLElement {
  return h('span', { class: `status status--${status}` }, status);
}

function runRow(run: RunView): HTMLTableRowElement {
  return h(
    'tr',
    { 'data-run-id': run.runId, 'data-status': run.status },
    h('td', {}, statusBadge(run.status)),
    h('td', {}, h('a', { href: `#/runs/${run.runId}`, class: 'run-link' }, run.runId.slice(0, 8))),
    h('td', {}, formatTime(run.createdAt)),
    h('td', {}, run.source),
    h('td', {}, run.submitter),
    h('td', { class: 'number' }, run.counts['received'] ?? 0),
    h('td', { class: 'number' }, run.counts['loaded'] ?? 0),
    h('td', {}, byReason(run.rejectedByReason)),
    h('td', { class: 'number' }, formatDuration(run.durationMs)),
    h('td', { class: 'number' }, formatRate(run.recordsPerSecond)),
  );
}

/** datetime-local's value (local time, no zone) as an ISO instant, or '' when empty. */
function instantOf(input: HTMLInputElement): string {
  return input.value === '' ? '' : new Date(input.value).toISOString();
}

export function runsView(onError: (error: unknown) => void): {
  element: HTMLElement;
  stop: () => void;
} {
  const statusBoxes = STATUSES.map((status) =>
    h('input', { type: 'checkbox', name: 'status', value: status }),
  );
  const source = h(
    'select',
    { name: 'source' },
    h('option', { value: '' }, 'any source'),
    ...SOURCES.map((name) => h('option', { value: name }, name)),
  );
  const from = h('input', { type: 'datetime-local', name: 'from' });
  const to = h('input', { type: 'datetime-local', name: 'to' });
  const pageSize = h('input', {
    type: 'number',
    name: 'limit',
    min: 1,
    step: 1,
    required: true,
    value: PAGE_SIZE,
    class: 'page-size',
  });
  const form = h(
    'form',
    { class: 'filters' },
    h(
      'fieldset',
      {},
      h('legend', {}, 'Status'),
      ...statusBoxes.map((box) => h('label', {}, box, ` ${box.value}`)),
    ),
    h('label', {}, 'Source ', source),
    h('label', {}, 'From ', from),
    h('label', {}, 'To ', to),
    h('label', {}, 'Per page ', pageSize),
    h('button', { type: 'submit' }, 'Apply'),
  );
  const body = h('tbody');
  const live = h('span', { class: 'live' });
  const newest = h('button', { type: 'button', disabled: true }, 'Newest');
  const older = h('button', { type: 'button', class: 'older', disabled: true }, 'Older runs');
  const table = h(
    'table',
    { class: 'runs' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ...[
          'Status',
          'Run',
          'Created',
          'Source',
          'Submitter',
          'Received',
          'Loaded',
          'Rejected',
          'Duration',
          'Records/s',
        ].map((title) => h('th', {}, title)),
      ),
    ),
    body,
  );

  let firstPage = '';
  let shown = '';
  let next: string | null = null;
  /** Counts the requests for a page: only the latest one's answer is shown. */
  let latest = 0;
  let busy = false;

  const filter = (): RunFilter => ({
    statuses: statusBoxes.filter((box) => box.checked).map((box) => box.value),
    source: source.value,
    from: instantOf(from),
    to: instantOf(to),
  });

  /** Shows the page at `path`; the table is aria-busy until the latest request's page is in. */
  async function show(path: string): Promise<void> {
    latest += 1;
    const request = latest;
    busy = true;
    table.setAttribute('aria-busy', 'true');
    let page: Page<RunView>;
    try {
      page = await listRuns(path);
    } finally {
      if (request === latest) {
        busy = false;
        table.removeAttribute('aria-busy');
      }
    }
    // A poll that answered after an Apply or a paging click: the click's page wins.
    if (request !== latest) return;
    shown = path;
    next = page.links.next;
    body.replaceChildren(
      ...(page.data.length === 0
        ? [h('tr', {}, h('td', { colspan: 10, class: 'empty' }, 'No runs match.'))]
        : page.data.map(runRow)),
    );
    older.disabled = next === null;
    newest.disabled = shown === firstPage;
    live.textContent =
      shown === firstPage
        ? `live · updated ${new Date().toLocaleTimeString()}`
        : 'paused (older page)';
  }

  function restart(): void {
    firstPage = runsPath(filter(), pageSize.valueAsNumber);
    show(firstPage).catch(onError);
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    restart();
  });
  newest.addEventListener('click', () => show(firstPage).catch(onError));
  older.addEventListener('click', () => {
    if (next !== null) show(next).catch(onError);
  });
  restart();
  // The first page refreshes itself, never over a click's request still on its way.
  const poller = startPolling(
    async () => {
      if (shown === firstPage && !busy) await show(firstPage);
      return true;
    },
    onError,
    { everyMs: POLL_MS },
  );

  return {
    element: h(
      'section',
      { class: 'runs-view' },
      h('h2', {}, 'Runs ', live),
      form,
      table,
      h('div', { class: 'pager' }, newest, older),
    ),
    stop: poller.stop,
  };
}
