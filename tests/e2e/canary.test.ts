import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  DescribeExecutionCommand,
  type ExecutionListItem,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { type ApiResponse, call, token } from './api.ts';
import { mapConcurrently } from './workerPool.ts';

/** PHI values no other test uses, so any copy of them outside an encrypted column is a leak. */
interface Canaries {
  readonly name: string;
  readonly mrn: string;
  readonly ssn: string;
  readonly birthDate: string;
}

/** A place PHI could end up, as the bytes found there. */
interface Sink {
  readonly where: string;
  readonly bytes: Buffer;
}

interface Canary {
  readonly label: string;
  readonly bytes: Buffer;
}

const TAG = randomBytes(5).toString('hex').toUpperCase();

function digits(count: number): string {
  return Array.from({ length: count }, () => randomInt(10)).join('');
}

function canariesFor(role: string): Canaries {
  return {
    name: `Zqx${role}canary Vyw${TAG}`,
    mrn: `MRN-CANARY-${role.toUpperCase()}-${TAG}`,
    ssn: `${digits(3)}-${digits(2)}-${digits(4)}`,
    // 1851 to 1899: no timestamp the stack writes looks like these.
    birthDate: `18${randomInt(51, 100)}-0${randomInt(1, 10)}-${randomInt(10, 29)}`,
  };
}

const CONSENTED = canariesFor('consented');
/** Fails validation on its birth date (30 February), which is itself a canary. */
const INVALID = { ...canariesFor('invalid'), birthDate: `18${randomInt(51, 100)}-02-30` };
const REFUSED = canariesFor('refused');

const CANARIES: readonly Canary[] = Object.entries({
  consented: CONSENTED,
  invalid: INVALID,
  refused: REFUSED,
}).flatMap(([record, values]) =>
  Object.entries(values).map(([field, value]) => ({
    label: `${record}.${field}`,
    bytes: Buffer.from(value, 'utf8'),
  })),
);

function hitsIn(sink: Sink): string[] {
  return CANARIES.filter((canary) => sink.bytes.includes(canary.bytes)).map(
    (canary) => `${sink.where}: ${canary.label}`,
  );
}

/** Each occurrence with its line number, since the log is one large file. */
function hitsInLog(log: Buffer): string[] {
  const hits: string[] = [];
  for (const canary of CANARIES) {
    for (let at = log.indexOf(canary.bytes); at >= 0; at = log.indexOf(canary.bytes, at + 1)) {
      const line = log.subarray(0, at).toString('latin1').split('\n').length;
      hits.push(`stack log line ${line}: ${canary.label}`);
    }
  }
  return hits;
}

function quoted(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

/**
 * The equivalent of `pg_dump --data-only`: every row of every table as text, bytea in the
 * escape format (printable bytes appear literally), then every bytea cell as raw bytes.
 */
async function databaseDump(): Promise<Sink[]> {
  const client = new pg.Client({ connectionString: inject('stackDatabaseUrl') });
  await client.connect();
  try {
    const sinks: Sink[] = [];
    const tables = await client.query<{ name: string }>(
      "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
    );
    await client.query("SET bytea_output = 'escape'");
    for (const { name } of tables.rows) {
      const rows = await client.query<{ row: string }>(
        `SELECT t::text AS row FROM public.${quoted(name)} t`,
      );
      rows.rows.forEach(({ row }, index) => {
        sinks.push({ where: `table ${name} row ${index} (as text)`, bytes: Buffer.from(row) });
      });
    }
    await client.query('RESET bytea_output');
    const columns = await client.query<{ table: string; column: string }>(
      `SELECT table_name AS table, column_name AS column FROM information_schema.columns
       WHERE table_schema = 'public' AND data_type = 'bytea' ORDER BY table_name, column_name`,
    );
    for (const { table, column } of columns.rows) {
      const cells = await client.query<{ cell: Buffer }>(
        `SELECT ${quoted(column)} AS cell FROM public.${quoted(table)} WHERE ${quoted(column)} IS NOT NULL`,
      );
      cells.rows.forEach(({ cell }, index) => {
        sinks.push({ where: `table ${table} column ${column} cell ${index} (bytea)`, bytes: cell });
      });
    }
    return sinks;
  } finally {
    await client.end();
  }
}

async function pipelineEvents(): Promise<Sink[]> {
  const client = new pg.Client({ connectionString: inject('stackDatabaseUrl') });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string; run_id: string; event: string }>(
      'SELECT id::text, run_id::text, e::text AS event FROM pipeline_events e ORDER BY id',
    );
    return rows.map((row) => ({
      where: `pipeline_events id ${row.id} (run ${row.run_id})`,
      bytes: Buffer.from(row.event),
    }));
  } finally {
    await client.end();
  }
}

