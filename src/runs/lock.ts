import { link, readFile, rm, rename, mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { lockFileFor, processAlive } from './layout.js';

/** What a run's lock file holds. */
export interface RunLockOwner {
  pid: number;
  host: string;
  started_at: string;
}

async function readOwner(path: string): Promise<RunLockOwner | null> {
  try {
    const owner = JSON.parse(await readFile(path, 'utf8')) as RunLockOwner;
    return typeof owner.pid === 'number' && typeof owner.host === 'string' ? owner : null;
  } catch {
    return null;
  }
}

/** The lock file appears whole or not at all: written under a name of our own, then hard-linked into place. */
async function tryCreate(path: string, owner: RunLockOwner): Promise<boolean> {
  const mine = `${path}.${owner.pid}`;
  await writeFile(mine, JSON.stringify(owner) + '\n');
  try {
    await link(mine, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await rm(mine, { force: true });
  }
}

export interface RunLock {
  release(): Promise<void>;
}

/**
 * Takes the run's lock: an exclusive create of `.seed_N.lock` beside the run folder holding this pid and host.
 * A lock whose pid is gone on this host is stale and is taken over; a lock held by a live process (or by
 * another host, which cannot be checked) is waited for, polling, with one `onWait` message naming the holder.
 * Between two processes on one run, one trains it and the other then finds it complete.
 */
export async function acquireRunLock(runDir: string, onWait: (message: string) => void = () => {}, pollMs = 200): Promise<RunLock> {
  const path = lockFileFor(runDir);
  await mkdir(dirname(path), { recursive: true });
  const me: RunLockOwner = { pid: process.pid, host: hostname(), started_at: new Date().toISOString() };
  let told = false;
  for (;;) {
    if (await tryCreate(path, me)) break;
    const owner = await readOwner(path);
    if (owner && owner.host === me.host && !processAlive(owner.pid)) {
      // Stale: moved aside under a name of our own, so of two processes only one removes it; if what was moved
      // is not the stale lock (another process replaced it meanwhile), it is put back.
      const aside = `${path}.stale-${process.pid}`;
      try {
        await rename(path, aside);
        const moved = await readOwner(aside);
        if (moved && moved.pid !== owner.pid) await link(aside, path).catch(() => {});
        await rm(aside, { force: true });
      } catch {
        // Another process took it over first.
      }
      continue;
    }
    if (!told) {
      onWait(owner ? `waiting for ${runDir}: locked by pid ${owner.pid} on ${owner.host}` : `waiting for ${runDir}: its lock ${path} is being written`);
      told = true;
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      const owner = await readOwner(path);
      if (owner && owner.pid === me.pid && owner.host === me.host) await rm(path, { force: true });
    },
  };
}
