import { constants, zstdCompressSync, zstdDecompressSync } from 'node:zlib';

/**
 * How claim-check payloads are compressed before they are sealed: Zstandard at level 1. The
 * transformed payload is mostly ciphertext, which gzip spent milliseconds per batch failing to
 * shrink; zstd is several times faster at the same or a better ratio.
 */
export const ZSTD_MAGIC = Buffer.of(0x28, 0xb5, 0x2f, 0xfd);
/**
 * The first byte of a value in V8's serialization format (its version tag), as claim-check
 * payloads in the binary encoding start once decompressed; UTF-8 JSON text never starts so.
 */
export const V8_VERSION_TAG = 0xff;

export function compressPayload(encoded: string | Buffer): Buffer {
  return zstdCompressSync(encoded, { params: { [constants.ZSTD_c_compressionLevel]: 1 } });
}

/**
 * zlib's synchronous API inflates into chunks of `chunkSize` bytes, 16 KiB unless told, and
 * joins them at the end. A batch's JSON payload of a few hundred KiB took 1.5 to 3.6 times as
 * long that way as in chunks of 256 KiB or more (runs on a busy machine). The chunk is sized
 * from the compressed length (JSON shrinks about tenfold, ciphertext not at all), within these
 * bounds.
 */
const MIN_CHUNK = 64 * 1024;
const MAX_CHUNK = 8 * 1024 * 1024;

/** Undoes compressPayload. */
export function decompressPayload(compressed: Buffer): Buffer {
  const chunkSize = Math.min(MAX_CHUNK, Math.max(MIN_CHUNK, compressed.length * 16));
  const inflated = zstdDecompressSync(compressed, { chunkSize });
  // Output that fits one chunk is a view of it, and so is every Buffer V8's deserializer makes
  // from it: a payload of ciphertext (which hardly shrinks) would keep a chunk many times its
  // size alive while the stage runs. Copied out, the chunk is freed.
  return inflated.buffer.byteLength > 2 * inflated.length ? Buffer.from(inflated) : inflated;
}
