import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs as dist/scripts/shared-dir.js). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The workplace's shared folder (real ICU data in data/, the PyTorch reference in bench/), never copied into the
 * repository: $BACKDOOR_SHARED if set, else shared/ beside the checkout (the layout the project is developed in),
 * else /work/shared (where this machine keeps it, for a clone made elsewhere, e.g. in a temporary folder).
 * When none exists, the folder beside the checkout, so that errors name where the data are expected.
 */
export function sharedDir(): string {
  const beside = resolve(REPO_ROOT, '..', 'shared');
  const candidates = [process.env.BACKDOOR_SHARED, beside, '/work/shared'].filter((d): d is string => Boolean(d));
  return candidates.find((d) => existsSync(d)) ?? beside;
}
