/**
 * `npm run bench -- --audit-write [N]`: the audit log's write cost per row, and what each part
 * of it costs. N rows (50,000 by default) are written through appendAudit in statements of
 * 1,000, as Load writes them, into a fresh database as migrated, then into fresh databases each
 * with one part taken away (the chain triggers, the row hash, one index), so that the difference
 * is that part's cost. The variants run in turns, ROUNDS times, and the median of each is shown.
 * Besides the time through appendAudit, the CPU time of the database connection's backend is
 * read from /proc: on a machine shared with other work it moves far less than the clock.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { LocalAuditMac } from '../lib/crypto/localAuditMac.ts';
import { type AuditEntry, appendAudit } from '../lib/db/repositories/auditLog.ts';
import type { BenchServer } from './database.ts';
import { fixed, integer, printRows } from './report.ts';

const STATEMENT_ROWS = 1_000;
const ROUNDS = 5;
/** USER_HZ, the unit of /proc's CPU times. */
const CLOCK_TICKS_PER_SECOND = 100;

interface Variant {
  readonly name: string;
  /** Run on the fresh database before the rows are written. */
  readonly setup: readonly string[];
}

/** Without the triggers, seq comes from a sequence and the hashes are empty. */
const WITHOUT_CHAIN = [
  'DROP TRIGGER audit_log_chain ON audit_log',
  'DROP TRIGGER audit_log_store_head ON audit_log',
  'CREATE SEQUENCE audit_bench_seq',
  `ALTER TABLE audit_log ALTER seq SET DEFAULT nextval('audit_bench_seq'),
     ALTER prev_hash SET DEFAULT '\\x', ALTER hash SET DEFAULT '\\x'`,
];

const dropIndex = (index: string): Variant => ({
  name: `without index ${index}`,
  setup: [`DROP INDEX ${index}`],
});

const VARIANTS: readonly Variant[] = [
  { name: 'as migrated', setup: [] },
  { name: 'without the chain triggers (seq from a sequence)', setup: WITHOUT_CHAIN },
  {
    name: 'chain triggers, the row hash only sha256(prev_hash)',
    setup: [
      `CREATE OR REPLACE FUNCTION audit_row_hash(
         p_prev_hash bytea, p_seq bigint, p_id uuid, p_at timestamptz, p_actor text, p_action text,
         p_resource_type text, p_resource_id text, p_run_id uuid, p_outcome text, p_details jsonb
       ) RETURNS bytea LANGUAGE sql STABLE AS $$ SELECT sha256(p_prev_hash) $$`,
    ],
  },
  {
    name: 'without unique (id)',
    setup: ['ALTER TABLE audit_log DROP CONSTRAINT audit_log_id_key'],
  },
  dropIndex('audit_log_resource'),
  dropIndex('audit_log_actor'),
  dropIndex('audit_log_at'),
  dropIndex('audit_log_run'),
  dropIndex('audit_log_patient_data'),
  {
    name: 'without any index but the primary key',
    setup: [
      'ALTER TABLE audit_log DROP CONSTRAINT audit_log_id_key',
      ...[
        'audit_log_resource',
        'audit_log_actor',
        'audit_log_at',
        'audit_log_run',
        'audit_log_patient_data',
      ].map((index) => `DROP INDEX IF EXISTS ${index}`),
    ],
  },
];

export interface AuditWriteFigures {
  readonly rows: number;
  readonly rounds: number;
  readonly variants: readonly {
    readonly name: string;
    /** Each round's µs per row through appendAudit (the seal's statements and round trips too). */
    readonly appendUs: readonly number[];
    /** Each round's CPU µs per row of the connection's backend, when its process is visible. */
    readonly backendUs: readonly number[];
    /** WAL bytes per row, the first round's (the same in every round, give or take a page). */
    readonly walBytes: number;
  }[];
}

/** Audit rows in the mix Load writes for a patient: the patient, the consent, two resources. */
function loadEntry(runId: string, n: number): AuditEntry {
  const id = (k: number) => `00000000-0000-4000-8000-${k.toString(16).padStart(12, '0')}`;
  const patient = id(Math.floor(n / 4));
  const base = { actor: 'system:bench-feed', runId, outcome: 'success' } as const;
  switch (n % 4) {
    case 0:
      return {
        ...base,
        action: 'CREATE',
        resourceType: 'Patient',
        resourceId: patient,
        details: { stage: 'load' },
      };
    case 1:
      return {
        ...base,
        action: 'CREATE',
        resourceType: 'Consent',
        resourceId: patient,
        details: { stage: 'load' },
      };
    default:
      return {
        ...base,
        action: 'CREATE',
        resourceType: 'Observation',
        resourceId: id(1_000_000_000 + n),
        details: { stage: 'load', patientId: patient },
      };
  }
}

