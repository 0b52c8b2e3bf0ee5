import { isTemporaryName, processAlive } from '../util/fs.js';
import { readdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * The layout of a run folder, runs/{model}/{trigger folder}/{rate}/seed_{seed}/, and of the hidden siblings beside it.
 * This is the only module that knows a file name inside a run folder; the records' writers and readers sit in
 * records.ts, detection-records.ts and summary.ts.
 */
export const RUN_FILES = {
  config: 'config.yaml',
  metadata: 'run_metadata.json',
  metrics: 'metrics.json',
  summary: 'experiment_summary.csv',
  history: 'history.csv',
  poisoned: 'poisoned_indices.npy',
  featurizer: 'featurizer.json',
  model: 'model.json',
  weights: 'weights.bin',
  predictions: 'test_predictions.json',
} as const;

/** Subfolder of a run (and of its partial sibling) with the kept per-epoch checkpoints. */
export const CHECKPOINTS_DIR = 'checkpoints';

/** Subfolder of a run folder that receives detection, defence and attribution results. */
export const DETECTION_DIR = 'detection';

const DEFENCE_PREFIX = 'defence_';

export const DETECTION_FILES = {
  report: (method: string) => `${method}.json`,
  scores: (method: string) => `${method}_scores.parquet`,
  defence: (method: string) => `${DEFENCE_PREFIX}${method}.json`,
  attribution: 'saliency_attribution.json',
  /** Written last after each method: every finished output with its size (see detection-records.ts). */
  manifest: 'manifest.json',
} as const;

/** What a JSON file in a detection folder holds, by its name; null for other files (scores, manifest, temporary). */
export function detectionFileKind(name: string): { kind: 'report' | 'defence'; method: string } | { kind: 'attribution' } | null {
  if (name.startsWith('.') || !name.endsWith('.json') || name === DETECTION_FILES.manifest) return null;
  if (name === DETECTION_FILES.attribution) return { kind: 'attribution' };
  const base = name.slice(0, -'.json'.length);
  return base.startsWith(DEFENCE_PREFIX) ? { kind: 'defence', method: base.slice(DEFENCE_PREFIX.length) } : { kind: 'report', method: base };
}

/** The table of every complete run, at the top of a runs folder. */
export const RUNS_SUMMARY_FILE = 'summary.csv';

/** What names a run folder: RunConfig fits this shape. */
export interface RunKey {
  model: { name: string };
  trigger: { name: string };
  /** target and mode default to 1 and dirty: the folders runs had before either was part of the name. */
  poison: { rate: number; target?: 0 | 1; mode?: string };
  seed: number;
  variant?: string;
}

/** Joins a trigger and a config variant in a folder name and a report cell: rare_value@potassium. */
export const VARIANT_SEPARATOR = '@';

/** Joins a trigger and its attack's target or mode in a folder name: rare_value-target0, rare_value-label_consistent. */
const ATTACK_SEPARATOR = '-';

/** The target and mode whose runs keep the plain trigger folder (every run folder written before targets and modes were named). */
const FOLDER_DEFAULT_TARGET = 1;
const FOLDER_DEFAULT_MODE = 'dirty';

/** Poison rate as a folder name: 0.01 → "0.01", 0 → "0" (the report's percent label is another thing). */
function rateFolderName(rate: number): string {
  return String(rate);
}

/**
 * The trigger folder of a run: the trigger's name, then `-target0` for the target-0 direction and `-{mode}` for a
 * mode other than dirty, then `@{variant}` for a config variant: rare_value, rare_value-target0,
 * rare_value-label_consistent, rare_value-target0-clean@potassium. Target 1, dirty, no variant is the plain name.
 */
export function triggerFolderName(key: Pick<RunKey, 'trigger' | 'poison' | 'variant'>): string {
  const target = key.poison.target ?? FOLDER_DEFAULT_TARGET;
  const mode = key.poison.mode ?? FOLDER_DEFAULT_MODE;
  let name = key.trigger.name;
  if (target !== FOLDER_DEFAULT_TARGET) name += `${ATTACK_SEPARATOR}target${target}`;
  if (mode !== FOLDER_DEFAULT_MODE) name += `${ATTACK_SEPARATOR}${mode}`;
  return key.variant === undefined ? name : `${name}${VARIANT_SEPARATOR}${key.variant}`;
}

/**
 * runs/{model}/{trigger folder}/{rate}/seed_{seed} (see triggerFolderName): runs that differ only in target, mode or
 * config variant share a runs folder, while target-1 dirty runs without a variant keep the folders they always had.
 */
export function runDirFor(runsDir: string, key: RunKey): string {
  return join(runsDir, key.model.name, triggerFolderName(key), rateFolderName(key.poison.rate), `seed_${key.seed}`);
}

function hiddenSibling(dir: string, suffix: string): string {
  return join(dirname(dir), `.${basename(dir)}${suffix}`);
}

/** Where an unfinished run keeps its checkpoints, e.g. runs/mlp/none/0/.seed_0.partial */
export function partialDirFor(dir: string): string {
  return hiddenSibling(dir, '.partial');
}

/** The name of a run folder a partial folder belongs to (".seed_0.partial" → "seed_0"), or null. */
export function runNameOfPartial(partialDir: string): string | null {
  return /^\.(.*)\.partial$/.exec(basename(partialDir))?.[1] ?? null;
}

/** A failed run leaves a record beside its folder, e.g. runs/mlp/none/0/.seed_0.failed.json; success removes it. */
export function failureFileFor(dir: string): string {
  return hiddenSibling(dir, '.failed.json');
}

/** The per-run lock beside the run folder (see lock.ts). */
export function lockFileFor(dir: string): string {
  return hiddenSibling(dir, '.lock');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export { isTemporaryName, processAlive };

/**
 * Removes what killed attempts at this run left behind: temporary siblings of the run folder and temporary files
 * in its detection folder. Call only while holding the run's lock, so no live attempt's files are removed.
 */
export async function removeOrphans(dir: string): Promise<string[]> {
  const removed: string[] = [];
  const prefix = `.${basename(dir)}.tmp-`;
  const sweep = async (folder: string, keep: (name: string) => boolean) => {
    let names: string[];
    try {
      names = await readdir(folder);
    } catch {
      return;
    }
    for (const name of names) {
      if (!isTemporaryName(name) || keep(name)) continue;
      await rm(join(folder, name), { recursive: true, force: true });
      removed.push(join(folder, name));
    }
  };
  await sweep(dirname(dir), (name) => !name.startsWith(prefix));
  // What a killed lock taker left: its own ".seed_N.lock.<pid>" or ".seed_N.lock.stale-<pid>" of a pid now gone.
  const lockLeftover = new RegExp(`^${escapeRegExp(basename(lockFileFor(dir)))}\\.(?:stale-)?(\\d+)$`);
  let siblings: string[] = [];
  try {
    siblings = await readdir(dirname(dir));
  } catch {
    // No parent folder yet: nothing left behind.
  }
  for (const name of siblings) {
    const pid = lockLeftover.exec(name)?.[1];
    if (pid === undefined || processAlive(Number(pid))) continue;
    await rm(join(dirname(dir), name), { force: true });
    removed.push(join(dirname(dir), name));
  }
  // A file of the run folder itself being replaced when the attempt was killed (experiment_summary.csv is rewritten
  // after each detector); the partial folder is a sibling, so nothing here but such a file has a temporary name.
  await sweep(dir, () => false);
  await sweep(join(dir, DETECTION_DIR), () => false);
  // A checkpoint being written when the attempt was killed (or ran out of disk).
  await sweep(join(partialDirFor(dir), CHECKPOINTS_DIR), () => false);
  return removed;
}
