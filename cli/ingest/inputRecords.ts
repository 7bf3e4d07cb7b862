import { readFileSync } from 'node:fs';
import { isJsonObject } from '../../lib/json.ts';
import { InputError } from './errors.ts';
import type { InputFileName } from './inputFiles.ts';

/** What the outcome file says about a record's identity: never any of its content. */
export interface RecordIdentity {
  readonly file: string;
  /** The line number in an NDJSON file, the entry number (from 1) in a Bundle. */
  readonly line: number;
  readonly resourceType: string | null;
  readonly resourceId: string | null;
}

/** An NDJSON line: bytes [start, end) of the file, without its line break. */
export interface NdjsonRecord extends RecordIdentity {
  readonly start: number;
  readonly end: number;
}

export interface BundleRecord extends RecordIdentity {
  /** The Bundle entry as the file has it. */
  readonly entry: unknown;
}

export type InputFile =
  | {
      readonly format: 'ndjson';
      readonly name: string;
      readonly bytes: Buffer;
      readonly records: readonly NdjsonRecord[];
    }
  | {
      readonly format: 'bundle';
      readonly name: string;
      readonly bytes: Buffer;
      readonly records: readonly BundleRecord[];
    };

/** The Bundle types whose entries are resources to load, as the API accepts them. */
export const INGESTIBLE_BUNDLE_TYPES: readonly string[] = ['collection', 'batch', 'transaction'];

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

function withoutBom(bytes: Buffer): Buffer {
  return bytes.subarray(0, UTF8_BOM.length).equals(UTF8_BOM)
    ? bytes.subarray(UTF8_BOM.length)
    : bytes;
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

/** resourceType and id of a resource, when it has them; nothing else is read. */
function identityOf(resource: unknown): Pick<RecordIdentity, 'resourceType' | 'resourceId'> {
  if (!isJsonObject(resource)) return { resourceType: null, resourceId: null };
  return {
    resourceType: stringOrNull(resource['resourceType']),
    resourceId: stringOrNull(resource['id']),
  };
}

function parsedOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // The API rejects the line by itself: one bad line must not stop the others.
    return undefined;
  }
}

function isBlank(bytes: Buffer, start: number, end: number): boolean {
  for (let at = start; at < end; at += 1) {
    const byte = bytes[at];
    if (byte !== 0x20 && byte !== 0x09 && byte !== CARRIAGE_RETURN) return false;
  }
  return true;
}

/** The records of an NDJSON file: each non-blank line, CR of a CRLF and a leading BOM dropped. */
export function ndjsonRecords(name: string, bytes: Buffer): NdjsonRecord[] {
  const records: NdjsonRecord[] = [];
  let start = bytes.length - withoutBom(bytes).length;
  let line = 1;
  while (start < bytes.length) {
    const newline = bytes.indexOf(NEWLINE, start);
    const lineEnd = newline === -1 ? bytes.length : newline;
    const end = lineEnd > start && bytes[lineEnd - 1] === CARRIAGE_RETURN ? lineEnd - 1 : lineEnd;
    if (!isBlank(bytes, start, end)) {
      const resource = parsedOrUndefined(bytes.toString('utf8', start, end));
      records.push({ file: name, line, ...identityOf(resource), start, end });
    }
    start = lineEnd + 1;
    line += 1;
  }
  return records;
}

/** The entries of a FHIR Bundle file; anything but an ingestible Bundle is an InputError. */
export function bundleRecords(name: string, bytes: Buffer): BundleRecord[] {
  const bundle = parsedOrUndefined(bytes.toString('utf8'));
  if (!isJsonObject(bundle) || bundle['resourceType'] !== 'Bundle') {
    throw new InputError(
      `${name}: a .json input must be a FHIR Bundle (NDJSON files end in .ndjson)`,
    );
  }
  const type = bundle['type'];
  if (typeof type !== 'string' || !INGESTIBLE_BUNDLE_TYPES.includes(type)) {
    throw new InputError(
      `${name}: the Bundle's type must be one of ${INGESTIBLE_BUNDLE_TYPES.join(', ')}`,
    );
  }
  const entries = bundle['entry'] ?? [];
  if (!Array.isArray(entries)) throw new InputError(`${name}: the Bundle's entry is not an array`);
  return entries.map((entry: unknown, index) => {
    const resource = isJsonObject(entry) ? entry['resource'] : undefined;
    const { resourceType, resourceId } = identityOf(resource);
    const fullUrl = isJsonObject(entry) ? stringOrNull(entry['fullUrl']) : null;
    return { file: name, line: index + 1, resourceType, resourceId: resourceId ?? fullUrl, entry };
  });
}

/** Reads one input file: `.json` is a FHIR Bundle, anything else NDJSON. */
export function readInputFile(file: InputFileName): InputFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file.path);
  } catch {
    throw new InputError(`${file.path}: cannot be read`);
  }
  if (file.name.endsWith('.json')) {
    // A Bundle kept whole is sent as these bytes, and JSON.parse refuses a BOM.
    const body = withoutBom(bytes);
    return {
      format: 'bundle',
      name: file.name,
      bytes: body,
      records: bundleRecords(file.name, body),
    };
  }
  return { format: 'ndjson', name: file.name, bytes, records: ndjsonRecords(file.name, bytes) };
}
