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

export function decodeNpyInt64(bytes: Uint8Array): number[] {
  const magic = Buffer.from(bytes.subarray(0, 6)).toString('latin1');
  if (magic !== '\x93NUMPY') throw new Error('not a .npy file');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = (major === 1 ? 10 : 12) + headerLength;
  const header = Buffer.from(bytes.subarray(major === 1 ? 10 : 12, start)).toString('latin1');
  if (!header.includes("'<i8'")) throw new Error(`unsupported .npy dtype in header ${header.trim()}`);
  const n = (bytes.byteLength - start) / 8;
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(Number(view.getBigInt64(start + i * 8, true)));
  return out;
}
