import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';

/** True when the file starts with the gzip magic bytes 1f 8b. */
export async function hasGzipMagic(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await handle.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

/**
 * Decompresses a whole gzip file and discards the output, so a truncated or damaged file is found even
 * where a reader would stop silently at the damage (DuckDB's CSV reader treats a cut-off gzip stream as the
 * end of the file). Memory stays bounded: the stream is consumed chunk by chunk.
 * Resolves to null when the file is intact, otherwise to zlib's one-line reason.
 */
export async function gzipProblem(path: string): Promise<string | null> {
  try {
    await pipeline(
      createReadStream(path),
      createGunzip(),
      new Writable({
        write(_chunk, _enc, done) {
          done();
        },
      }),
    );
    return null;
  } catch (err) {
    return (err as Error).message.split('\n')[0];
  }
}
