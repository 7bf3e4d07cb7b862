import { readFileSync } from 'node:fs';

export const SYNTHEA_FILES = [
  'Patient.10.ndjson',
  'Patient.100.ndjson',
  'Observation.sample.ndjson',
] as const;

export interface SyntheaLine {
  readonly file: string;
  /** 1-based, as an outcome file would report it. */
  readonly line: number;
  readonly resource: Record<string, unknown>;
}

/** Every resource of a fixture file in ../shared (beside this repository, in CI too). */
export function syntheaLines(file: string): SyntheaLine[] {
  const url = new URL(`../../../../../shared/fixtures/synthea/${file}`, import.meta.url);
  return readFileSync(url, 'utf8')
    .split('\n')
    .flatMap((text, index) =>
      text.trim() === '' ? [] : [{ file, line: index + 1, resource: JSON.parse(text) }],
    );
}
