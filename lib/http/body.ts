/**
 * Reading a request body: media type, size and encoding are checked here, JSON syntax by
 * `parseJson` (lib/json.ts), before any schema sees the document. No error raised here quotes
 * the body: it may be PHI.
 */
import { Buffer } from 'node:buffer';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import {
  ConfigError,
  InputValidationError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
} from '../errors.ts';

export interface ReadBodyOptions {
  /** The largest body accepted, in bytes after base64 decoding. */
  readonly maxBytes: number;
  /** Accepted media types, without parameters (`application/json`). */
  readonly accept: readonly string[];
}

export interface RequestBody {
  /** The body as text, decoded from base64 when API Gateway encoded it. */
  readonly raw: string;
  /** The request's media type, lower-cased, without parameters. */
  readonly contentType: string;
}

interface MediaType {
  readonly type: string;
  readonly parameters: ReadonlyMap<string, string>;
}

const ACCEPTED_CHARSET = 'utf-8';
const DECIMAL = /^\d+$/;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A request header by name in any case: HTTP API lower-cases names, other front ends may not. */
export function headerValue(
  event: Pick<APIGatewayProxyEventV2, 'headers'>,
  name: string,
): string | undefined {
  const headers = event.headers ?? {};
  const wanted = name.toLowerCase();
  const exact = headers[wanted];
  if (exact !== undefined) return exact;
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}

function parseMediaType(header: string): MediaType {
  const [type = '', ...parameterTexts] = header.split(';');
  const parameters = new Map<string, string>();
  for (const text of parameterTexts) {
    const separator = text.indexOf('=');
    if (separator < 0) continue;
    const name = text.slice(0, separator).trim().toLowerCase();
    const value = text.slice(separator + 1).trim();
    const unquoted =
      value.length >= 2 && value.startsWith('"') && value.endsWith('"')
        ? value.slice(1, -1)
        : value;
    parameters.set(name, unquoted);
  }
  return { type: type.trim().toLowerCase(), parameters };
}

function validateOptions(options: ReadBodyOptions): readonly string[] {
  if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes < 1) {
    throw new ConfigError('readBody: maxBytes must be a positive integer');
  }
  if (options.accept.length === 0) {
    throw new ConfigError('readBody: accept must name at least one media type');
  }
  return options.accept.map((type) => type.toLowerCase());
}

/**
 * The media type of a Content-Type value (lower-cased, without parameters) when it is one of
 * `accepted` (lower-case) with no charset but UTF-8; otherwise a 415. Also reads the media type
 * an SQS message names in its `contentType` attribute.
 */
export function checkMediaType(header: string | undefined, accepted: readonly string[]): string {
  const acceptedList = accepted.join(', ');
  if (header === undefined || header.trim() === '') {
    throw new UnsupportedMediaTypeError(
      `a Content-Type header is required: one of ${acceptedList}`,
    );
  }
  const mediaType = parseMediaType(header);
  if (!accepted.includes(mediaType.type)) {
    throw new UnsupportedMediaTypeError(`the Content-Type must be one of ${acceptedList}`);
  }
  const charset = mediaType.parameters.get('charset');
  if (charset !== undefined && charset.toLowerCase() !== ACCEPTED_CHARSET) {
    throw new UnsupportedMediaTypeError(`the only accepted charset is ${ACCEPTED_CHARSET}`);
  }
  return mediaType.type;
}

function tooLarge(maxBytes: number): PayloadTooLargeError {
  return new PayloadTooLargeError(`the body exceeds the limit of ${maxBytes} bytes`);
}

function invalidBody(message: string, keyword: string, problem: string): InputValidationError {
  return new InputValidationError(message, [{ path: '', keyword, message: problem }]);
}

const REPLACEMENT_CHARACTER = '\uFFFD';

/**
 * A body some front end (API Gateway, SQS) already decoded as text: U+FFFD is the only trace
 * it leaves of invalid bytes, and a lone surrogate cannot have come from UTF-8 at all.
 */
export function checkDecodedText(body: string): string {
  if (!body.isWellFormed() || body.includes(REPLACEMENT_CHARACTER)) throw invalidUtf8();
  return body;
}

function decodeText(body: string, isBase64Encoded: boolean): string {
  if (!isBase64Encoded) return checkDecodedText(body);
  try {
    return utf8.decode(Buffer.from(body, 'base64'));
  } catch {
    // The decoder's own error says nothing useful and nothing about the bytes is worth keeping.
    throw invalidUtf8();
  }
}

function invalidUtf8(): InputValidationError {
  return invalidBody(
    'the body is not valid UTF-8 (in a text body, U+FFFD stands for bytes that were not)',
    'encoding',
    'the body must be encoded as UTF-8, and a text body must not hold U+FFFD',
  );
}

/**
 * The request body as text with its media type, after the Content-Type, charset, size
 * (declared, then actual) and encoding checks; throws the matching 400, 413 or 415 error.
 */
export function readBody(event: APIGatewayProxyEventV2, options: ReadBodyOptions): RequestBody {
  const accepted = validateOptions(options);
  const contentType = checkMediaType(headerValue(event, 'content-type'), accepted);
  // The declared length refuses a huge body before it is decoded.
  const declared = headerValue(event, 'content-length')?.trim();
  if (declared !== undefined && DECIMAL.test(declared) && Number(declared) > options.maxBytes) {
    throw tooLarge(options.maxBytes);
  }
  // A front end may hand over a non-string body (serverless-offline gives `false` for the body "false").
  const body = typeof event.body === 'string' ? event.body : '';
  const isBase64Encoded = event.isBase64Encoded === true;
  const size = Buffer.byteLength(body, isBase64Encoded ? 'base64' : 'utf8');
  if (size > options.maxBytes) throw tooLarge(options.maxBytes);
  if (size === 0) throw invalidBody('the body is empty', 'required', 'a request body is required');
  return { raw: decodeText(body, isBase64Encoded), contentType };
}
