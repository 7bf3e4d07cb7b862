import { readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SCOPES } from '../../lib/api/routes.ts';
import { mintToken } from '../../lib/auth/tokens.ts';
import { call, ingest, query, token, waitForRun } from './api.ts';
import { launchBrowser, saveScreenshot } from './browser.ts';

/** The submitter whose runs fail at Load: a trigger refuses their patients until it is dropped. */
const FAULTY_SUBMITTER = 'console-e2e-faulty-loader';
const NAME = 'Consolette Hidden-Name';
const BAD_BIRTH_DATE = '31/02/1999-not-a-date';
const MRN = 'MRN-CONSOLE-E2E';

const STAGE_STATES = ['Extract', 'Validate', 'ConsentCheck', 'Transform', 'Load'];

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

async function faultyToken(): Promise<string> {
  return mintToken(readFileSync(inject('jwtSecretFile')), {
    subject: FAULTY_SUBMITTER,
    scopes: [SCOPES.submitBatches],
    issuer: 'healthcare-etl-local',
    audience: 'healthcare-etl-api',
    ttlSeconds: 600,
  });
}

async function armLoadFault(): Promise<void> {
  await query(`CREATE OR REPLACE FUNCTION console_e2e_refuse_load() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM ingest_runs WHERE id = NEW.created_run_id AND actor = '${FAULTY_SUBMITTER}') THEN
        RAISE EXCEPTION 'console e2e: load refused';
      END IF;
      RETURN NEW;
    END $$`);
  await query(`CREATE OR REPLACE TRIGGER console_e2e_refuse_load BEFORE INSERT ON patients
    FOR EACH ROW EXECUTE FUNCTION console_e2e_refuse_load()`);
}

async function disarmLoadFault(): Promise<void> {
  await query('DROP TRIGGER IF EXISTS console_e2e_refuse_load ON patients');
  await query('DROP FUNCTION IF EXISTS console_e2e_refuse_load()');
}

/** Each state of the drawn state machine and the status it is coloured by. */
async function stateColours(page: Page): Promise<Record<string, string>> {
  await page.locator('svg.state-machine g.state').first().waitFor();
  return page
    .locator('svg.state-machine g.state')
    .evaluateAll((nodes) =>
      Object.fromEntries(
        nodes.map((node) => [
          node.getAttribute('data-state') ?? '',
          [...node.classList].find((name) => /^state--/.test(name))?.slice('state--'.length) ?? '',
        ]),
      ),
    );
}

/** The states whose name or counts run past their box, as the page rendered them. */
async function overflowingStates(page: Page): Promise<string[]> {
  await page.locator('svg.state-machine g.state').first().waitFor();
  return page.locator('svg.state-machine g.state').evaluateAll((nodes) =>
    nodes
      .filter((node) => {
        const box = node.querySelector('rect')?.getBBox();
        if (box === undefined) return true;
        // The retry count beside a box is outside it on purpose: its name and counts are not.
        return [...node.querySelectorAll('text')]
          .filter((text) => text.matches('.state-name, .state-detail') && text.textContent !== '')
          .some((text) => {
            const line = text.getBBox();
            return line.x < box.x || line.x + line.width > box.x + box.width;
          });
      })
      .map((node) => node.getAttribute('data-state') ?? ''),
  );
}

/** The runs the list shows once its latest request is in, top to bottom. */
async function listedRuns(page: Page): Promise<string[]> {
  await page.locator('table.runs:not([aria-busy])').waitFor();
  const ids = await page
    .locator('table.runs tbody tr')
    .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-run-id')));
  return ids.filter((id): id is string => id !== null);
}

/** A datetime-local field's value for `instant`, in the UTC the test's pages run in. */
function localField(instant: Date): string {
  return instant.toISOString().slice(0, 16);
}

async function filterRuns(
  page: Page,
  filter: { from: Date | null; to: Date; source: '' | 'api' | 'queue'; perPage: number },
): Promise<void> {
  await page.locator('input[name=from]').fill(filter.from === null ? '' : localField(filter.from));
  await page.locator('input[name=to]').fill(localField(filter.to));
  await page.locator('select[name=source]').selectOption(filter.source);
  await page.locator('input[name=limit]').fill(String(filter.perPage));
  await page.locator('form.filters button[type=submit]').click();
}

