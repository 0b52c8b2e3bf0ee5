import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import YAML from 'yaml';
import type { BuiltModel } from '../models/types.js';
import { readNpyInt64 } from '../util/npy.js';
import { readFeaturizerFile } from '../data/features/index.js';
import { UserError } from '../util/errors.js';
import { selectBackend } from '../engine/backend.js';
import { loadDataset, type Dataset } from './dataset.js';
import { prepareRun, type PreparedRun } from './prepare.js';
import { resolveRunConfig, type RunConfig } from './config.js';
import { readCompleteRun, RUN_FILES, type RunMetrics } from './run.js';

/** A finished run brought back to life: its config, data, poisoned training split, featurizer and trained model. */
export interface RunContext {
  dir: string;
  config: RunConfig;
  metrics: RunMetrics;
  dataset: Dataset;
  prepared: PreparedRun;
  model: BuiltModel;
  /** Positions of the poisoned rows in the training split, as saved by the run. */
  poisonedIndices: number[];
  /** 1 for each poisoned training row: the ground truth detectors are scored against. */
  poisonedMask: Uint8Array;
}

export interface LoadRunOptions {
  /** Evaluate on another cohort file (with its splits) instead of the run's own, e.g. to test transfer. */
  data?: string;
  splits?: string;
  backend?: string;
}

/**
 * Loads a complete run folder. The poisoned training split is re-derived from the config and seed and checked
 * against the saved `poisoned_indices.npy`, so a mismatch (changed data, changed code) is caught, not ignored.
 */
export async function loadRun(dir: string, options: LoadRunOptions = {}): Promise<RunContext> {
  const complete = await readCompleteRun(dir);
  if (!complete) throw new UserError(`${dir} is not a finished run folder (no run_metadata.json with status "complete")`);
  let saved: Record<string, unknown>;
  try {
    saved = YAML.parse(await readFile(join(dir, RUN_FILES.config), 'utf8')) as Record<string, unknown>;
  } catch {
    throw new UserError(`${dir}/${RUN_FILES.config} is missing or not valid YAML`);
  }
  const data = { ...(saved.data as object), ...(options.data ? { path: options.data } : {}), ...(options.splits ? { splits: options.splits } : {}) };
  const config = resolveRunConfig({ overrides: { ...saved, data, ...(options.backend ? { backend: options.backend } : {}) } });
  await selectBackend(config.backend);
  const dataset = await loadDataset(config.data.path, config.data.splits);
  const featurizerFile = await readFeaturizerFile(join(dir, RUN_FILES.featurizer));
  const prepared = prepareRun(config, dataset, featurizerFile.state);
  const poisonedIndices = await readNpyInt64(join(dir, RUN_FILES.poisoned));
  const sameData = !options.data && !options.splits;
  if (sameData) {
    const derived = Array.from(prepared.poisoned.poisonedIndices);
    if (derived.length !== poisonedIndices.length || derived.some((v, i) => v !== poisonedIndices[i])) {
      throw new UserError(`${dir}: the poisoned rows re-derived from config and seed differ from poisoned_indices.npy; the data or code changed since the run`);
    }
  }
  const model = await prepared.modelSpec.load(dir, prepared.modelSpec.resolveConfig(prepared.modelConfig));
  const poisonedMask = new Uint8Array(dataset.train.n);
  if (sameData) for (const i of poisonedIndices) poisonedMask[i] = 1;
  return { dir, config, metrics: complete.metrics, dataset, prepared, model, poisonedIndices, poisonedMask };
}
