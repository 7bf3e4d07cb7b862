import { randomBytes, randomUUID } from 'node:crypto';
import { DeleteObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import type { ConsentRevocation, ConsentRow } from '../../../lib/db/repositories/consents.ts';
import type { FhirResourceRow } from '../../../lib/db/repositories/fhirResources.ts';
import type { PatientReferenceRow } from '../../../lib/db/repositories/patientReferences.ts';
import type { PendingConsentRow } from '../../../lib/db/repositories/pendingConsents.ts';
import { DecryptionError } from '../../../lib/errors.ts';
import { discardPayload, openPayload, sealPayload } from '../../../lib/pipeline/claimCheck.ts';
import { S3PayloadStore } from '../../../lib/pipeline/s3PayloadStore.ts';
import { createLogger } from '../../../lib/runtime.ts';
import { captureOutput } from '../../helpers/output.ts';
import { opaquePatientRow } from '../../helpers/rows.ts';

const RUN_ID = '7d1c2f5e-52b1-4d1e-9a0e-6f1f3e2b9c41';

const rows = {
  patients: [
    {
      id: '0f2c8e1a-5b7d-4c3e-8a9f-1b2c3d4e5f60',
      mrnEnc: randomBytes(48),
      ssnEnc: null,
      recordedAt: new Date('2026-11-24T08:00:00.123Z'),
      name: 'Zoë Ŋgata',
    },
  ],
};

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
  explicit: false,
  recordedBy: 'system:test',
  runId: randomUUID(),
};
const observation: FhirResourceRow = {
  id: randomUUID(),
  resourceType: 'Observation',
  patientId: patient.id,
  category: 'vital-signs',
  codeSystem: 'http://loinc.org',
  code: '8867-4',
  principalAt: null,
  status: 'final',
  sourceEnc: randomBytes(400),
  recordDigest: randomBytes(32),
  dataKeyId,
};
const timedObservation: FhirResourceRow = {
  ...observation,
  id: randomUUID(),
  principalAt: new Date('2019-03-01T10:15:00Z'),
};
const pending: PendingConsentRow = {
  refBidx: randomBytes(32),
  dataSharing: false,
  research: false,
  recordedAt: new Date('2026-11-20T00:00:00Z'),
  explicit: true,
  recordedBy: 'system:test',
  runId: null,
};
const reference: PatientReferenceRow = { refBidx: randomBytes(32), patientId: patient.id };
const revocation: ConsentRevocation = { mrnBidx: randomBytes(32), research: true };

/** Each kind of row Transform seals for Load. */
const TRANSFORMED_ROWS = [
  ['patient', patient],
  ['consent', consent],
  ['observation', observation],
  ['observation with a time and no value', timedObservation],
  ['pending consent', pending],
  ['patient reference', reference],
  ['refusal', revocation],
] as const;

describe('claim-check payloads', () => {
  it('reads back JSON payloads as the JSON of what was sealed', () => {
    // Prepare
    const key = randomBytes(32);

    // Act
    const sealed = sealPayload(key, RUN_ID, 'consented', rows);
    const opened = openPayload(key, RUN_ID, 'consented', sealed);

    // Assess
    expect(opened).toStrictEqual(JSON.parse(JSON.stringify(rows)));
  });

  it('reads back binary payloads with their Buffers, Dates, nulls and UTF-16 text as sealed', () => {
    // Prepare
    const key = randomBytes(32);

    // Act
    const sealed = sealPayload(key, RUN_ID, 'transformed', rows, 'binary');
    const opened = openPayload<typeof rows>(key, RUN_ID, 'transformed', sealed);

    // Assess
    expect(opened).toStrictEqual(rows);
    expect(Buffer.isBuffer(opened.patients[0]!.mrnEnc)).toBe(true);
    expect(opened.patients[0]!.recordedAt).toBeInstanceOf(Date);
  });

  it.each(TRANSFORMED_ROWS)(
    "reads a %s row of Transform's binary payload back as it was built",
    (_label, row) => {
      // Prepare
      const key = randomBytes(32);

      // Act
      const sealed = sealPayload(key, RUN_ID, 'transformed', [row], 'binary');
      const [opened] = openPayload<unknown[]>(key, RUN_ID, 'transformed', sealed);

      // Assess
      expect(opened).toStrictEqual(row);
    },
  );

  it.each([
    ['json', undefined],
    ['binary', 'binary'],
  ] as const)('refuses a %s payload opened for another run or stage', (_label, encoding) => {
    // Prepare
    const key = randomBytes(32);
    const sealed = sealPayload(key, RUN_ID, 'transformed', rows, encoding);

    // Act
    const otherStage = () => openPayload(key, RUN_ID, 'consented', sealed);
    const otherRun = () =>
      openPayload(key, '00000000-0000-4000-8000-000000000000', 'transformed', sealed);

    // Assess
    expect(otherStage).toThrow(DecryptionError);
    expect(otherRun).toThrow(DecryptionError);
  });
});

describe('discardPayload', () => {
  it('leaves an object it may not delete for the run purge: one info line, names only, and no failure', async () => {
    // Prepare: deployed, the writers have no s3:DeleteObject
    const s3Mock = mockClient(S3Client);
    s3Mock.on(DeleteObjectCommand).rejects(
      new S3ServiceException({
        name: 'AccessDenied',
        $fault: 'client',
        $metadata: { httpStatusCode: 403 },
        message: `User is not authorized to perform s3:DeleteObject on ${RUN_ID}/consented`,
      }),
    );
    const store = new S3PayloadStore({
      client: new S3Client({ region: 'us-east-1' }),
      bucket: 'payloads',
      kmsKeyId: 'alias/pipeline',
    });
    const location = `${RUN_ID}/consented-${randomUUID()}`;

    // Act
    const { result, output } = await captureOutput(() =>
      discardPayload(store, { location }, createLogger({ logLevel: 'INFO' })),
    );

    // Assess
    expect(result).toBeUndefined();
    expect(s3Mock.commandCalls(DeleteObjectCommand)).toHaveLength(1);
    const lines = output.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 'INFO',
      message: 'an unrecorded payload was left for the run purge',
      store: 's3://payloads/',
      error: 'InternalError',
      causeName: 'AccessDenied',
    });
    expect(output).not.toContain(RUN_ID);
    s3Mock.restore();
  });

  it('has nothing to discard for a payload kept inline', async () => {
    // Prepare
    const store = new S3PayloadStore({
      client: new S3Client({ region: 'us-east-1' }),
      bucket: 'payloads',
      kmsKeyId: 'alias/pipeline',
    });
    const s3Mock = mockClient(S3Client);

    // Act
    const { output } = await captureOutput(() =>
      discardPayload(store, { ciphertext: randomBytes(16) }, createLogger({ logLevel: 'DEBUG' })),
    );

    // Assess
    expect(s3Mock.calls()).toEqual([]);
    expect(output).toBe('');
    s3Mock.restore();
  });
});
