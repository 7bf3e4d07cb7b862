import { describe, expect, it } from 'vitest';
import { canRead, hasScope, parseScope, satisfiesAny } from '../../../lib/auth/scopes.ts';
import { ConfigError } from '../../../lib/errors.ts';

describe('parseScope', () => {
  it.each([
    ['user/Patient.r', 'user', 'Patient', ['r']],
    ['system/Patient.cruds', 'system', 'Patient', ['c', 'r', 'u', 'd', 's']],
    ['patient/Observation.rs', 'patient', 'Observation', ['r', 's']],
    ['user/Consent.u', 'user', 'Consent', ['u']],
    ['user/Patient.read', 'user', 'Patient', ['r', 's']],
    ['user/Patient.write', 'user', 'Patient', ['c', 'u', 'd']],
    ['user/Patient.*', 'user', 'Patient', ['c', 'r', 'u', 'd', 's']],
    ['system/*.r', 'system', '*', ['r']],
  ])('parses %s', (scope, context, resource, permissions) => {
    // Act
    const parsed = parseScope(scope);

    // Assess
    expect(parsed?.context).toBe(context);
    expect(parsed?.resource).toBe(resource);
    expect([...(parsed?.permissions ?? [])].sort()).toStrictEqual([...permissions].sort());
  });

  it.each([
    ['openid', 'openid'],
    ['launch/patient', 'launch/patient'],
    ['an unknown context', 'admin/Patient.r'],
    ['an empty permission set', 'user/Patient.'],
    ['letters out of order', 'user/Patient.sr'],
    ['a repeated letter', 'user/Patient.rr'],
    ['an unknown letter', 'user/Patient.x'],
    ['a lower-case resource', 'user/patient.r'],
    ['upper-case permissions', 'user/Patient.R'],
    ['a v2 query filter', 'patient/Observation.rs?category=laboratory'],
    ['surrounding spaces', ' user/Patient.r '],
    ['an empty string', ''],
  ])('returns undefined for %s', (_, scope) => {
    // Act
    const parsed = parseScope(scope);

    // Assess
    expect(parsed).toBeUndefined();
  });
});

describe('hasScope', () => {
  it.each([
    ['the exact v2 scope', ['user/Patient.r'], 'user/Patient.r'],
    ['a v2 superset of letters', ['user/Patient.rs'], 'user/Patient.r'],
    ['cruds', ['system/Patient.cruds'], 'system/Patient.c'],
    ['v1 read for r', ['user/Patient.read'], 'user/Patient.r'],
    ['v1 read for s', ['user/Patient.read'], 'user/Patient.s'],
    ['v1 write for c', ['system/Patient.write'], 'system/Patient.c'],
    ['v1 write for u', ['user/Consent.write'], 'user/Consent.u'],
    ['v1 * for every letter', ['user/Patient.*'], 'user/Patient.cruds'],
    ['a wildcard resource', ['system/*.r'], 'system/AuditEvent.r'],
    ['a wildcard resource and v1 *', ['user/*.*'], 'user/Consent.u'],
    ['one match among others', ['openid', 'user/Consent.u', 'user/Patient.r'], 'user/Patient.r'],
    ['a match after a malformed scope', ['user/Patient.', 'user/Patient.r'], 'user/Patient.r'],
  ])('is satisfied by %s', (_, granted, required) => {
    // Act
    const satisfied = hasScope(granted, required);

    // Assess
    expect(satisfied).toBe(true);
  });

  it.each([
    ['nothing granted', [], 'user/Patient.r'],
    ['another context (system for user)', ['system/Patient.r'], 'user/Patient.r'],
    ['another context (user for system)', ['user/Patient.c'], 'system/Patient.c'],
    ['another context (patient for user)', ['patient/Patient.r'], 'user/Patient.r'],
    ['another resource', ['user/Observation.r'], 'user/Patient.r'],
    ['a missing letter', ['user/Patient.rs'], 'user/Patient.u'],
    ['part of the letters required', ['user/Patient.r'], 'user/Patient.rs'],
    ['v1 read for c', ['system/Patient.read'], 'system/Patient.c'],
    ['v1 write for r', ['user/Patient.write'], 'user/Patient.r'],
    ['a granted wildcard in another context', ['system/*.*'], 'user/Patient.r'],
    ['a wildcard required, one resource granted', ['user/Patient.r'], 'user/*.r'],
    ['a malformed scope', ['user/Patient.rr'], 'user/Patient.r'],
    ['a filtered v2 scope', ['user/Patient.r?identifier=MRN-1'], 'user/Patient.r'],
    ['a near miss in case', ['User/Patient.r'], 'user/Patient.r'],
  ])('is not satisfied by %s', (_, granted, required) => {
    // Act
    const satisfied = hasScope(granted, required);

    // Assess
    expect(satisfied).toBe(false);
  });

  it('throws a ConfigError when the required scope is not a SMART scope', () => {
    // Act
    const act = () => hasScope(['user/Patient.r'], 'user/patient.read.all');

    // Assess
    expect(act).toThrow(ConfigError);
  });
});

