import { randomBytes, randomUUID } from 'node:crypto';
import { deserialize, serialize } from 'node:v8';
import { describe, expect, it } from 'vitest';
import type { ConsentRow } from '../../../lib/db/repositories/consents.ts';
import type { ObservationRow } from '../../../lib/db/repositories/observations.ts';
import type { PatientReferenceRow } from '../../../lib/db/repositories/patientReferences.ts';
import type { PendingConsentRow } from '../../../lib/db/repositories/pendingConsents.ts';
import { InternalError } from '../../../lib/errors.ts';
import {
  consentRowFromWire,
  observationRowFromWire,
  patientRowFromWire,
  pendingConsentRowFromWire,
  referenceRowFromWire,
  revocationFromWire,
} from '../../../lib/pipeline/transform.ts';
import { opaquePatientRow } from '../../helpers/rows.ts';

/**
 * A row as Transform sealed it into a JSON payload before its payloads went binary: Buffers as
 * base64, Dates as ISO 8601, then through JSON. Load must still read such payloads, which runs
 * in flight at a deploy have.
 */
function asJsonPayloadRow(row: object): unknown {
  const wire = Object.fromEntries(
    Object.entries(row).map(([name, value]) => [
      name,
      Buffer.isBuffer(value)
        ? value.toString('base64')
        : value instanceof Date
          ? value.toISOString()
          : value,
    ]),
  );
  return JSON.parse(JSON.stringify(wire));
}

const dataKeyId = randomUUID();
const patient = opaquePatientRow(dataKeyId, {
  ssnBidx: randomBytes(32),
  nameEnc: randomBytes(40),
  sourceEnc: randomBytes(300),
  gender: 'female',
});
const consent: ConsentRow = {
  patientId: patient.id,
  dataSharing: true,
  research: false,
  source: 'ingest',
  recordedAt: new Date('2026-11-24T08:30:00.250Z'),
  recordedBy: 'system:test',
  runId: randomUUID(),
};
const observation: ObservationRow = {
  id: randomUUID(),
  patientId: patient.id,
  category: 'vital-signs',
  codeSystem: 'http://loinc.org',
  code: '8867-4',
  effectiveAt: null,
  status: 'final',
  valueEnc: randomBytes(60),
  sourceEnc: randomBytes(400),
  recordDigest: randomBytes(32),
  dataKeyId,
};
const timedObservation: ObservationRow = {
  ...observation,
  id: randomUUID(),
  effectiveAt: new Date('2019-03-01T10:15:00Z'),
  valueEnc: null,
};
const pending: PendingConsentRow = {
  refBidx: randomBytes(32),
  dataSharing: false,
  research: false,
  recordedAt: new Date('2026-11-20T00:00:00Z'),
  recordedBy: 'system:test',
  runId: null,
};
const reference: PatientReferenceRow = { refBidx: randomBytes(32), patientId: patient.id };

/** Each kind of row Load reads, with its reader. */
const ROWS = [
  ['patient', patient, patientRowFromWire],
  ['consent', consent, consentRowFromWire],
  ['observation', observation, observationRowFromWire],
  ['observation with a time and no value', timedObservation, observationRowFromWire],
  ['pending consent', pending, pendingConsentRowFromWire],
  ['patient reference', reference, referenceRowFromWire],
] as const;

describe("Load's reading of Transform's rows", () => {
  it.each(ROWS)('reads a %s row from a binary payload as it was built', (_label, row, read) => {
    // Act
    const loaded = (read as (row: unknown) => unknown)(deserialize(serialize(row)));

    // Assess
    expect(loaded).toStrictEqual(row);
  });

  it.each(ROWS)(
    'reads a %s row from a JSON payload sealed before as the same row',
    (_label, row, read) => {
      // Act
      const loaded = (read as (row: unknown) => unknown)(asJsonPayloadRow(row));

      // Assess
      expect(loaded).toStrictEqual(row);
    },
  );

  it("reads a refusal's blind index from either payload", () => {
    // Prepare
    const mrnBidx = randomBytes(32);

    // Act
    const fromBinary = revocationFromWire({ mrnBidx, research: true });
    const fromJson = revocationFromWire({ mrnBidx: mrnBidx.toString('base64'), research: true });

    // Assess
    expect(fromBinary).toStrictEqual({ mrnBidx, research: true });
    expect(fromJson).toStrictEqual({ mrnBidx, research: true });
  });

  it.each([
    ['a Buffer that went through JSON', 'valueEnc', JSON.parse(JSON.stringify(randomBytes(8)))],
    ['a Uint8Array', 'sourceEnc', new Uint8Array(8)],
    ['a number for a time', 'effectiveAt', 1_700_000_000_000],
  ])('refuses %s instead of storing NULL', (_label, column, value) => {
    // Prepare
    const row = { ...observation, [column]: value };

    // Act
    const reading = () => observationRowFromWire(row as ObservationRow);

    // Assess: the column is named, the value is not.
    expect(reading).toThrow(InternalError);
    expect(reading).toThrow(`transformed payload: ${column} holds a value of type ${typeof value}`);
  });

  it('refuses a refusal without its blind index', () => {
    // Act
    const reading = () =>
      revocationFromWire({ mrnBidx: null as unknown as string, research: false });

    // Assess
    expect(reading).toThrow(new InternalError('transformed payload: a refusal has no mrnBidx'));
  });
});
