import { access, mkdir, readdir, rename, rm, stat, writeFile, constants } from 'node:fs/promises';
import { dirname, basename, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { UserError } from './errors.js';

/**
 * Creates a folder (and parents), turning permission problems into a one-line user error. Each missing level is
 * made on its own: Node's recursive mkdir retries forever on file systems that refuse mkdir with ENOENT (/proc).
 */
export async function ensureWritableDir(dir: string, what = 'folder'): Promise<void> {
  const fail = (reason: string) => new UserError(`cannot write to ${what} ${dir} (${reason}); choose a writable location`);
  const missing: string[] = [];
  let existing = resolve(dir);
  for (;;) {
    try {
      if (!(await stat(existing)).isDirectory()) throw fail(`${existing} is not a folder`);
      break;
    } catch (err) {
      if (err instanceof UserError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw fail(code ?? (err as Error).message);
      const parent = dirname(existing);
      if (parent === existing) throw fail('no existing parent folder');
      missing.unshift(existing);
      existing = parent;
    }
  }
  try {
    for (const level of missing) {
      try {
        await mkdir(level);
      } catch (err) {
        // Another process may have made it meanwhile.
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    await access(dir, constants.W_OK);
  } catch (err) {
    throw fail((err as NodeJS.ErrnoException).code ?? (err as Error).message);
  }
}

/** Temporary names made by temporarySibling: ".<name>.tmp-<pid>-<hex>", and ".old" leftovers of a swap. */
const TEMPORARY = /^\..+\.tmp-\d+-[0-9a-f]{8}(\.old)?$/;

export function isTemporaryName(name: string): boolean {
  return TEMPORARY.test(name);
}

/** A unique sibling name for building something that is renamed into place when complete. */
export function temporarySibling(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Whether a process of this host is alive (EPERM: alive, owned by another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Writes a file under a temporary name and renames it, so readers never see a half-written file. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await ensureWritableDir(dirname(path));
  const tmp = temporarySibling(path);
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {});
    throw err;
  }
}

/**
 * writeFileAtomic for records written while handling another failure (e.g. a run's .failed.json): it never throws,
 * and returns the one-line reason when the record could not be written (EACCES, ENOSPC), leaving no partial file.
 */
export async function writeRecordBestEffort(path: string, data: string): Promise<string | null> {
  try {
    await writeFileAtomic(path, data);
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return `could not write ${path} (${code ?? (err instanceof Error ? err.message.split('\n')[0] : String(err))})`;
  }
}
