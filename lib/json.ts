import { InputValidationError } from './errors.ts';

/** Deeper documents are refused before parsing, so hostile nesting cannot exhaust a recursive consumer's stack. */
export const MAX_JSON_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** A JSON object, not an array or null: what parsed input must be before its members are read. */
export function isJsonObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * JSON with every object's members sorted by name (UTF-16 code units, as `<` orders them)
 * and undefined members left out: equal content, equal text, whatever order it arrived in.
 * Digests of stored records are taken over this text, so its output must never change:
 * tests/unit/json.test.ts holds it to the original definition.
 */
export function canonicalJson(value: unknown): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value);
  if (Array.isArray(value)) {
    let text = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) text += ',';
      // As `[undefined].map(JSON.stringify).join()` has it: nothing between the commas.
      text += canonicalJson(value[i]) ?? '';
    }
    return `${text}]`;
  }
  const record = value as Readonly<Record<string, unknown>>;
  let text = '{';
  let first = true;
  // Array.prototype.sort without a comparator orders strings by UTF-16 code units, as `<` does.
  for (const name of Object.keys(record).sort()) {
    const member = record[name];
    if (member === undefined) continue;
    text += `${first ? '' : ','}${JSON.stringify(name)}:${canonicalJson(member)}`;
    first = false;
  }
  return `${text}}`;
}

/** Whether brackets outside strings nest deeper than `limit`; a linear scan that allocates nothing. */
function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    if (inString) {
      if (code === BACKSLASH) index += 1;
      else if (code === QUOTE) inString = false;
    } else if (code === QUOTE) {
      inString = true;
    } else if (code === OPEN_BRACE || code === OPEN_BRACKET) {
      depth += 1;
      if (depth > limit) return true;
    } else if (code === CLOSE_BRACE || code === CLOSE_BRACKET) {
      depth -= 1;
    }
  }
  return false;
}

function invalidJson(message: string, keyword: string, problem: string): InputValidationError {
  return new InputValidationError(message, [{ path: '', keyword, message: problem }]);
}

/**
 * Parses a JSON body (a request's, a queue message's, an NDJSON line); too deep a document or
 * a syntax error becomes a 400 that never quotes the input.
 */
export function parseJson(raw: string): unknown {
  if (nestsDeeperThan(raw, MAX_JSON_DEPTH)) {
    throw invalidJson(
      'the body is nested too deeply',
      'maxDepth',
      `JSON may nest at most ${MAX_JSON_DEPTH} levels`,
    );
  }
  try {
    return JSON.parse(raw);
  } catch {
    // JSON.parse's message quotes the input, so neither it nor the error is kept as a cause.
    throw invalidJson(
      'the body is not valid JSON',
      'json',
      'the body must be one well-formed JSON value',
    );
  }
}
