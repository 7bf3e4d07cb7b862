/** Audit: the hash chain's verification and the latest entries (identifiers only, never PHI). */
import { ROUTES } from '../lib/api/routes.ts';
import { type AuditEntryView, listAudit, verifyAudit } from './api.ts';
import { h } from './dom.ts';
import { formatTime } from './format.ts';

const LATEST = 50;
const PAGE_SIZE = 500;
const MAX_PAGES = 10;
const WINDOW_HOURS = 24;

/** The last LATEST entries of the window, newest first (the API pages in chain order). */
async function latestEntries(): Promise<AuditEntryView[]> {
  const from = new Date(Date.now() - WINDOW_HOURS * 3_600_000).toISOString();
  let path: string | null =
    `${ROUTES.listAudit.path}?${new URLSearchParams({ from, limit: String(PAGE_SIZE) })}`;
  let latest: AuditEntryView[] = [];
  for (let page = 0; path !== null && page < MAX_PAGES; page += 1) {
    const { data, links }: Awaited<ReturnType<typeof listAudit>> = await listAudit(path);
    latest = [...latest, ...data].slice(-LATEST);
    path = links.next;
  }
  return latest.reverse();
}

export function auditView(onError: (error: unknown) => void): HTMLElement {
  const verification = h('div', { class: 'verification' }, 'Verifying the chain…');
  const entries = h('div', { class: 'audit-entries' });

  async function load(): Promise<void> {
    const [verified, latest] = await Promise.all([verifyAudit(), latestEntries()]);
    verification.replaceChildren(
      h(
        'p',
        { class: `chain chain--${verified.valid ? 'valid' : 'broken'}` },
        verified.valid ? '✔ Chain verified' : '✘ Chain broken',
        ` · ${verified.rowsChecked} entries checked at ${formatTime(verified.checkedAt)}`,
        verified.firstBreak === null
          ? ''
          : ` · first break at #${verified.firstBreak.seq} (${verified.firstBreak.problem})`,
      ),
    );
    entries.replaceChildren(
      h('h3', {}, `Latest ${latest.length} entries (last ${WINDOW_HOURS} h)`),
      h(
        'table',
        { class: 'audit' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ...['#', 'At', 'Actor', 'Action', 'Resource', 'Resource id', 'Run', 'Outcome'].map(
              (title) => h('th', {}, title),
            ),
          ),
        ),
        h(
          'tbody',
          {},
          ...latest.map((entry) =>
            h(
              'tr',
              {},
              h('td', { class: 'number' }, entry.seq),
              h('td', {}, formatTime(entry.at)),
              h('td', {}, entry.actor),
              h('td', {}, entry.action),
              h('td', {}, entry.resourceType),
              h('td', {}, h('code', {}, entry.resourceId ?? '—')),
              h(
                'td',
                {},
                entry.runId === null
                  ? '—'
                  : h('a', { href: `#/runs/${entry.runId}` }, entry.runId.slice(0, 8)),
              ),
              h('td', {}, entry.outcome),
            ),
          ),
        ),
      ),
    );
  }

  const refresh = h('button', { type: 'button' }, 'Verify again');
  refresh.addEventListener('click', () => load().catch(onError));
  queueMicrotask(() => load().catch(onError));
  return h(
    'section',
    { class: 'audit-view' },
    h('h2', {}, 'Audit ', refresh),
    verification,
    entries,
  );
}
