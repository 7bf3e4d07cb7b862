import {
  Agent,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  request,
  type ServerResponse,
} from 'node:http';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { correlationIdOf } from '../lib/http/middleware.ts';
import {
  CORRELATION_ID_HEADER,
  PROBLEM_CONTENT_TYPE,
  problemTypeUri,
} from '../lib/http/problem.ts';

/**
 * The embedded stack's front door, in front of `osls offline` as API Gateway is in front of
 * Lambda: serverless-offline starts a worker thread for every concurrent invocation, so a burst
 * passed straight through exhausts memory. Here at most `maxInFlight` requests reach it, a
 * bounded queue waits, the rest get an immediate 503; /health has its own reserve; the static
 * documents are answered from memory after their first 200.
 */

export interface ApiGatewayLimits {
  /** Requests in flight to serverless-offline at once (each may hold a Lambda worker). */
  readonly maxInFlight: number;
  /** Requests waiting for one of those slots; beyond it, 503 at once. */
  readonly maxQueued: number;
  /** How long a request may wait in the queue before it gets a 503. */
  readonly maxQueueWaitMs: number;
}

export interface ApiGatewayOptions {
  readonly port: number;
  readonly limits: ApiGatewayLimits;
}

export interface RunningApiGateway {
  readonly url: string;
  /** Starts forwarding to serverless-offline's HTTP port; until then every request gets a 503. */
  forwardTo(upstreamPort: number): void;
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const RETRY_AFTER_SECONDS = 1;
/** Liveness keeps answering during a burst: its own slots, beside the API's. */
const HEALTH_LIMITS: ApiGatewayLimits = { maxInFlight: 2, maxQueued: 16, maxQueueWaitMs: 5_000 };
const HEALTH_PATH = '/health';
/** Swagger UI's bundle is the largest document; anything far beyond it is not a static document. */
const MAX_CACHED_BYTES = 16 * 1024 * 1024;
/** Swagger UI has a handful of assets; paths that merely answer 200 must not grow the cache. */
const MAX_CACHED_DOCUMENTS = 32;
// RFC 9110 section 7.6.1, plus the proxy headers no client should set for us.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** The OpenAPI document and Swagger UI: built from the code, the same for every request. */
function isStaticDocument(path: string): boolean {
  return path === '/openapi.json' || path === '/docs' || path.startsWith('/docs/');
}

type Release = () => void;

/** A counting semaphore with a bounded FIFO of waiters, each with a deadline. */
class Slots {
  #inFlight = 0;
  readonly #waiters: Array<(release: Release | undefined) => void> = [];
  readonly #limits: ApiGatewayLimits;

  constructor(limits: ApiGatewayLimits) {
    this.#limits = limits;
  }

  /** A release function once a slot is free, or `undefined` when the queue is full or the wait too long. */
  acquire(abandoned: AbortSignal): Promise<Release | undefined> {
    if (this.#inFlight < this.#limits.maxInFlight) return Promise.resolve(this.#take());
    if (this.#waiters.length >= this.#limits.maxQueued || abandoned.aborted) {
      return Promise.resolve(undefined);
    }
    return new Promise((resolve) => {
      const waiter = (release: Release | undefined) => {
        clearTimeout(timer);
        abandoned.removeEventListener('abort', giveUp);
        resolve(release);
      };
      const giveUp = () => {
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1);
        waiter(undefined);
      };
      const timer = setTimeout(giveUp, this.#limits.maxQueueWaitMs);
      abandoned.addEventListener('abort', giveUp, { once: true });
      this.#waiters.push(waiter);
    });
  }

  #take(): Release {
    this.#inFlight += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inFlight -= 1;
      const next = this.#waiters.shift();
      if (next !== undefined) next(this.#take());
    };
  }
}

interface CachedDocument {
  readonly status: number;
  readonly headers: OutgoingHttpHeaders;
  readonly body: Buffer;
}

/** Headers to pass on: everything but hop-by-hop ones and those the Connection header names. */
function endToEnd(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((name) => name.trim().toLowerCase()),
  );
  const kept: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name) && !named.has(name)) kept[name] = value;
  }
  return kept;
}

const PROBLEMS = {
  502: { code: 'bad-gateway', title: 'Bad Gateway' },
  503: { code: 'service-unavailable', title: 'Service Unavailable' },
} as const;

/**
 * The access line of an answer the front made itself, on stdout beside the handlers' own: what
 * names the request is the document served, or the front, never a path that could hold an MRN.
 */