async function signIn(page: Page, bearer: string): Promise<void> {
  await page.goto(`${inject('apiUrl')}/console`);
  await page.locator('form.sign-in textarea').fill(bearer);
  await page.locator('form.sign-in button[type=submit]').click();
  await page.locator('table.runs').waitFor();
}

describe('the console in Chromium', () => {
  let browser: Browser;
  let operator: string;
  let succeededRun: string;
  let failedRun: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    const writer = await token([SCOPES.submitBatches]);
    // The operator (system/*.rs) sees the faulty submitter's run too: a tenant sees its own only.
    operator = await token([
      SCOPES.submitBatches,
      SCOPES.readPatients,
      SCOPES.readAudit,
      SCOPES.operateRuns,
    ]);
    await armLoadFault();
    const good = await ingest(
      [
        { resourceType: 'Patient', mrn: `${MRN}-1`, name: NAME, consent: { data_sharing: true } },
        { resourceType: 'Patient', mrn: `${MRN}-2`, name: NAME, birthDate: BAD_BIRTH_DATE },
      ],
      writer,
    );
    const bad = await ingest(
      [{ resourceType: 'Patient', mrn: `${MRN}-3`, name: NAME, consent: { data_sharing: true } }],
      await faultyToken(),
    );
    succeededRun = good.json.runId;
    failedRun = bad.json.runId;
    expect((await waitForRun(succeededRun, writer)).status).toBe('succeeded');
    expect(await waitForRun(failedRun, await faultyToken())).toMatchObject({
      status: 'failed',
      failedStage: 'load',
    });
    browser = await launchBrowser();
  }, 120_000);

  afterAll(async () => {
    await disarmLoadFault();
    await browser?.close();
  });

  async function openPage(): Promise<Page> {
    // In UTC, so the time filters' datetime-local fields read as the test writes them.
    const page = await browser.newPage({
      viewport: { width: 1400, height: 1000 },
      timezoneId: 'UTC',
    });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') {
        pageErrors.push(`${message.text()} ${message.location().url}`);
      }
    });
    return page;
  }

  it('is a static page with a strict policy, and says where a token comes from', async () => {
    // Act
    const response = await call('GET', '/console');
    const page = await openPage();
    await page.goto(`${inject('apiUrl')}/console`);
    const signInText = await page.locator('form.sign-in').textContent();

    // Assess
    expect(response.status).toBe(200);
    expect(response.headers.get('content-security-policy')).toContain("connect-src 'self'");
    expect(signInText).toContain(
      'npm run token -- --scope "system/Patient.c user/Patient.r system/AuditEvent.r"',
    );
    expect(signInText).toContain('identity provider');
    await page.close();
  });

  it('signs in with a pasted token kept in sessionStorage, never in the URL, and lists the runs newest first', async () => {
    // Prepare
    const page = await openPage();

    // Act
    await signIn(page, operator);
    await page.locator(`tr[data-run-id="${failedRun}"]`).waitFor();
    const stored = await page.evaluate(() => Object.values(sessionStorage));
    const runIds = await page
      .locator('table.runs tbody tr')
      .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-run-id')));
    const failedRow = await page
      .locator(`tr[data-run-id="${failedRun}"]`)
      .getAttribute('data-status');
    await page.locator('input[name=status][value=failed]').check();
    await page.locator('form.filters button[type=submit]').click();
    await page.locator(`tr[data-run-id="${succeededRun}"]`).waitFor({ state: 'detached' });
    const filtered = await page
      .locator('table.runs tbody tr')
      .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-status')));

    // Assess
    expect(stored).toEqual([operator]);
    expect(page.url()).not.toContain(operator.slice(-20));
    expect(runIds.indexOf(failedRun)).toBeLessThan(runIds.indexOf(succeededRun));
    expect(failedRow).toBe('failed');
    expect(new Set(filtered)).toEqual(new Set(['failed']));
    await page.close();
  });

  it('draws a succeeded run’s path done, and its rejection by schema path without the value', async () => {
    // Prepare
    const page = await openPage();
    await signIn(page, operator);

    // Act
    await page.goto(`${inject('apiUrl')}/console#/runs/${succeededRun}`);
    const colours = await stateColours(page);
    const overflowing = await overflowingStates(page);
    await page.locator('table.rejections tbody tr').first().waitFor();
    const rejections = await page.locator('table.rejections tbody tr').allTextContents();
    const text = (await page.locator('body').textContent()) ?? '';

    // Assess
    for (const state of [...STAGE_STATES, 'Publish', 'RunOutcome', 'RunSucceeded']) {
      expect(colours[state], state).toBe('done');
    }
    for (const state of ['MarkFailed', 'RunFailed', 'OutcomeNotPublished']) {
      expect(colours[state], state).toBe('not-reached');
    }
    expect(overflowing).toStrictEqual([]);
    expect(rejections).toHaveLength(1);
    expect(rejections[0]).toContain('schema');
    expect(rejections[0]).toContain('/birthDate');
    expect(text).not.toContain(BAD_BIRTH_DATE);
    expect(text).not.toContain(NAME);
    expect(text).not.toContain(MRN);
    await page.close();
  });

  it('offers no re-drive to a token that may only read runs', async () => {
    // Prepare
    const page = await openPage();
    // An operator who may read every run, and re-drive none.
    await signIn(page, await token([SCOPES.operateRuns]));

    // Act
    await page.goto(`${inject('apiUrl')}/console#/runs/${failedRun}`);
    const colours = await stateColours(page);

    // Assess
    expect(colours['Load']).toBe('failed');
    expect(await page.locator('button.redrive').count()).toBe(0);
    await page.close();
  });

  it('draws a failed run failed at Load and down the Catch path with its execution history, and re-drives it to succeeded', async () => {
    // Prepare
    const page = await openPage();
    await signIn(page, operator);
    await page.goto(`${inject('apiUrl')}/console#/runs/${failedRun}`);
    const failedColours = await stateColours(page);
    const overflowing = await overflowingStates(page);
    const catchEdges = await page.locator('svg.state-machine g.edge--catch').count();
    await page.locator('table.history tbody tr.history--error').first().waitFor();
    const failures = await page.locator('table.history tbody tr.history--error').allTextContents();
    await saveScreenshot(page, 'console-run-failed', { fullPage: true });
    // The README's picture (docs/console.png): the page from its top to the graph's foot.
    const graph = await page.locator('.graph').boundingBox();
    await saveScreenshot(page, 'console-readme', {
      fullPage: true,
      clip: {
        x: 0,
        y: 0,
        width: Math.max(1000, Math.ceil((graph?.x ?? 0) + (graph?.width ?? 0) + 20)),
        height: Math.ceil((graph?.y ?? 0) + (graph?.height ?? 0)),
      },
    });
    await disarmLoadFault();

    // Act
    await page.locator('button.redrive').click();
    // The page says so once the API accepted the re-drive (202): the run is running again.
    await page.getByText('Re-driven').waitFor();
    const redriven = await waitForRun(failedRun, operator);
    await page.locator('.run-header .status--succeeded').waitFor({ timeout: 10_000 });
    const succeededColours = await stateColours(page);
    const executions = await page
      .locator('table.history tbody tr td:first-child')
      .allTextContents();
    const history = await call('GET', `/api/v1/runs/${failedRun}/history`, { token: operator });
    await saveScreenshot(page, 'console-run-redriven', { fullPage: true });

    // Assess
    expect(failedColours).toMatchObject({
      Extract: 'done',
      Transform: 'done',
      Load: 'failed',
      MarkFailed: 'done',
      Publish: 'done',
      RunFailed: 'failed',
      RunSucceeded: 'not-reached',
    });
    expect(overflowing).toStrictEqual([]);
    expect(catchEdges).toBeGreaterThanOrEqual(STAGE_STATES.length);
    expect(failures.some((row) => row.includes('Load'))).toBe(true);
    expect(new Set(executions)).toEqual(new Set(['first', 're-drive 1']));
    expect(history.status).toBe(200);
    expect(new Set(history.json.data.map((event: { attempt: number }) => event.attempt))).toEqual(
      new Set([0, 1]),
    );
    expect(history.text).not.toMatch(/"(input|output|cause)"/);
    expect(history.text).not.toContain(MRN);
    expect(redriven.status).toBe('succeeded');
    expect(succeededColours).toMatchObject({
      Load: 'done',
      MarkFailed: 'not-reached',
      RunSucceeded: 'done',
      RunFailed: 'not-reached',
    });
    await page.close();
  });

  describe('the run list’s source and time filters and its pages', () => {
    /** A past hour no other run shares: three days back, on the hour. */
    const windowStart = new Date(Math.floor(Date.now() / HOUR) * HOUR - 72 * HOUR);
    const windowEnd = new Date(windowStart.getTime() + HOUR);
    /** Our runs inside the window, newest first. */
    let inWindow: string[];
    /** Ours half an hour before the window. */
    let before: string;
    /** The one of inWindow recorded as the ingest queue's. */
    let fromQueue: string;

    beforeAll(async () => {
      const writer = await token([SCOPES.submitBatches]);
      const accepted = await Promise.all(
        Array.from({ length: 6 }, (_, n) =>
          ingest(
            [
              {
                resourceType: 'Patient',
                mrn: `${MRN}-PAGED-${n}`,
                name: NAME,
                consent: { data_sharing: true },
              },
            ],
            writer,
          ),
        ),
      );
      const runIds: string[] = accepted.map((response) => response.json.runId);
      for (const runId of runIds)
        expect((await waitForRun(runId, writer)).status).toBe('succeeded');
      // Moved into the past hour, each a minute after the last, the whole run shifted alike.
      const createdAt = runIds.map((_, n) =>
        n === 0
          ? new Date(windowStart.getTime() - 30 * MINUTE)
          : new Date(windowStart.getTime() + n * MINUTE),
      );
      for (const [n, runId] of runIds.entries()) {
        await query(
          `UPDATE ingest_runs SET created_at = $2,
             updated_at = updated_at + ($2 - created_at), finished_at = finished_at + ($2 - created_at)
           WHERE id = $1`,
          [runId, createdAt[n]],
        );
      }
      [before] = runIds as [string];
      inWindow = runIds.slice(1).reverse();
      fromQueue = runIds[3] as string;
      // The embedded stack has no SQS queue: the run is labelled as the queue consumer's runs are.
      await query(`UPDATE ingest_runs SET source = 'queue' WHERE id = $1`, [fromQueue]);
    }, 120_000);

    it('shows the queue’s runs or the API’s by source, and no run from before the window’s start', async () => {
      // Prepare
      const page = await openPage();
      await signIn(page, operator);

      // Act
      await filterRuns(page, { from: windowStart, to: windowEnd, source: 'queue', perPage: 25 });
      const queued = await listedRuns(page);
      await filterRuns(page, { from: windowStart, to: windowEnd, source: 'api', perPage: 25 });
      const viaApi = await listedRuns(page);
      await filterRuns(page, { from: windowStart, to: windowEnd, source: '', perPage: 25 });
      const inTheWindow = await listedRuns(page);
      await filterRuns(page, { from: null, to: windowEnd, source: '', perPage: 25 });
      const untilTheWindowEnds = await listedRuns(page);

      // Assess
      expect(queued).toStrictEqual([fromQueue]);
      expect(viaApi).toStrictEqual(inWindow.filter((runId) => runId !== fromQueue));
      expect(inTheWindow).toStrictEqual(inWindow);
      expect(untilTheWindowEnds.slice(0, inWindow.length + 1)).toStrictEqual([...inWindow, before]);
      await page.close();
    });

    it('pages the window two runs at a time, newest first, no run repeated or skipped', async () => {
      // Prepare
      const page = await openPage();
      await signIn(page, operator);
      const older = page.locator('button.older');

      // Act
      await filterRuns(page, { from: windowStart, to: windowEnd, source: '', perPage: 2 });
      const pages = [await listedRuns(page)];
      while ((await older.isEnabled()) && pages.length <= inWindow.length) {
        await older.click();
        pages.push(await listedRuns(page));
      }
      const live = await page.locator('.live').textContent();
      const url = page.url();

      // Assess
      expect(pages).toStrictEqual([inWindow.slice(0, 2), inWindow.slice(2, 4), inWindow.slice(4)]);
      expect(live).toBe('paused (older page)');
      expect(url).not.toContain(operator.slice(-20));
      await page.close();
    });
  });

  it('charts throughput and the stage time split', async () => {
    // Prepare
    const page = await openPage();
    await signIn(page, operator);

    // Act
    await page.locator('nav a[href="#/throughput"]').click();
    await page.locator('[data-chart=records-per-second] canvas').waitFor();
    const charts = await page.locator('.chart canvas').count();
    const stages = await page
      .locator('table.stage-split tbody tr')
      .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-stage')));
    await saveScreenshot(page, 'console-throughput', { fullPage: true });

    // Assess
    expect(charts).toBe(2);
    expect(stages).toEqual(['extract', 'validate', 'consentCheck', 'transform', 'load']);
    expect(pageErrors).toStrictEqual([]);
    await page.close();
  });

  it('shows the latest audit entries newest first in one read, and verifies the chain only when asked', async () => {
    // Prepare
    const page = await openPage();
    await signIn(page, operator);
    const auditReads: string[] = [];
    page.on('request', (request) => {
      const url = new URL(request.url());
      if (url.pathname.startsWith('/api/v1/audit')) auditReads.push(`${url.pathname}${url.search}`);
    });
    const [logged] = await query<{ last: string; entries: number }>(
      'SELECT max(seq) AS last, count(*)::int AS entries FROM audit_log',
    );
    const last = Number(logged!.last);

    // Act: open the view, then verify
    await page.locator('nav a[href="#/audit"]').click();
    await page.locator('table.audit tbody tr').first().waitFor();
    const seqs = (await page.locator('table.audit tbody tr td:first-child').allTextContents()).map(
      Number,
    );
    const auditText = (await page.locator('table.audit').textContent()) ?? '';
    const hint = await page.locator('.verify-chain').textContent();
    const readsBeforeClick = [...auditReads];
    const chainBeforeClick = await page.locator('.chain').count();
    await page.getByRole('button', { name: 'Verify chain' }).click();
    await page.locator('.chain').waitFor();
    const chain = await page.locator('.chain').textContent();
    await saveScreenshot(page, 'console-audit', { fullPage: true });

    // Assess
    expect(readsBeforeClick).toEqual(['/api/v1/audit?order=desc&limit=50']);
    expect(chainBeforeClick).toBe(0);
    expect(hint).toContain('whole audit log');
    expect(auditReads).toEqual(['/api/v1/audit?order=desc&limit=50', '/api/v1/audit/verify']);
    expect(chain).toContain('Chain verified');
    expect(seqs.length).toBe(Math.min(50, logged!.entries));
    expect(seqs[0]).toBeGreaterThanOrEqual(last);
    expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
    expect(auditText).not.toContain(NAME);
    expect(pageErrors).toStrictEqual([]);
    await page.close();
  });

  it('names no run for an address whose run id is no UUID, and asks the API nothing about it', async () => {
    // Prepare
    const page = await openPage();
    await signIn(page, operator);
    const runReads: string[] = [];
    page.on('request', (request) => {
      const url = new URL(request.url());
      if (url.pathname.startsWith('/api/v1/runs/')) runReads.push(url.pathname);
    });

    // Act
    await page.goto(`${inject('apiUrl')}/console#/runs/%E0%A4%A`);
    const malformed = await page.locator('.no-such-run').textContent();
    await page.goto(`${inject('apiUrl')}/console#/runs/..%2F..%2Faudit`);
    const traversal = await page.locator('.no-such-run').textContent();

    // Assess
    expect(malformed).toContain('No such run');
    expect(traversal).toContain('No such run');
    expect(runReads).toEqual([]);
    expect(pageErrors).toStrictEqual([]);
    await page.close();
  });
});