describe('satisfiesAny', () => {
  const runReaders = ['system/Patient.c', 'user/Patient.r'];

  it.each([
    ['the first', ['system/Patient.c'], true],
    ['the second', ['user/Patient.rs'], true],
    ['both', ['system/Patient.c', 'user/Patient.r'], true],
    ['neither', ['user/Consent.u', 'system/Patient.r'], false],
    ['nothing', [], false],
  ])('with %s of the alternatives granted returns %s', (_, granted, expected) => {
    // Act
    const satisfied = satisfiesAny(granted, runReaders);

    // Assess
    expect(satisfied).toBe(expected);
  });

  it('is never satisfied by an empty list of alternatives', () => {
    // Act
    const satisfied = satisfiesAny(['system/*.*'], []);

    // Assess
    expect(satisfied).toBe(false);
  });
});

const LAUNCH = '0b6f5f1e-8d3c-4f7a-9c2e-5a1d3e4f6a7b';

describe('canRead', () => {
  it.each<[string, string[], string, 'r' | 's', boolean]>([
    ['its own type', ['user/Condition.rs'], 'Condition', 'r', true],
    ['its own type, searched', ['user/Condition.rs'], 'Condition', 's', true],
    ['another type', ['user/Condition.rs'], 'Encounter', 'r', false],
    ['a read without the search letter', ['user/Condition.r'], 'Condition', 's', false],
    ['a search without the read letter', ['user/Condition.s'], 'Condition', 'r', false],
    ['every type with v1 read', ['user/*.read'], 'Encounter', 's', true],
    ['every type with v1 read, read', ['user/*.read'], 'Practitioner', 'r', true],
    ['every type in the system context', ['system/*.rs'], 'MedicationRequest', 'r', true],
    ['one type in the system context', ['system/Encounter.r'], 'Encounter', 'r', true],
    ['writes only', ['user/*.cud'], 'Condition', 'r', false],
    ['nothing', [], 'Condition', 'r', false],
    ['a malformed scope', ['user/Condition.rr'], 'Condition', 'r', false],
    ['a filtered v2 scope', ['user/Condition.rs?category=x'], 'Condition', 'r', false],
  ])('with %s', (_, granted, type, permission, expected) => {
    // Act
    const allowed = canRead(granted, type, permission);

    // Assess
    expect(allowed).toBe(expected);
  });

  it.each<[string, string[], string, 'r' | 's', string | undefined, boolean]>([
    [
      'the patient context without a launch patient',
      ['patient/*.rs'],
      'Condition',
      'r',
      undefined,
      false,
    ],
    ['the patient context with a launch patient', ['patient/*.rs'], 'Condition', 'r', LAUNCH, true],
    [
      'one patient type with a launch patient',
      ['patient/Observation.s'],
      'Observation',
      's',
      LAUNCH,
      true,
    ],
    [
      'another type with a launch patient',
      ['patient/Observation.rs'],
      'Condition',
      'r',
      LAUNCH,
      false,
    ],
    ['user scopes beside a launch patient', ['user/Condition.r'], 'Condition', 'r', LAUNCH, true],
  ])('with %s', (_, granted, type, permission, launchPatient, expected) => {
    // Act
    const allowed = canRead(granted, type, permission, launchPatient);

    // Assess
    expect(allowed).toBe(expected);
  });
});
