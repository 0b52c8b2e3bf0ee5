/**
 * A reader for POSIX ustar / GNU tar archives held in memory (the PhysioNet 2012 sets are ~40 MB
 * uncompressed). Supports regular files, directories, GNU long names ('L') and pax path records ('x');
 * other entry types are returned as 'other'. Every header's checksum is verified, so damage is reported
 * instead of yielding garbage records.
 */

export interface TarEntry {
  name: string;
  type: 'file' | 'directory' | 'other';
  data: Buffer;
}

export class TarError extends Error {}

const BLOCK = 512;

function cString(buf: Buffer, start: number, length: number): string {
  const end = buf.indexOf(0, start);
  return buf.toString('utf8', start, end < 0 || end > start + length ? start + length : end);
}

function octal(buf: Buffer, start: number, length: number, what: string, offset: number): number {
  // GNU base-256 encoding (high bit set) is used for sizes beyond 8 GiB; not needed for these archives.
  if (buf[start] & 0x80) throw new TarError(`unsupported base-256 ${what} in the header at byte ${offset}`);
  const text = cString(buf, start, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarError(`invalid ${what} "${text}" in the header at byte ${offset}`);
  return parseInt(text, 8);
}

function isZeroBlock(buf: Buffer, offset: number): boolean {
  for (let i = offset; i < offset + BLOCK; i++) if (buf[i] !== 0) return false;
  return true;
}

/** pax extended header records: "<length> <key>=<value>\n". */
function paxPath(data: Buffer): string | undefined {
  let pos = 0;
  let path: string | undefined;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space < 0) break;
    const len = parseInt(data.toString('utf8', pos, space), 10);
    if (!Number.isFinite(len) || len <= 0) break;
    const record = data.toString('utf8', space + 1, pos + len - 1);
    const eq = record.indexOf('=');
    if (eq > 0 && record.slice(0, eq) === 'path') path = record.slice(eq + 1);
    pos += len;
  }
  return path;
}

export function* readTar(buf: Buffer): Generator<TarEntry> {
  let offset = 0;
  let longName: string | undefined;
  while (true) {
    if (offset + BLOCK > buf.length) throw new TarError(`archive ends inside a header at byte ${offset} (truncated)`);
    if (isZeroBlock(buf, offset)) return;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : buf[offset + i];
    const stored = octal(buf, offset + 148, 8, 'checksum', offset);
    if (stored !== sum) throw new TarError(`header checksum mismatch at byte ${offset} (damaged archive)`);
    const size = octal(buf, offset + 124, 12, 'size', offset);
    const typeflag = String.fromCharCode(buf[offset + 156] || 0x30);
    const magic = buf.toString('latin1', offset + 257, offset + 262);
    const prefix = magic === 'ustar' ? cString(buf, offset + 345, 155) : '';
    let name = cString(buf, offset, 100);
    if (prefix) name = `${prefix}/${name}`;
    const start = offset + BLOCK;
    const end = start + size;
    if (end > buf.length) throw new TarError(`archive ends inside "${name}" (truncated)`);
    const data = buf.subarray(start, end);
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
    if (typeflag === 'L') {
      longName = cString(data, 0, data.length);
      continue;
    }
    if (typeflag === 'x') {
      longName = paxPath(data) ?? longName;
      continue;
    }
    if (typeflag === 'g') continue;
    if (longName !== undefined) {
      name = longName;
      longName = undefined;
    }
    const type = typeflag === '0' || typeflag === '7' ? 'file' : typeflag === '5' ? 'directory' : 'other';
    yield { name, type, data };
  }
}
