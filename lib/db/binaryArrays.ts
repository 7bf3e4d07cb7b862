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

/** How one element type is written: its size in bytes, and writing it at an offset. */
interface ElementCodec<T> {
  readonly oid: number;
  size(value: T): number;
  write(target: Buffer, offset: number, value: T): void;
}

function encodeArray<T>(codec: ElementCodec<T>, values: readonly (T | null)[]): Buffer {
  if (values.length === 0) {
    const empty = Buffer.alloc(12);
    empty.writeInt32BE(codec.oid, 8);
    return empty;
  }
  let size = 20;
  let hasNull = 0;
  for (const value of values) {
    if (value === null) hasNull = 1;
    size += 4 + (value === null ? 0 : codec.size(value));
  }
  const encoded = Buffer.allocUnsafe(size);
  encoded.writeInt32BE(1, 0);
  encoded.writeInt32BE(hasNull, 4);
  encoded.writeInt32BE(codec.oid, 8);
  encoded.writeInt32BE(values.length, 12);
  encoded.writeInt32BE(1, 16);
  let offset = 20;
  for (const value of values) {
    if (value === null) {
      encoded.writeInt32BE(-1, offset);
      offset += 4;
      continue;
    }
    const length = codec.size(value);
    encoded.writeInt32BE(length, offset);
    codec.write(encoded, offset + 4, value);
    offset += 4 + length;
  }
  return encoded;
}

const BYTEA: ElementCodec<Buffer> = {
  oid: OID.bytea,
  size: (value) => value.length,
  write: (target, offset, value) => {
    value.copy(target, offset);
  },
};

const TEXT: ElementCodec<string> = {
  oid: OID.text,
  size: (value) => Buffer.byteLength(value, 'utf8'),
  write: (target, offset, value) => {
    target.write(value, offset, 'utf8');
  },
};

/** jsonb's binary form is its format version (1) and the JSON text. */
const JSONB: ElementCodec<string> = {
  oid: OID.jsonb,
  size: (value) => 1 + Buffer.byteLength(value, 'utf8'),
  write: (target, offset, value) => {
    target.writeUInt8(1, offset);
    target.write(value, offset + 1, 'utf8');
  },
};

const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const UUID: ElementCodec<string> = {
  oid: OID.uuid,
  size: () => 16,
  write: (target, offset, value) => {
    // Checked here as uuid_in would: a malformed id must fail the statement, not be misread.
    if (!UUID_TEXT.test(value)) throw new TypeError('not a UUID');
    target.write(value.replaceAll('-', ''), offset, 16, 'hex');
  },
};

const BOOL: ElementCodec<boolean> = {
  oid: OID.bool,
  size: () => 1,
  write: (target, offset, value) => {
    target.writeUInt8(value ? 1 : 0, offset);
  },
};

const INT4: ElementCodec<number> = {
  oid: OID.int4,
  size: () => 4,
  write: (target, offset, value) => {
    // writeInt32BE refuses what is not a 32-bit integer, as int4in would.
    if (!Number.isInteger(value)) throw new TypeError('not an integer');
    target.writeInt32BE(value, offset);
  },
};

/** Microseconds from the Unix epoch to PostgreSQL's (2000-01-01T00:00:00Z). */
const POSTGRES_EPOCH_MS = Date.UTC(2000, 0, 1);

const TIMESTAMPTZ: ElementCodec<Date> = {
  oid: OID.timestamptz,
  size: () => 8,
  write: (target, offset, value) => {
    const ms = value.getTime();
    if (Number.isNaN(ms)) throw new TypeError('not a valid date');
    target.writeBigInt64BE(BigInt(ms - POSTGRES_EPOCH_MS) * 1000n, offset);
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
