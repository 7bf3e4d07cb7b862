/**
 * Array parameters in PostgreSQL's binary format (what `array_recv` reads), for the batch
 * statements that pass one array per column to `unnest`.
 *
 * node-postgres sends a Buffer parameter in the binary format, and a parameter cast in the SQL
 * (`$1::bytea[]`) takes the cast's type. An array of Buffers given as a JavaScript array would
 * be written as an array literal instead, every byte as two hex digits, and PostgreSQL would
 * parse that text back character by character: on a batch of ciphertext, most of the work of
 * sending it on both sides. In the binary format each element is its length and its bytes, as
 * `COPY … (FORMAT binary)` sends them.
 *
 * The layout: ndim (1, or 0 when empty), whether any element is null, the element type's OID,
 * then per dimension its length and lower bound (1); then per element its length in bytes (-1
 * for null) and its bytes. Every integer is big-endian.
 */

const OID = {
  bool: 16,
  int4: 23,
  bytea: 17,
  text: 25,
  uuid: 2950,
  timestamptz: 1184,
  jsonb: 3802,
} as const;

/**
 * How one element type is written: the most bytes it can take, and writing it at an offset,
 * which returns the bytes written (UTF-8 text is measured by writing it, not beforehand).
 */
interface ElementCodec<T> {
  readonly oid: number;
  maxSize(value: T): number;
  write(target: Buffer, offset: number, value: T): number;
}

const HEADER = 20;

function encodeArray<T>(codec: ElementCodec<T>, values: readonly (T | null)[]): Buffer {
  if (values.length === 0) {
    const empty = Buffer.alloc(12);
    empty.writeInt32BE(codec.oid, 8);
    return empty;
  }
  let size = HEADER;
  for (const value of values) size += 4 + (value === null ? 0 : codec.maxSize(value));
  const encoded = Buffer.allocUnsafe(size);
  let hasNull = 0;
  let offset = HEADER;
  for (const value of values) {
    if (value === null) {
      hasNull = 1;
      encoded.writeInt32BE(-1, offset);
      offset += 4;
      continue;
    }
    const length = codec.write(encoded, offset + 4, value);
    encoded.writeInt32BE(length, offset);
    offset += 4 + length;
  }
  encoded.writeInt32BE(1, 0);
  encoded.writeInt32BE(hasNull, 4);
  encoded.writeInt32BE(codec.oid, 8);
  encoded.writeInt32BE(values.length, 12);
  encoded.writeInt32BE(1, 16);
  return encoded.subarray(0, offset);
}

const BYTEA: ElementCodec<Buffer> = {
  oid: OID.bytea,
  maxSize: (value) => value.length,
  write: (target, offset, value) => value.copy(target, offset),
};

/** A JavaScript string of n UTF-16 code units is at most 3n bytes of UTF-8. */
const TEXT: ElementCodec<string> = {
  oid: OID.text,
  maxSize: (value) => 3 * value.length,
  write: (target, offset, value) => target.write(value, offset, 'utf8'),
};

/** jsonb's binary form is its format version (1) and the JSON text. */
const JSONB: ElementCodec<string> = {
  oid: OID.jsonb,
  maxSize: (value) => 1 + 3 * value.length,
  write: (target, offset, value) => {
    target[offset] = 1;
    return 1 + target.write(value, offset + 1, 'utf8');
  },
};

/** Each ASCII code's value as a hex digit, or -1; codes past ASCII are out of the table. */
const HEX_DIGITS = new Int8Array(128).fill(-1);
for (let digit = 0; digit < 16; digit += 1) {
  HEX_DIGITS['0123456789abcdef'.charCodeAt(digit)] = digit;
  HEX_DIGITS['0123456789ABCDEF'.charCodeAt(digit)] = digit;
}
/** Where each byte's two digits start in `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`. */
const UUID_BYTE_AT = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
const HYPHEN = 45;

/**
 * The 16 bytes of a UUID in its usual text form, checked as uuid_in would check it: a malformed
 * id must fail the statement, not be misread. Parsed here through a table: a regular expression
 * and Buffer's hex decoding cost several times the whole text array literal's time per id.
 */
const UUID: ElementCodec<string> = {
  oid: OID.uuid,
  maxSize: () => 16,
  write: (target, offset, value) => {
    if (
      value.length !== 36 ||
      value.charCodeAt(8) !== HYPHEN ||
      value.charCodeAt(13) !== HYPHEN ||
      value.charCodeAt(18) !== HYPHEN ||
      value.charCodeAt(23) !== HYPHEN
    ) {
      throw new TypeError('not a UUID');
    }
    let invalid = 0;
    for (let byte = 0; byte < 16; byte += 1) {
      const at = UUID_BYTE_AT[byte] ?? 0;
      const high = HEX_DIGITS[value.charCodeAt(at)] ?? -1;
      const low = HEX_DIGITS[value.charCodeAt(at + 1)] ?? -1;
      invalid |= high | low;
      target[offset + byte] = (high << 4) | low;
    }
    if (invalid < 0) throw new TypeError('not a UUID');
    return 16;
  },
};

const BOOL: ElementCodec<boolean> = {
  oid: OID.bool,
  maxSize: () => 1,
  write: (target, offset, value) => {
    target[offset] = value ? 1 : 0;
    return 1;
  },
};

const INT4: ElementCodec<number> = {
  oid: OID.int4,
  maxSize: () => 4,
  write: (target, offset, value) => {
    // writeInt32BE refuses what is not a 32-bit integer, as int4in would.
    if (!Number.isInteger(value)) throw new TypeError('not an integer');
    target.writeInt32BE(value, offset);
    return 4;
  },
};

/** Microseconds from the Unix epoch to PostgreSQL's (2000-01-01T00:00:00Z). */
const POSTGRES_EPOCH_MS = Date.UTC(2000, 0, 1);

const TIMESTAMPTZ: ElementCodec<Date> = {
  oid: OID.timestamptz,
  maxSize: () => 8,
  write: (target, offset, value) => {
    const ms = value.getTime();
    if (Number.isNaN(ms)) throw new TypeError('not a valid date');
    target.writeBigInt64BE(BigInt(ms - POSTGRES_EPOCH_MS) * 1000n, offset);
    return 8;
  },
};

/** A `bytea[]` parameter. */
export const byteaArray = (values: readonly (Buffer | null)[]): Buffer =>
  encodeArray(BYTEA, values);

/** A `text[]` parameter. */
export const textArray = (values: readonly (string | null)[]): Buffer => encodeArray(TEXT, values);

/** A `jsonb[]` parameter, from JSON text (JSON.stringify's). */
export const jsonbArray = (values: readonly (string | null)[]): Buffer =>
  encodeArray(JSONB, values);

/** A `uuid[]` parameter, from ids in their usual text form. */
export const uuidArray = (values: readonly (string | null)[]): Buffer => encodeArray(UUID, values);

/** An `int[]` (int4) parameter. */
export const int4Array = (values: readonly (number | null)[]): Buffer => encodeArray(INT4, values);

/** A `boolean[]` parameter. */
export const boolArray = (values: readonly (boolean | null)[]): Buffer => encodeArray(BOOL, values);

/** A `timestamptz[]` parameter, to the millisecond a Date holds. */
export const timestamptzArray = (values: readonly (Date | null)[]): Buffer =>
  encodeArray(TIMESTAMPTZ, values);
