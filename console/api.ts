/**
 * The API the console reads, with the pasted bearer token: runs, rejections and audit entries
 * only, so no PHI reaches the page. The token lives in sessionStorage, never in a URL.
 */
import { ROUTES } from '../lib/api/routes.ts';
import { satisfiesAny } from '../lib/auth/scopes.ts';

const TOKEN_KEY = 'healthcare-etl-console-token';

export interface RunView {
  readonly runId: string;
  readonly status: 'queued' | 'running' | 'succeeded' | 'failed';
  readonly currentStage: string | null;
  readonly failedStage: string | null;
  readonly source: string;
  readonly submitter: string;
  readonly counts: Readonly<Record<string, number>>;
  readonly rejectedByReason: Readonly<Record<string, number>>;
  readonly stageTimings: Readonly<Record<string, number>>;
  readonly errorCode: string | null;
  readonly createdAt: string;
  readonly finishedAt: string | null;
  readonly durationMs: number | null;
  readonly recordsPerSecond: number | null;
}

export interface Page<T> {
  readonly data: readonly T[];
  readonly links: { readonly next: string | null };
}

export interface RejectionView {
  readonly recordIndex: number;
  readonly resourceType: string | null;
  readonly reason: string;
  readonly details: Readonly<Record<string, unknown>>;
  readonly stage: string;
}

export interface HistoryEventView {
  readonly attempt: number;
  readonly id: number;
  readonly type: string;
  readonly timestamp: string;
  readonly stateName: string | null;
  readonly error: string | null;
}

export interface AuditEntryView {
  readonly seq: number;
  readonly at: string;
  readonly actor: string;
  readonly action: string;
  readonly resourceType: string;
  readonly resourceId: string | null;
  readonly runId: string | null;
  readonly outcome: string;
}

export interface AuditVerification {
  readonly valid: boolean;
  readonly rowsChecked: number;
  readonly firstBreak: { readonly seq: number; readonly problem: string } | null;
  /** Each finding on its own: edited, recomputed, truncated, unsealed, checkpoint-forged. */
  readonly problems: readonly { readonly problem: string; readonly seq: number | null }[];
  readonly checkedAt: string;
}

/** A response other than 2xx: its status and the problem's title, never its raw body. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly status: number;

  constructor(status: number, title: string) {
    super(title);
    this.status = status;
  }
}

export interface Principal {
  readonly subject: string;
  readonly scopes: readonly string[];
  readonly expiresAt: Date | null;
}

function base64UrlDecode(text: string): string {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const bytes = Uint8Array.from(atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, '=')), (c) =>
    c.charCodeAt(0),
  );
  return new TextDecoder().decode(bytes);
}

/** What the token says of itself (unverified: the API verifies it on every call). */
export function principalOf(token: string): Principal | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims: unknown = JSON.parse(base64UrlDecode(payload));
    if (typeof claims !== 'object' || claims === null) return undefined;
    const { sub, scope, scp, exp } = claims as Record<string, unknown>;
    const granted = scope ?? scp;
    const scopes =
      typeof granted === 'string'
        ? granted.split(/\s+/).filter((entry) => entry !== '')
        : Array.isArray(granted)
          ? granted.filter((entry): entry is string => typeof entry === 'string')
          : [];
    return {
      subject: typeof sub === 'string' ? sub : '(no subject)',
      scopes,
      expiresAt: typeof exp === 'number' ? new Date(exp * 1000) : null,
    };
  } catch {
    return undefined;
  }
}

export function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function storeToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

export function mayRedrive(principal: Principal): boolean {
  return satisfiesAny(principal.scopes, ROUTES.redriveRun.anyOf);
}

export function mayReadAudit(principal: Principal): boolean {
  return satisfiesAny(principal.scopes, ROUTES.listAudit.anyOf);
}

async function request<T>(method: 'GET' | 'POST', path: string): Promise<T> {
  const token = storedToken();
  const response = await fetch(path, {
    method,
    headers: {
      accept: 'application/json',
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
    },
    credentials: 'omit',
    cache: 'no-store',
  });
  const body: unknown = await response.json().catch(() => undefined);
  if (!response.ok) {
    const title =
      typeof body === 'object' &&
      body !== null &&
      typeof (body as { title?: unknown }).title === 'string'
        ? (body as { title: string }).title
        : response.statusText;
    throw new ApiError(response.status, title);
  }
  return body as T;
}

export interface RunFilter {
  readonly statuses: readonly string[];
  readonly source: string;
  /** ISO date-times, or '' for none. */
  readonly from: string;
  readonly to: string;
}

export function runsPath(filter: RunFilter, limit: number): string {
  const query = new URLSearchParams({ limit: String(limit) });
  if (filter.statuses.length > 0) query.set('status', filter.statuses.join(','));
  if (filter.source !== '') query.set('source', filter.source);
  if (filter.from !== '') query.set('from', filter.from);
  if (filter.to !== '') query.set('to', filter.to);
  return `${ROUTES.listRuns.path}?${query}`;
}

/** A page of runs: `path` is runsPath's, or a `next` link the API wrote. */
export function listRuns(path: string): Promise<Page<RunView>> {
  return request('GET', path);
}

function runPath(runId: string): string {
  return ROUTES.getRun.path.replace('{runId}', encodeURIComponent(runId));
}

export function getRun(runId: string): Promise<RunView> {
  return request('GET', runPath(runId));
}

export function listRejections(runId: string): Promise<Page<RejectionView>> {
  return request('GET', `${runPath(runId)}/rejections`);
}

export interface RunHistoryView {
  readonly data: readonly HistoryEventView[];
  /** How many of the oldest executions the API left out (it reads only the latest ones). */
  readonly olderAttemptsOmitted: number;
  /** The executions of which only the first events are listed. */
  readonly truncatedAttempts: readonly number[];
}

export function runHistory(runId: string): Promise<RunHistoryView> {
  return request('GET', ROUTES.getRunHistory.path.replace('{runId}', encodeURIComponent(runId)));
}

export function redriveRun(runId: string): Promise<unknown> {
  return request('POST', `${runPath(runId)}/redrive`);
}

export function listAudit(path: string): Promise<Page<AuditEntryView>> {
  return request('GET', path);
}

export function verifyAudit(): Promise<AuditVerification> {
  return request('GET', ROUTES.verifyAudit.path);
}
