import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface Answer {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: unknown;
}

export interface ScriptedServer {
  readonly url: string;
  readonly requests: ReceivedRequest[];
  close(): Promise<void>;
}

/** A real HTTP server on loopback answering each request as `answer` says; JSON bodies unless a string. */
export async function startScriptedServer(
  answer: (request: ReceivedRequest) => Answer,
): Promise<ScriptedServer> {
  const requests: ReceivedRequest[] = [];
  const server: Server = createServer((incoming, response) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const request: ReceivedRequest = {
        method: incoming.method ?? '',
        path: incoming.url ?? '',
        headers: incoming.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(request);
      const { status, headers = {}, body } = answer(request);
      const text = typeof body === 'string' ? body : body === undefined ? '' : JSON.stringify(body);
      const contentType =
        typeof body === 'string'
          ? 'text/html'
          : status >= 400
            ? 'application/problem+json'
            : 'application/json';
      response.writeHead(status, { 'content-type': contentType, ...headers });
      response.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** An RFC 9457 problem as the API writes it. */
export function problem(status: number, code: string, detail: string): Answer {
  return {
    status,
    body: { type: `urn:problem:healthcare-etl:${code}`, title: 'Problem', status, detail },
  };
}
