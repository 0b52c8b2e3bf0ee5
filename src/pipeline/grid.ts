import { isAbsolute, join, relative, resolve } from 'node:path';
import { foldAttackOverrides, type SubGrid, type SweepSpec } from '../experiments/sweep.js';
import type { PoisonMode } from '../triggers/poison.js';
import { mergeConfig, type Tree } from '../util/config-files.js';
import { DEFAULT_DATA_DIR } from './setup.js';
import { detectorNames } from '../detectors/registry.js';

/** The grid lists a command line may replace (each absent = the grid's own). */
export interface GridChoices {
  models?: string[];
  triggers?: string[];
  poisonRates?: number[];
  seeds?: number[];
  targets?: (0 | 1)[];
  modes?: PoisonMode[];
  detectors?: string[];
  defend?: boolean;
}

/**
 * Command-line choices over a grid spec: lists replace the top level's, and narrow the lists an `also:` sub-grid sets
 * itself to the values given (a sub-grid left with an empty list has no runs), so `--triggers rare_value
 * --poison-rates 0.05` is one poisoned run per model and seed, while `--targets 0` keeps the target-0 runs of every
 * part. A single target or mode among the overrides (`--target 0`, poison.mode=clean) is the list of one. Run-config
 * overrides merge over the grid's and over its per-model settings (flags and key=value pairs win).
 */
export function applyGridChoices(spec: SweepSpec, choices: GridChoices, overrides: Tree): SweepSpec {
  const attack = foldAttackOverrides('the command line', overrides, { targets: choices.targets, modes: choices.modes });
  const lists: SubGrid = {
    ...(choices.models && { models: choices.models }),
    ...(choices.triggers && { triggers: choices.triggers }),
    ...(choices.poisonRates && { poison_rates: choices.poisonRates }),
    ...(choices.seeds && { seeds: choices.seeds }),
    ...(attack.targets && { targets: attack.targets }),
    ...(attack.modes && { modes: attack.modes }),
  };
  const narrowed = spec.also
    .map((sub) => {
      const out: Record<string, unknown[]> = { ...sub };
      for (const [key, given] of Object.entries(lists) as [keyof SubGrid, unknown[]][]) {
        if (out[key]) out[key] = out[key].filter((value) => given.includes(value));
      }
      return out as SubGrid;
    })
    .filter((sub) => Object.values(sub).every((values) => values.length > 0));
  // `--detectors all`: every registered detector, those that do not apply to a run's model skipped there.
  const all = choices.detectors?.length === 1 && choices.detectors[0] === 'all';
  const detectors = all ? detectorNames() : choices.detectors;
  const allDetectors = choices.detectors ? all : spec.all_detectors;
  const chosen: SweepSpec = {
    ...spec,
    ...lists,
    also: narrowed,
    detectors: detectors ?? spec.detectors,
    defend: choices.defend ?? spec.defend,
    overrides: mergeConfig(spec.overrides, attack.overrides),
    // Chosen detectors replace the grid's, per-model extras included.
    extra_detectors: choices.detectors ? {} : spec.extra_detectors,
    per_model: Object.fromEntries(Object.entries(spec.per_model).map(([model, o]) => [model, mergeConfig(o, attack.overrides)])),
  };
  if (allDetectors) chosen.all_detectors = true;
  else delete chosen.all_detectors;
  return chosen;
}

/**
 * With a data folder other than the default (and no data file given), the runs read the cohort setup wrote
 * there: the grid's data path (the default data/dev/dev.parquet, or e.g. data/main.parquet) moved from data/ into
 * that folder, with its splits. The data overrides to merge, or {} when the grid's path lies outside data/.
 */
export function dataFolderOverrides(grid: SweepSpec, dataDir: string): Tree {
  if (resolve(dataDir) === resolve(DEFAULT_DATA_DIR)) return {};
  const gridPath = (grid.overrides.data as { path?: unknown } | undefined)?.path;
  const inDefaultFolder = relative(DEFAULT_DATA_DIR, typeof gridPath === 'string' ? gridPath : join(DEFAULT_DATA_DIR, 'dev', 'dev.parquet'));
  if (inDefaultFolder.startsWith('..') || isAbsolute(inDefaultFolder)) return {};
  return { data: { path: join(dataDir, inDefaultFolder), splits: join(dataDir, 'splits', 'splits.json') } };
}
