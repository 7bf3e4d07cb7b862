/**
 * The runs console: sign-in with a pasted bearer token, then Runs, a run, Throughput and Audit,
 * routed by the URL's fragment (`#/runs/<id>`); the token never enters a URL.
 */
import './console.css';
import 'uplot/dist/uPlot.min.css';
import {
  ApiError,
  forgetToken,
  mayReadAudit,
  type Principal,
  principalOf,
  storedToken,
  storeToken,
} from './api.ts';
import { auditView } from './auditView.ts';
import { h } from './dom.ts';
import { routeOf } from './route.ts';
import { runsView } from './runsView.ts';
import { runView } from './runView.ts';
import { throughputView } from './throughputView.ts';

const root = document.getElementById('console');
if (root === null) throw new Error('the page has no #console element');
const app: HTMLElement = root;

const TOKEN_HELP = [
  'On the embedded stack (npm start): ',
  h('code', {}, 'npm run token -- --scope "system/Patient.c user/Patient.r system/AuditEvent.r"'),
  '. On AWS: a token from the identity provider the API trusts (its issuer and audience). ',
  'Runs need system/Patient.c or user/Patient.r; re-drive needs system/Patient.c; audit needs system/AuditEvent.r.',
];

let stopCurrent: () => void = () => {};
const banner = h('p', { class: 'error', role: 'alert', hidden: true });

function showError(error: unknown): void {
  if (error instanceof ApiError && error.status === 401) {
    forgetToken();
    signIn('The token was refused (expired or not for this API): paste a new one.');
    return;
  }
  banner.hidden = false;
  banner.textContent =
    error instanceof ApiError
      ? `${error.status}: ${error.message}${error.status === 403 ? ' (the token lacks the scope this needs)' : ''}`
      : 'The API could not be reached.';
}

function signIn(reason = ''): void {
  stopCurrent();
  const input = h('textarea', {
    name: 'token',
    rows: 4,
    cols: 80,
    autocomplete: 'off',
    spellcheck: false,
    placeholder: 'eyJhbGciOi…',
    'aria-label': 'Bearer token',
  });
  const problem = h('p', { class: 'error', role: 'alert' }, reason);
  const form = h(
    'form',
    { class: 'sign-in' },
    h('h2', {}, 'Sign in'),
    h('p', {}, 'Paste a bearer token. It is kept in this tab’s session storage only.'),
    input,
    h('p', { class: 'hint' }, 'Where a token comes from: ', ...TOKEN_HELP),
    problem,
    h('button', { type: 'submit' }, 'Sign in'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const token = input.value.trim().replace(/^Bearer\s+/i, '');
    if (principalOf(token) === undefined) {
      problem.textContent = 'That is not a JWT (three base64url parts separated by dots).';
      return;
    }
    storeToken(token);
    route();
  });
  app.replaceChildren(header(undefined), form);
}

function header(principal: Principal | undefined): HTMLElement {
  const signOut = h('button', { type: 'button', class: 'sign-out' }, 'Sign out');
  signOut.addEventListener('click', () => {
    forgetToken();
    signIn();
  });
  return h(
    'header',
    {},
    h('h1', {}, 'Healthcare ETL · console'),
    principal === undefined
      ? null
      : h(
          'nav',
          {},
          h('a', { href: '#/runs' }, 'Runs'),
          h('a', { href: '#/throughput' }, 'Throughput'),
          mayReadAudit(principal) ? h('a', { href: '#/audit' }, 'Audit') : null,
          h('a', { href: '/docs' }, 'API docs'),
          h(
            'span',
            { class: 'principal', title: principal.scopes.join(' ') },
            `${principal.subject}${principal.expiresAt === null ? '' : ` · until ${principal.expiresAt.toLocaleTimeString()}`}`,
          ),
          signOut,
        ),
  );
}

function route(): void {
  stopCurrent();
  stopCurrent = () => {};
  banner.hidden = true;
  const token = storedToken();
  const principal = token === null ? undefined : principalOf(token);
  if (principal === undefined) {
    signIn();
    return;
  }
  const target = routeOf(window.location.hash);
  let view: HTMLElement;
  if (target.view === 'run') {
    const shown = runView(target.runId, principal, showError);
    stopCurrent = shown.stop;
    view = shown.element;
  } else if (target.view === 'no-such-run') {
    view = h(
      'section',
      { class: 'no-such-run' },
      h('p', { class: 'empty' }, 'No such run: the address does not name a run id.'),
      h('p', {}, h('a', { href: '#/runs' }, '← All runs')),
    );
  } else if (target.view === 'throughput') {
    view = throughputView(showError);
  } else if (target.view === 'audit') {
    view = auditView(showError);
  } else {
    const shown = runsView(showError);
    stopCurrent = shown.stop;
    view = shown.element;
  }
  app.replaceChildren(header(principal), banner, h('main', {}, view));
}

window.addEventListener('hashchange', route);
route();
