import { readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { descriptorOf } from '../../lib/fhir/r4/descriptors.ts';
import { InputError } from './errors.ts';

/** One file of the input, by the name the outcome file gives it and where it lies. */
export interface InputFileName {
  readonly name: string;
  readonly path: string;
}

export interface InputLocation {
  /** The input as given, resolved: the resume state is keyed by it. */
  readonly resolvedPath: string;
  readonly files: readonly InputFileName[];
}

const LOADABLE = /\.(ndjson|json)$/;

/** Bulk Data exports name files by resource type: Patient.ndjson, Patient.000.ndjson. */
function resourceTypeOf(name: string): string | undefined {
  return name.split('.')[0];
}

/**
 * The groups a directory is sent in. Consents first (a decision about a patient not stored
 * yet waits for the Patient), then Patients (what refers to a patient finds one already
 * stored), then the resources many patients share (what refers to an Organization or a
 * Practitioner finds it), then the rest.
 */
function rank(name: string): number {
  const resourceType = resourceTypeOf(name) ?? '';
  if (resourceType === 'Consent') return 0;
  if (resourceType === 'Patient') return 1;
  if (descriptorOf(resourceType)?.kind === 'shared') return 2;
  return 3;
}

function byCodePoint(left: string, right: string): number {
  if (left === right) return 0;
  return left < right ? -1 : 1;
}

/**
 * The order a directory's files are sent in: Consent.*, then Patient.*, then the types no
 * patient owns (Organization.*, Practitioner.*, …), then the others; each group by name
 * (code point order, not locale).
 */
export function directoryOrder(names: readonly string[]): string[] {
  return names
    .filter((name) => LOADABLE.test(name))
    .sort((left, right) => rank(left) - rank(right) || byCodePoint(left, right));
}

function statOf(path: string) {
  try {
    return statSync(path);
  } catch {
    throw new InputError(`${path}: no such file or directory`);
  }
}

/**
 * The files of the input: the file itself, or a directory's *.ndjson and *.json files in
 * directoryOrder, leaving out `exclude` (the CLI's own outcome and state files).
 */
export function locateInput(inputPath: string, exclude: readonly string[]): InputLocation {
  const resolvedPath = resolve(inputPath);
  const stat = statOf(resolvedPath);
  if (stat.isFile()) {
    return { resolvedPath, files: [{ name: basename(resolvedPath), path: resolvedPath }] };
  }
  if (!stat.isDirectory()) throw new InputError(`${inputPath}: not a file or a directory`);
  const excluded = new Set(exclude.map((path) => resolve(path)));
  const regularFiles = readdirSync(resolvedPath, { withFileTypes: true })
    .filter((entry) => entry.isFile() && !excluded.has(join(resolvedPath, entry.name)))
    .map((entry) => entry.name);
  const names = directoryOrder(regularFiles);
  if (names.length === 0) throw new InputError(`${inputPath}: no *.ndjson or *.json files in it`);
  return { resolvedPath, files: names.map((name) => ({ name, path: join(resolvedPath, name) })) };
}