/** The CPU milliseconds a process has used, or null when it is not visible here. */
function backendCpuClock(pid: number): () => number | null {
  return () => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // After the parenthesised name: field 3 (state) on, utime and stime being 14 and 15.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
    } catch {
      return null;
    }
  };
}

async function writeOnce(
  server: BenchServer,
  variant: Variant,
  rows: number,
): Promise<{ appendUs: number; backendUs: number | null; walBytes: number }> {
  const database = await server.database(1);
  try {
    for (const statement of variant.setup) await database.pool.query(statement);
    await database.pool.query('VACUUM ANALYZE audit_log');
    const mac = new LocalAuditMac(randomBytes(32));
    const runId = '00000000-0000-4000-8000-000000000000';
    const { rows: wal } = await database.pool.query<{ lsn: string; pid: number }>(
      'SELECT pg_current_wal_lsn() AS lsn, pg_backend_pid() AS pid',
    );
    // The pool holds one connection, so every statement below runs in this backend.
    const backendMs = backendCpuClock(Number(wal[0]?.pid));
    const cpuFrom = backendMs();
    const started = performance.now();
    for (let first = 0; first < rows; first += STATEMENT_ROWS) {
      const count = Math.min(STATEMENT_ROWS, rows - first);
      await appendAudit(
        database.pool,
        mac,
        Array.from({ length: count }, (_, i) => loadEntry(runId, first + i)),
      );
    }
    const appendUs = ((performance.now() - started) * 1000) / rows;
    const cpuTo = backendMs();
    const { rows: written } = await database.pool.query<{ bytes: string }>(
      'SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1) AS bytes',
      [wal[0]?.lsn],
    );
    const backendUs = cpuFrom === null || cpuTo === null ? null : ((cpuTo - cpuFrom) * 1000) / rows;
    return { appendUs, backendUs, walBytes: Number(written[0]?.bytes) / rows };
  } finally {
    await database.drop();
  }
}

export async function auditWriteBenchmark(
  server: BenchServer,
  rows: number,
): Promise<AuditWriteFigures> {
  const times = VARIANTS.map(() => ({
    appendUs: [] as number[],
    backendUs: [] as number[],
    walBytes: Number.NaN,
  }));
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const [i, variant] of VARIANTS.entries()) {
      const { appendUs, backendUs, walBytes } = await writeOnce(server, variant, rows);
      const variantTimes = times[i];
      if (variantTimes === undefined) continue;
      variantTimes.appendUs.push(appendUs);
      if (backendUs !== null) variantTimes.backendUs.push(backendUs);
      if (round === 0) variantTimes.walBytes = walBytes;
    }
  }
  return {
    rows,
    rounds: ROUNDS,
    variants: VARIANTS.map((variant, i) => ({
      name: variant.name,
      appendUs: times[i]?.appendUs ?? [],
      backendUs: times[i]?.backendUs ?? [],
      walBytes: times[i]?.walBytes ?? Number.NaN,
    })),
  };
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

export function printAuditWrite(figures: AuditWriteFigures): void {
  const baseline = figures.variants[0];
  const base = baseline === undefined ? Number.NaN : median(baseline.backendUs);
  console.log(
    `${integer(figures.rows)} audit rows in statements of ${integer(STATEMENT_ROWS)}, median of ${figures.rounds} rounds: µs per row through appendAudit / CPU µs per row of the backend (its saving against as migrated); WAL bytes per row`,
  );
  printRows(
    figures.variants.map((variant) => {
      const cpu = median(variant.backendUs);
      const saving = variant === baseline ? '' : ` (${fixed(base - cpu, 1)})`;
      return [
        variant.name,
        `${fixed(median(variant.appendUs), 1)} / ${Number.isNaN(cpu) ? 'not measured' : `${fixed(cpu, 1)}${saving}`}; ${integer(variant.walBytes)}`,
      ];
    }),
  );
}
