import { isAbsolute, join, relative, resolve } from 'node:path';
import type { SweepSpec } from '../experiments/sweep.js';
import { mergeConfig, type Tree } from '../util/config-files.js';
import { DEFAULT_DATA_DIR } from './setup.js';
import { detectorNames } from '../detectors/registry.js';

/** The grid lists a command line may replace (each absent = the grid's own). */
export interface GridChoices {
  models?: string[];
  triggers?: string[];
  poisonRates?: number[];
  seeds?: number[];
  detectors?: string[];
  defend?: boolean;
}

/**
 * Command-line choices over a grid spec: lists replace the grid's, run-config overrides merge over the grid's
 * and over its per-model settings (flags and key=value pairs win).
 */
export function applyGridChoices(spec: SweepSpec, choices: GridChoices, overrides: Tree): SweepSpec {
  // `--detectors all`: every registered detector, those that do not apply to a run's model skipped there.
  const all = choices.detectors?.length === 1 && choices.detectors[0] === 'all';
  const detectors = all ? detectorNames() : choices.detectors;
  const allDetectors = choices.detectors ? all : spec.all_detectors;
  return {
    models: choices.models ?? spec.models,
    triggers: choices.triggers ?? spec.triggers,
    poison_rates: choices.poisonRates ?? spec.poison_rates,
    seeds: choices.seeds ?? spec.seeds,
    baseline: spec.baseline,
    detectors: detectors ?? spec.detectors,
    ...(allDetectors ? { all_detectors: true } : {}),
    defend: choices.defend ?? spec.defend,
    overrides: mergeConfig(spec.overrides, overrides),
    // Chosen detectors replace the grid's, per-model extras included.
    extra_detectors: choices.detectors ? {} : spec.extra_detectors,
    per_model: Object.fromEntries(Object.entries(spec.per_model).map(([model, o]) => [model, mergeConfig(o, overrides)])),
  };
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
