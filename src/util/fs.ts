import { access, mkdir, readdir, rename, rm, rmdir, stat, writeFile, constants } from 'node:fs/promises';
import { dirname, basename, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { UserError } from './errors.js';

/**
 * Creates a folder (and parents), turning permission problems into a one-line user error. Each missing level is
 * made on its own: Node's recursive mkdir retries forever on file systems that refuse mkdir with ENOENT (/proc).
 */
export async function ensureWritableDir(dir: string, what = 'folder'): Promise<string[]> {
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
  return missing;
}

/** Removes folders ensureWritableDir made (deepest first) that are still empty, e.g. after a failed build. */
export async function removeEmptyLevels(created: readonly string[]): Promise<void> {
  for (const level of [...created].reverse()) {
    try {
      await rmdir(level);
    } catch {
      return;
    }
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

/**
 * Clears what killed builds of `target` left beside it: temporary siblings (".<name>.tmp-<pid>-<hex>") of processes
 * that are gone are removed; an ".old" sibling (the previous folder, moved aside during a swap) is put back when the
 * swap never finished, else the user's entries it still holds are moved into the new folder before it is removed.
 */
export async function removeStaleSiblings(target: string): Promise<string[]> {
  const prefix = `.${basename(target)}.tmp-`;
  const parent = dirname(target);
  const names = (await readdir(parent).catch(() => [] as string[])).filter((n) => n.startsWith(prefix) && isTemporaryName(n)).sort();
  const removed: string[] = [];
  // ".old" first: restoring the previous folder must happen before its half-swapped successor is removed.
  for (const name of [...names.filter((n) => n.endsWith('.old')), ...names.filter((n) => !n.endsWith('.old'))]) {
    const pid = Number(/\.tmp-(\d+)-/.exec(name)?.[1]);
    if (pid === process.pid || processAlive(pid)) continue;
    const path = join(parent, name);
    if (name.endsWith('.old')) {
      if (!(await exists(target))) {
        await rename(path, target);
        continue;
      }
      await carryOver(path, target, () => true);
    }
    await rm(path, { recursive: true, force: true });
    removed.push(path);
  }
  return removed;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Moves the entries of `from` that `keep` accepts and that `to` lacks into `to`. */
async function carryOver(from: string, to: string, keep: (name: string) => boolean): Promise<void> {
  for (const name of await readdir(from)) {
    if (keep(name) && !(await exists(join(to, name)))) await rename(join(from, name), join(to, name));
  }
}

/**
 * Builds a folder aside and renames it into place as a whole, so an interrupted or failed build leaves the previous
 * folder as it was (no new file beside old ones) and a first build that fails leaves no folder at all (nor the
 * parent levels it made). `build` writes into the staging folder it is given. An existing folder is moved aside,
 * the new one renamed in, and the old one removed after the entries `isUsers` accepts (files the project did not
 * write there, e.g. a user's notes) are moved into the new folder.
 */
export async function buildFolderAside<T>(target: string, what: string, build: (staging: string) => Promise<T>, isUsers: (name: string) => boolean): Promise<T> {
  const notFolder = () => new UserError(`${what} ${target} exists and is not a folder; choose another location`);
  if ((await exists(target)) && !(await stat(target)).isDirectory()) throw notFolder();
  const created = await ensureWritableDir(dirname(target), `parent of the ${what}`);
  await removeStaleSiblings(target);
  const staging = temporarySibling(target);
  try {
    await mkdir(staging);
    const result = await build(staging);
    if (!(await exists(target))) {
      await rename(staging, target);
      return result;
    }
    if (!(await stat(target)).isDirectory()) throw notFolder();
    const old = `${staging}.old`;
    await rename(target, old);
    try {
      await rename(staging, target);
    } catch (err) {
      await rename(old, target);
      throw err;
    }
    await carryOver(old, target, isUsers);
    await rm(old, { recursive: true, force: true });
    return result;
  } catch (err) {
    await rm(staging, { recursive: true, force: true }).catch(() => {});
    await removeEmptyLevels(created);
    throw err;
  }
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
