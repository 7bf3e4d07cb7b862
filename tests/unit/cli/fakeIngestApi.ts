import { createHash, randomUUID } from 'node:crypto';
import {
  type Answer,
  problem,
  type ScriptedServer,
  startScriptedServer,
} from './scriptedServer.ts';

interface FakeRun {
  readonly runId: string;
  status: 'queued' | 'running' | 'succeeded' | 'failed';
  errorCode: string | null;
  polls: number;
  /** What it stored by type: `created` for Patients, `<Type>.created` for the others. */
  readonly counts: Record<string, number>;
  readonly rejections: { recordIndex: number; resourceType: string | null; reason: string }[];
}

export interface FakeIngestBehaviour {
  /** The run of a batch holding a resource with this id fails with this error code. */
  failRunOf?: { readonly resourceId: string; readonly errorCode: string } | undefined;
  /** Runs say 'running' for this many polls before they end (Infinity: never). */
  pollsBeforeEnd: number;
  /** Answers POST /api/v1/ingest with this instead, when set. */
  refuseIngest?: Answer | undefined;
}

export interface FakeIngestApi extends ScriptedServer {
  readonly behaviour: FakeIngestBehaviour;
  readonly runs: ReadonlyMap<string, FakeRun>;
  /** The POSTs to /api/v1/ingest that started a new run. */
  readonly runsStarted: () => number;
}

const SUPPORTED = new Set(['Patient', 'Observation', 'Consent']);

function resourcesOf(contentType: string | undefined, body: string): unknown[] {
  const parse = (text: string): unknown => {
    try {
      return JSON.parse(text);
    } catch {
      return undefined;
    }
  };
  if (contentType === 'application/fhir+ndjson') {
    const lines = body.split('\n');
    if (lines.at(-1) === '') lines.pop();
    return lines.map(parse);
  }
  const bundle = parse(body) as { entry?: { resource?: unknown }[] } | undefined;
  return (bundle?.entry ?? []).map((entry) => entry?.resource);
}

/**
 * A stand-in for the API the CLI talks to, with the documented contract and simple rules:
 * a record that is not JSON is a schema rejection, a type other than Patient, Observation
 * and Consent unsupported, a Patient with `active: false` a consent rejection; any other
 * record is created.
 */
export async function startFakeIngestApi(): Promise<FakeIngestApi> {
  const behaviour: FakeIngestBehaviour = { pollsBeforeEnd: 0 };
  const runs = new Map<string, FakeRun>();
  const idempotency = new Map<string, { runId: string; bodyHash: string }>();
  let started = 0;

  function ingest(contentType: string | undefined, key: string | undefined, body: string): Answer {
    if (behaviour.refuseIngest !== undefined) return behaviour.refuseIngest;
    const bodyHash = createHash('sha256').update(body).digest('hex');
    const known = key === undefined ? undefined : idempotency.get(key);
    if (known !== undefined) {
      if (known.bodyHash !== bodyHash) {
        return problem(
          422,
          'idempotency-key-reused',
          'this Idempotency-Key was used with a different body',
        );
      }
      const run = runs.get(known.runId);
      return { status: 202, body: { runId: known.runId, status: run?.status ?? 'queued' } };
    }
    const resources = resourcesOf(contentType, body);
    const run: FakeRun = {
      runId: randomUUID(),
      status: 'queued',
      errorCode: null,
      polls: 0,
      counts: { received: resources.length },
      rejections: [],
    };
    resources.forEach((resource, recordIndex) => {
      const { resourceType, id, active } = (resource ?? {}) as Record<string, unknown>;
      const type = typeof resourceType === 'string' ? resourceType : null;
      if (behaviour.failRunOf !== undefined && id === behaviour.failRunOf.resourceId) {
        run.errorCode = behaviour.failRunOf.errorCode;
      }
      if (type === null) run.rejections.push({ recordIndex, resourceType: null, reason: 'schema' });
      else if (!SUPPORTED.has(type))
        run.rejections.push({ recordIndex, resourceType: type, reason: 'unsupported-type' });
      else if (type === 'Patient' && active === false)
        run.rejections.push({ recordIndex, resourceType: type, reason: 'consent' });
      else {
        const key = type === 'Patient' ? 'created' : `${type}.created`;
        run.counts[key] = (run.counts[key] ?? 0) + 1;
      }
    });
    runs.set(run.runId, run);
    if (key !== undefined) idempotency.set(key, { runId: run.runId, bodyHash });
    started += 1;
    return {
      status: 202,
      body: { runId: run.runId, status: 'queued', links: { self: `/api/v1/runs/${run.runId}` } },
    };
  }

  function runAnswer(runId: string | undefined, rejections: boolean): Answer {
    const run = runId === undefined ? undefined : runs.get(runId);
    if (run === undefined) return problem(404, 'run-not-found', 'the run does not exist');
    if (rejections) return { status: 200, body: { runId: run.runId, data: run.rejections } };
    if (run.status === 'queued' || run.status === 'running') {
      run.polls += 1;
      if (run.polls > behaviour.pollsBeforeEnd)
        run.status = run.errorCode === null ? 'succeeded' : 'failed';
      else run.status = 'running';
    }
    return {
      status: 200,
      body: {
        runId: run.runId,
        status: run.status,
        counts: run.counts,
        errorCode: run.status === 'failed' ? run.errorCode : null,
      },
    };
  }

  const server = await startScriptedServer((request) => {
    if (request.method === 'POST' && request.path === '/api/v1/ingest') {
      const key = request.headers['idempotency-key'];
      return ingest(
        request.headers['content-type'],
        typeof key === 'string' ? key : undefined,
        request.body,
      );
    }
    const match = /^\/api\/v1\/runs\/([^/]+)(\/rejections)?$/.exec(request.path);
    if (request.method === 'GET' && match !== null)
      return runAnswer(match[1], match[2] !== undefined);
    return problem(404, 'not-found', 'no such route');
  });
  return { ...server, behaviour, runs, runsStarted: () => started };
}