function logServed(correlationId: string, route: string, status: number): void {
  const line = { level: 'INFO', message: 'request served', correlationId, route, status };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/** A problem+json without detail, as the handlers' 5xx bodies are; a 503 says when to come back. */
function problem(
  incoming: IncomingMessage,
  response: ServerResponse,
  status: keyof typeof PROBLEMS,
): void {
  if (response.writableFinished || response.destroyed) return;
  // Too late for a status: cutting the connection is the only way to say the body is incomplete.
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const { code, title } = PROBLEMS[status];
  const correlationId = correlationIdFor(incoming);
  const body = JSON.stringify({ type: problemTypeUri(code), title, status, correlationId });
  response.writeHead(status, {
    'content-type': PROBLEM_CONTENT_TYPE,
    'cache-control': 'no-store',
    ...(status === 503 ? { 'retry-after': String(RETRY_AFTER_SECONDS) } : {}),
    [CORRELATION_ID_HEADER]: correlationId,
    'content-length': Buffer.byteLength(body),
  });
  response.end(body);
  logServed(correlationId, `${incoming.method ?? 'GET'} (embedded gateway)`, status);
}

function busy(incoming: IncomingMessage, response: ServerResponse): void {
  problem(incoming, response, 503);
}

/** The correlation id the handler would have chosen, so a cached answer carries the caller's. */
function correlationIdFor(incoming: IncomingMessage): string {
  const value = incoming.headers[CORRELATION_ID_HEADER];
  const headers = typeof value === 'string' ? { [CORRELATION_ID_HEADER]: value } : {};
  return correlationIdOf({ headers } as APIGatewayProxyEventV2);
}

function sendCached(incoming: IncomingMessage, response: ServerResponse, cached: CachedDocument) {
  const correlationId = correlationIdFor(incoming);
  response.writeHead(cached.status, { ...cached.headers, [CORRELATION_ID_HEADER]: correlationId });
  response.end(cached.body);
  // Only static documents are cached: their path names no one.
  logServed(correlationId, `GET ${incoming.url ?? '/'} (cached)`, cached.status);
}

export async function startApiGateway(options: ApiGatewayOptions): Promise<RunningApiGateway> {
  let upstreamPort: number | undefined;
  const apiSlots = new Slots(options.limits);
  const healthSlots = new Slots(HEALTH_LIMITS);
  // A fresh loopback connection per request: a kept-alive one can be closed by serverless-offline
  // (its idle timeout) just as it is reused, which fails a request that never reached a Lambda.
  const agent = new Agent({ keepAlive: false });
  const cache = new Map<string, CachedDocument>();
  // One request fills a document's cache entry; the others of a burst wait for it.
  const filling = new Map<string, Promise<void>>();

  /** Streams one request to serverless-offline; `keep` receives a complete 200 to cache. */
  function forward(
    incoming: IncomingMessage,
    response: ServerResponse,
    release: Release,
    keep?: (document: CachedDocument) => void,
  ): Promise<void> {
    return new Promise((done) => {
      const finish = () => {
        release();
        done();
      };
      if (upstreamPort === undefined) {
        busy(incoming, response);
        finish();
        return;
      }
      const headers = endToEnd(incoming.headers);
      // A body framed by Transfer-Encoding ignores Content-Length; forwarding both invites smuggling.
      if (incoming.headers['transfer-encoding'] !== undefined) delete headers['content-length'];
      // This server already answered any `Expect: 100-continue`.
      delete headers['expect'];
      // Cached bytes are served to every client: ask for them unencoded.
      if (keep !== undefined) delete headers['accept-encoding'];
      const outgoing = request({
        host: HOST,
        port: upstreamPort,
        method: incoming.method,
        path: incoming.url,
        headers,
        agent,
      });
      let answered = false;
      outgoing.on('response', (upstream) => {
        answered = true;
        const responseHeaders = endToEnd(upstream.headers);
        const chunks: Buffer[] = [];
        let size = 0;
        const caching = keep !== undefined && upstream.statusCode === 200;
        upstream.on('data', (chunk: Buffer) => {
          if (caching && size <= MAX_CACHED_BYTES) chunks.push(chunk);
          size += chunk.length;
        });
        upstream.on('end', () => {
          if (caching && size <= MAX_CACHED_BYTES) {
            // Per response, not per document: the replay gets its own.
            const { [CORRELATION_ID_HEADER]: _id, date: _date, ...headers } = responseHeaders;
            keep({ status: 200, headers, body: Buffer.concat(chunks) });
          }
        });
        upstream.on('error', () => problem(incoming, response, 502));
        if (response.destroyed) {
          upstream.resume();
          return;
        }
        response.writeHead(upstream.statusCode ?? 502, responseHeaders);
        upstream.pipe(response);
      });
      outgoing.on('error', () => problem(incoming, response, 502));
      outgoing.on('close', finish);
      response.on('close', () => {
        if (response.writableFinished) return;
        // Mid-upload no Lambda runs yet, and once answered it is done: abort. In between it runs
        // to its end whatever we do, so its slot is held until its answer is in (drained).
        if (!incoming.complete || answered) outgoing.destroy();
      });
      incoming.pipe(outgoing);
    });
  }

  async function withSlot(
    incoming: IncomingMessage,
    response: ServerResponse,
    keep?: (document: CachedDocument) => void,
  ): Promise<void> {
    const path = (incoming.url ?? '/').split('?')[0];
    const slots = path === HEALTH_PATH ? healthSlots : apiSlots;
    const gone = new AbortController();
    const onClose = () => gone.abort();
    response.once('close', onClose);
    const release = await slots.acquire(gone.signal);
    response.off('close', onClose);
    if (release === undefined) {
      if (!gone.signal.aborted) busy(incoming, response);
      return;
    }
    if (gone.signal.aborted) {
      release();
      return;
    }
    await forward(incoming, response, release, keep);
  }

  async function handle(incoming: IncomingMessage, response: ServerResponse): Promise<void> {
    const key = incoming.url ?? '/';
    if (incoming.method !== 'GET' || !isStaticDocument(key) || key.includes('?')) {
      await withSlot(incoming, response);
      return;
    }
    const cached = cache.get(key);
    if (cached !== undefined) {
      sendCached(incoming, response, cached);
      return;
    }
    const pending = filling.get(key);
    if (pending !== undefined) {
      await pending;
      const filled = cache.get(key);
      if (filled !== undefined) {
        sendCached(incoming, response, filled);
        return;
      }
      await withSlot(incoming, response);
      return;
    }
    const fill = withSlot(incoming, response, (document) => {
      if (cache.size < MAX_CACHED_DOCUMENTS) cache.set(key, document);
    });
    filling.set(key, fill);
    try {
      await fill;
    } finally {
      filling.delete(key);
    }
  }

  const server = createServer((incoming, response) => {
    handle(incoming, response).catch(() => problem(incoming, response, 502));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    url: `http://${HOST}:${options.port}`,
    forwardTo: (port) => {
      upstreamPort = port;
    },
    stop: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}
