/** Audit: the hash chain's verification and the latest entries (identifiers only, never PHI). */
import { ROUTES } from '../lib/api/routes.ts';
import { listAudit, verifyAudit } from './api.ts';
import { h } from './dom.ts';
import { formatTime } from './format.ts';

const LATEST = 50;

/** The latest entries, newest first: one page, whatever the log's length. */
const LATEST_ENTRIES_PATH = `${ROUTES.listAudit.path}?${new URLSearchParams({
  order: 'desc',
  limit: String(LATEST),
})}`;

export function auditView(onError: (error: unknown) => void): HTMLElement {
  const verify = h('button', { type: 'button', class: 'verify' }, 'Verify chain');
  const verification = h('div', { class: 'verification', 'aria-live': 'polite' });
  const entries = h('div', { class: 'audit-entries' });

  async function verifyChain(): Promise<void> {
    verify.disabled = true;
    verification.setAttribute('aria-busy', 'true');
    try {
      const verified = await verifyAudit();
      verification.replaceChildren(
        h(
          'p',
          { class: `chain chain--${verified.valid ? 'valid' : 'broken'}` },
          verified.valid ? '✔ Chain verified' : '✘ Chain broken',
          ` · ${verified.rowsChecked} entries checked at ${formatTime(verified.checkedAt)}`,
          ...verified.problems.map(({ problem, seq }) =>
            seq === null ? ` · ${problem}` : ` · ${problem} at #${seq}`,
          ),
        ),
      );
    } finally {
      verify.disabled = false;
      verification.removeAttribute('aria-busy');
    }
  }

  async function showLatest(): Promise<void> {
    const latest = (await listAudit(LATEST_ENTRIES_PATH)).data;
    entries.replaceChildren(
      h('h3', {}, `Latest ${latest.length} entries, newest first`),
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

  verify.addEventListener('click', () => verifyChain().catch(onError));
  queueMicrotask(() => showLatest().catch(onError));
  return h(
    'section',
    { class: 'audit-view' },
    h('h2', {}, 'Audit'),
    h(
      'div',
      { class: 'verify-chain' },
      verify,
      h(
        'p',
        { class: 'hint' },
        'Verification reads and rehashes the whole audit log, every entry since the first, so it takes longer as the log grows; it runs only when asked.',
      ),
    ),
    verification,
    entries,
  );
}
