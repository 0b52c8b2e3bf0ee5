import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs as dist/scripts/shared-dir.js). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The environment variable that names the shared folder. */
export const SHARED_ENV = 'BACKDOOR_SHARED';

/** What the shared folder holds, relative to it (README, "Real ICU data"). */
export const SHARED_LAYOUT = {
  mimic: join('data', 'mimic-iv-demo-2.2'),
  physionet: join('data', 'physionet-2012'),
  torchReference: join('bench', 'torch_reference.py'),
} as const;

export type SharedEntry = keyof typeof SHARED_LAYOUT;

/** How a user obtains each entry, for the one-line messages when it is missing. */
export const SHARED_SOURCES: Record<SharedEntry, string> = {
  mimic: 'download the MIMIC-IV Clinical Database Demo v2.2 (hosp/ and icu/) from https://physionet.org/content/mimic-iv-demo/2.2/',
  physionet:
    'download set-a.tar.gz, set-b.tar.gz, Outcomes-a.txt and Outcomes-b.txt of the PhysioNet/CinC Challenge 2012 v1.0.0 from https://physionet.org/content/challenge-2012/1.0.0/',
  torchReference: 'or pass --torch-script <file>, or --no-torch to time TensorFlow.js alone',
};

/**
 * The folder of public data and references that are never copied into the repository (the MIMIC-IV demo and
 * PhysioNet 2012 under data/, the PyTorch reference of the bench under bench/): $BACKDOOR_SHARED if set, else
 * shared/ beside the checkout. There is no other fallback, so a clone elsewhere never reads a folder by accident.
 */
export function sharedDir(): string {
  const fromEnv = process.env[SHARED_ENV];
  return fromEnv ? resolve(fromEnv) : resolve(REPO_ROOT, '..', 'shared');
}

export function sharedPath(entry: SharedEntry): string {
  return join(sharedDir(), SHARED_LAYOUT[entry]);
}

/** Where the shared folder was looked up, for messages: the variable's value, or the default beside the checkout. */
export function sharedLookup(): string {
  return process.env[SHARED_ENV] ? `${SHARED_ENV}=${process.env[SHARED_ENV]}` : `${SHARED_ENV} is unset, so ${sharedDir()} beside the checkout`;
}

/** The exit code of a script whose data or reference is missing (as the CLI's for bad input). */
export const EXIT_MISSING_INPUT = 2;

/**
 * Stops a script with one line on stderr when `path` is missing. `path` is the shared folder's `entry` unless the
 * user named another with `option`.
 */
export function exitIfMissing(path: string, entry: SharedEntry, option: string): void {
  if (existsSync(path)) return;
  const named = path !== sharedPath(entry);
  const line = named
    ? `${path} (${option}) not found; ${SHARED_SOURCES[entry]}`
    : `${path} not found (${sharedLookup()}): set ${SHARED_ENV} to the folder holding ${SHARED_LAYOUT[entry]}; ${SHARED_SOURCES[entry]}`;
  process.stderr.write(`${line}\n`);
  process.exit(EXIT_MISSING_INPUT);
}