function stepFunctions(): SFNClient {
  return new SFNClient({
    endpoint: inject('stepFunctionsEndpoint'),
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

/** Every execution's input and output, and every state's input and output in its history. */
async function executionData(client: SFNClient): Promise<Sink[]> {
  const executions: ExecutionListItem[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      new ListExecutionsCommand({
        stateMachineArn: inject('stateMachineArn'),
        ...(nextToken === undefined ? {} : { nextToken }),
      }),
    );
    executions.push(...(page.executions ?? []));
    nextToken = page.nextToken;
  } while (nextToken !== undefined);

  const perExecution = await mapConcurrently(executions, 16, async ({ executionArn, name }) => {
    const described = await client.send(new DescribeExecutionCommand({ executionArn }));
    const events: HistoryEvent[] = [];
    let historyToken: string | undefined;
    do {
      const page = await client.send(
        new GetExecutionHistoryCommand({
          executionArn,
          includeExecutionData: true,
          ...(historyToken === undefined ? {} : { nextToken: historyToken }),
        }),
      );
      events.push(...(page.events ?? []));
      historyToken = page.nextToken;
    } while (historyToken !== undefined);
    return [
      {
        where: `execution ${name} (DescribeExecution input/output)`,
        bytes: Buffer.from(JSON.stringify([described.input, described.output, described.cause])),
      },
      ...events.map((event) => ({
        where: `execution ${name} history event ${event.id} ${event.type}`,
        bytes: Buffer.from(JSON.stringify(event)),
      })),
    ];
  });
  return perExecution.flat();
}

async function executionEnded(client: SFNClient, runId: string): Promise<string | undefined> {
  const executionArn = `${inject('stateMachineArn').replace(':stateMachine:', ':execution:')}:${runId}`;
  for (let polls = 0; polls < 300; polls += 1) {
    const { status } = await client.send(new DescribeExecutionCommand({ executionArn }));
    if (status !== 'RUNNING') return status;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return undefined;
}

describe('the canary sweep: planted PHI appears nowhere but in the authorised read', () => {
  it('no canary in the stack log, the execution histories, the events, the responses or the database dump', {
    timeout: 240_000,
  }, async () => {
    // Prepare
    const writer = await token(['system/Patient.c']);
    const reader = await token(['user/Patient.r']);
    const consentWriter = await token(['user/Consent.u']);
    const auditor = await token(['system/AuditEvent.r']);
    const sfn = stepFunctions();
    const responses: Sink[] = [];
    /** Every response but the authorised patient reads goes into the sweep. */
    const observed = async (
      label: string,
      method: string,
      path: string,
      options: Parameters<typeof call>[2],
    ): Promise<ApiResponse> => {
      const response = await call(method, path, options);
      const headers = JSON.stringify([...response.headers.entries()]);
      responses.push({
        where: `response to ${label} (${response.status})`,
        bytes: Buffer.from(`${headers}\n${response.text}`),
      });
      return response;
    };
    const records = [
      { resourceType: 'Patient', ...CONSENTED, gender: 'other', consent: { data_sharing: true } },
      { resourceType: 'Patient', ...INVALID, gender: 'female', consent: { data_sharing: true } },
      { resourceType: 'Patient', ...REFUSED, gender: 'male', consent: { data_sharing: false } },
    ];

    // Act: ingest through the API and follow the run to its end
    const accepted = await observed('POST /api/v1/ingest', 'POST', '/api/v1/ingest', {
      token: writer,
      body: JSON.stringify({ records }),
      headers: { 'content-type': 'application/json' },
    });
    const runId: string = accepted.json.runId;
    // Polled here rather than with waitForRun, so that these responses are swept too.
    const pollRun = () =>
      observed('GET /api/v1/runs/{runId}', 'GET', `/api/v1/runs/${runId}`, { token: writer });
    let run = await pollRun();
    for (
      let polls = 1;
      !['succeeded', 'failed'].includes(run.json.status) && polls < 240;
      polls += 1
    ) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      run = await pollRun();
    }
    const executionStatus = await executionEnded(sfn, runId);
    const rejections = await observed(
      'GET /api/v1/runs/{runId}/rejections',
      'GET',
      `/api/v1/runs/${runId}/rejections`,
      { token: writer },
    );

    // Act: the authorised reads, the only responses allowed to carry PHI
    const byMrn = await call('GET', `/api/v1/patients?mrn=${encodeURIComponent(CONSENTED.mrn)}`, {
      token: reader,
    });
    const patientId: string = byMrn.json.data[0].id;
    const byId = await call('GET', `/api/v1/patients/${patientId}`, { token: reader });

    // Act: every other endpoint, with the same ids
    const unknownMrns = await Promise.all(
      [INVALID.mrn, REFUSED.mrn].map((mrn) =>
        observed(
          'GET /api/v1/patients?mrn= (not stored)',
          'GET',
          `/api/v1/patients?mrn=${encodeURIComponent(mrn)}`,
          {
            token: reader,
          },
        ),
      ),
    );
    const redrive = await observed(
      'POST /api/v1/runs/{runId}/redrive',
      'POST',
      `/api/v1/runs/${runId}/redrive`,
      { token: writer },
    );
    const audit = await observed(
      'GET /api/v1/audit?patient=',
      'GET',
      `/api/v1/audit?patient=${patientId}`,
      { token: auditor },
    );
    const verify = await observed('GET /api/v1/audit/verify', 'GET', '/api/v1/audit/verify', {
      token: auditor,
    });
    const revoke = await observed(
      'PUT /api/v1/patients/{id}/consent',
      'PUT',
      `/api/v1/patients/${patientId}/consent`,
      {
        token: consentWriter,
        body: JSON.stringify({ data_sharing: false, source: 'canary-sweep' }),
        headers: { 'content-type': 'application/json' },
      },
    );
    const deniedById = await observed(
      'GET /api/v1/patients/{id} (revoked)',
      'GET',
      `/api/v1/patients/${patientId}`,
      { token: reader },
    );
    const deniedByMrn = await observed(
      'GET /api/v1/patients?mrn= (revoked)',
      'GET',
      `/api/v1/patients?mrn=${encodeURIComponent(CONSENTED.mrn)}`,
      { token: reader },
    );

    // Act: gather every sink, the stack's own output last so it holds everything above
    const events = await pipelineEvents();
    const executions = await executionData(sfn);
    const dump = await databaseDump();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const log = readFileSync(inject('stackLogFile'));
    const hits = [
      ...hitsInLog(log),
      ...executions.flatMap(hitsIn),
      ...events.flatMap(hitsIn),
      ...responses.flatMap(hitsIn),
      ...dump.flatMap(hitsIn),
    ];

    // Assess: the flow did what the sweep assumes
    expect(accepted.status).toBe(202);
    expect(run.json).toMatchObject({
      status: 'succeeded',
      counts: { received: 3, loaded: 1, rejected: 2 },
    });
    expect(executionStatus).toBe('SUCCEEDED');
    expect(rejections.json.data).toEqual([
      expect.objectContaining({ recordIndex: 1, reason: 'schema' }),
      expect.objectContaining({ recordIndex: 2, reason: 'consent' }),
    ]);
    expect(byId.status).toBe(200);
    expect(byId.json).toMatchObject({ id: patientId, ...CONSENTED, gender: 'other' });
    // The search itself finds a canary where one is expected.
    expect(hitsIn({ where: 'authorised read', bytes: Buffer.from(byId.text) })).toHaveLength(4);
    expect(unknownMrns.map((response) => response.json)).toEqual([{ data: [] }, { data: [] }]);
    expect(redrive.status).toBe(409);
    expect(audit.status).toBe(200);
    expect(audit.json.data.length).toBeGreaterThan(0);
    expect(verify.json.valid).toBe(true);
    expect(revoke.status).toBe(200);
    expect(deniedById.status).toBe(403);
    expect(deniedByMrn.status).toBe(403);
    expect(events.some((event) => event.where.includes(runId))).toBe(true);
    expect(executions.some((sink) => sink.where.startsWith(`execution ${runId} `))).toBe(true);
    expect(dump.some((sink) => sink.where.startsWith('table patients '))).toBe(true);
    expect(log.length).toBeGreaterThan(0);

    // Assess: zero hits is the only pass
    expect(hits, `canary PHI found outside the authorised reads:\n${hits.join('\n')}`).toEqual([]);
  });
});
