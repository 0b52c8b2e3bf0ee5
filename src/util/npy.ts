import { readFile } from 'node:fs/promises';
import { UserError } from './errors.js';

/**
 * NumPy .npy (format version 1.0) for 1-D int64 arrays, so `numpy.load` reads poisoned_indices.npy directly.
 * Layout: magic "\x93NUMPY", version 1.0, a little-endian uint16 header length, an ASCII dict header padded with
 * spaces and ending in "\n" so the data starts at a multiple of 64 bytes, then the raw little-endian values.
 */
export function encodeNpyInt64(values: ArrayLike<number>): Uint8Array {
  const dict = `{'descr': '<i8', 'fortran_order': False, 'shape': (${values.length},), }`;
  const preamble = 10;
  const unpadded = preamble + dict.length + 1;
  const headerLength = dict.length + 1 + ((64 - (unpadded % 64)) % 64);
  const out = new Uint8Array(preamble + headerLength + values.length * 8);
  out.set([0x93, ...Buffer.from('NUMPY'), 1, 0], 0);
  new DataView(out.buffer).setUint16(8, headerLength, true);
  out.set(Buffer.from(dict.padEnd(headerLength - 1, ' ') + '\n', 'latin1'), preamble);
  const data = new DataView(out.buffer, preamble + headerLength);
  for (let i = 0; i < values.length; i++) data.setBigInt64(i * 8, BigInt(values[i]), true);
  return out;
}

/** Decodes a 1-D little-endian int64 .npy; anything else (wrong magic, header, dtype, shape or size) throws UserError. */
export function decodeNpyInt64(bytes: Uint8Array, source = '.npy data'): number[] {
  const bad = (problem: string) => new UserError(`${source} is not a valid .npy file of int64 values: ${problem}`);
  if (bytes.byteLength < 10 || Buffer.from(bytes.subarray(0, 6)).toString('latin1') !== '\x93NUMPY') throw bad('no NUMPY magic');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  if (major !== 1 && major !== 2 && major !== 3) throw bad(`unknown format version ${major}`);
  const preamble = major === 1 ? 10 : 12;
  if (bytes.byteLength < preamble) throw bad('truncated header');
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = preamble + headerLength;
  if (start > bytes.byteLength) throw bad('truncated header');
  const header = Buffer.from(bytes.subarray(preamble, start)).toString('latin1');
  if (!/'descr':\s*'<i8'/.test(header)) throw bad(`unsupported dtype in header ${JSON.stringify(header.trim())}`);
  if (!/'fortran_order':\s*False/.test(header)) throw bad('Fortran order is not supported');
  const shape = /'shape':\s*\((\d+),?\)/.exec(header);
  if (!shape) throw bad(`not a 1-D array (header ${JSON.stringify(header.trim())})`);
  const n = Number(shape[1]);
  if (bytes.byteLength - start !== n * 8) throw bad(`the header states ${n} values but ${bytes.byteLength - start} data bytes follow`);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const v = view.getBigInt64(start + i * 8, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw bad(`value ${v} at position ${i} exceeds the safe integer range`);
    out.push(Number(v));
  }
  return out;
}

/** Reads a 1-D int64 .npy file; a missing or damaged file is a one-line user error naming it. */
export async function readNpyInt64(path: string): Promise<number[]> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new UserError(`cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); the run folder is damaged (rerun it with --force)`);
  }
  return decodeNpyInt64(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
}
