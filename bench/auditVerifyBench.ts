/**
 * `npm run bench -- --audit-verify N`: GET /api/v1/audit/verify's work on an audit log of N rows
 * (1,000,000 by default), written through appendAudit in statements of 1,000 rows (each
 * sealed, as the pipeline's Load writes them), checkpointed 10,000 rows before the end: the
 * full walk (`from=genesis`) and the walk from the checkpoint (`from=checkpoint`).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeAuditCheckpoint } from '../lib/audit/auditCheckpoints.ts';
import { verifyAudit } from '../lib/audit/auditQueries.ts';
import { DirectoryCheckpointStore } from '../lib/audit/directoryCheckpointStore.ts';
import { DataKeyCache } from '../lib/crypto/dataKeyCache.ts';
import { Keyring } from '../lib/crypto/keyring.ts';
import { LocalAuditMac } from '../lib/crypto/localAuditMac.ts';
import { LocalKeyService } from '../lib/crypto/localKeyService.ts';
import { type AuditEntry, appendAudit, verifyAuditChain } from '../lib/db/repositories/auditLog.ts';
import { TableEventSink } from '../lib/events/eventSink.ts';
import type { PipelineDependencies } from '../lib/pipeline/dependencies.ts';
import { PostgresPayloadStore } from '../lib/pipeline/payloadStore.ts';
import { createLogger } from '../lib/runtime.ts';
import type { BenchServer } from './database.ts';
import { fixed, integer, printRows } from './report.ts';

const STATEMENT_ROWS = 1_000;
const VERIFICATIONS = 3;
/** Rows written after the latest checkpoint: what `from=checkpoint` recomputes. */
const AFTER_CHECKPOINT = 10_000;

export interface AuditVerifyFigures {
  readonly rows: number;
  readonly writeMs: number;
  /** Each full verification (SQL walk, two MAC checks, its own audit row), in order. */
  readonly verifyMs: readonly number[];
  /** Each verification from the checkpoint, with AFTER_CHECKPOINT rows after it. */
  readonly fromCheckpointMs: readonly number[];
  readonly afterCheckpoint: number;
  /** The SQL walk alone, once. */
  readonly chainMs: number;
  readonly tableBytes: number;
}

/** An audit row as Load writes one: a patient created by a run. */
function loadEntry(runId: string, n: number): AuditEntry {
  return {
    actor: 'system:bench-feed',
    action: 'CREATE',
    resourceType: 'Patient',
    resourceId: `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`,
    runId,
    outcome: 'success',
    details: {
      stage: 'load',
      patientId: `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`,
    },
  };
}

export async function auditVerifyBenchmark(
  server: BenchServer,
  rows: number,
): Promise<AuditVerifyFigures> {
  const database = await server.database(2);
  const checkpoints = mkdtempSync(join(tmpdir(), 'bench-audit-checkpoints-'));
  try {
    const deps: PipelineDependencies = {
      pool: database.pool,
      keyring: new Keyring(
        new LocalKeyService(randomBytes(32)),
        new DataKeyCache({ maxAgeMs: 300_000, maxUses: 10_000 }),
      ),
      auditMac: new LocalAuditMac(randomBytes(32)),
      auditCheckpoints: new DirectoryCheckpointStore(join(checkpoints, 'audit-checkpoints')),
      events: new TableEventSink(database.pool),
      payloadStore: new PostgresPayloadStore(),
      logger: createLogger({ logLevel: 'SILENT' }),
      now: () => new Date(),
    };
    const runId = '00000000-0000-4000-8000-000000000000';
    const writeStarted = performance.now();
    const checkpointAt = Math.max(0, rows - AFTER_CHECKPOINT);
    for (let first = 0; first < rows; first += STATEMENT_ROWS) {
      if (first === checkpointAt) await writeAuditCheckpoint(deps);
      const count = Math.min(STATEMENT_ROWS, rows - first);
      await appendAudit(
        deps.pool,
        deps.auditMac,
        Array.from({ length: count }, (_, i) => loadEntry(runId, first + i)),
      );
    }
    const writeMs = performance.now() - writeStarted;
    await database.pool.query('VACUUM ANALYZE audit_log');
    await database.pool.query('VACUUM ANALYZE audit_seals');
    const timed = async (from: 'genesis' | 'checkpoint') => {
      const times: number[] = [];
      for (let i = 0; i < VERIFICATIONS; i += 1) {
        const started = performance.now();
        const result = await verifyAudit(deps, 'system:bench-auditor', { from });
        times.push(performance.now() - started);
        if (!result.valid) throw new Error('the benchmark chain did not verify');
      }
      return times;
    };
    const verifyMs = await timed('genesis');
    const fromCheckpointMs = await timed('checkpoint');
    const chainStarted = performance.now();
    await verifyAuditChain(deps.pool, null);
    const chainMs = performance.now() - chainStarted;
    const { rows: size } = await database.pool.query<{ bytes: string }>(
      `SELECT pg_total_relation_size('audit_log') + pg_total_relation_size('audit_seals') AS bytes`,
    );
    return {
      rows,
      writeMs,
      verifyMs,
      fromCheckpointMs,
      afterCheckpoint: rows - checkpointAt,
      chainMs,
      tableBytes: Number(size[0]?.bytes ?? 0),
    };
  } finally {
    rmSync(checkpoints, { recursive: true, force: true });
    await database.drop();
  }
}

const spread = (times: readonly number[]) =>
  [...times]
    .sort((a, b) => a - b)
    .map((ms) => `${integer(ms)} ms`)
    .join(' / ');

export function printAuditVerify(figures: AuditVerifyFigures): void {
  const sorted = [...figures.verifyMs].sort((a, b) => a - b);
  printRows([
    ['audit rows (sealed statements of 1,000)', integer(figures.rows)],
    [
      'written through appendAudit',
      `${fixed(figures.writeMs / 1000)} s: ${integer((figures.rows * 1000) / figures.writeMs)} rows/s`,
    ],
    ['audit_log + audit_seals on disk', `${integer(figures.tableBytes / 1024 / 1024)} MiB`],
    [
      `verify, the whole chain (from=genesis), ${figures.verifyMs.length} runs (min / median / max)`,
      spread(figures.verifyMs),
    ],
    ['  of which the SQL walk of chain and seals', `${integer(figures.chainMs)} ms`],
    [
      '  per 1,000 rows (median)',
      `${fixed((sorted[Math.floor(sorted.length / 2)] ?? 0) / (figures.rows / 1000), 2)} ms`,
    ],
    [
      `verify from the checkpoint (from=checkpoint, ${integer(figures.afterCheckpoint)} rows after it)`,
      spread(figures.fromCheckpointMs),
    ],
  ]);
}
