import { access, mkdir, rename, rm, writeFile, constants } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { UserError } from './errors.js';

/** Creates a folder (and parents), turning permission problems into a one-line user error. */
export async function ensureWritableDir(dir: string, what = 'folder'): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`cannot write to ${what} ${dir} (${code ?? (err as Error).message}); choose a writable location`);
  }
}

/** A unique sibling name for building something that is renamed into place when complete. */
export function temporarySibling(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Writes a file under a temporary name and renames it, so readers never see a half-written file. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await ensureWritableDir(dirname(path));
  const tmp = temporarySibling(path);
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
