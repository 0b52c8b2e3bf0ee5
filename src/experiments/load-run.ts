import type { BuiltModel } from '../models/types.js';
import { UserError } from '../util/errors.js';
import { selectBackend } from '../engine/backend.js';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadDataset, loadWholeCohortAsTest, type Dataset } from './dataset.js';
import { prepareRun, type PreparedRun } from './prepare.js';
import { resolveRunConfig, splitTriggerConfig, type RunConfig } from './config.js';
import { rebindTriggerParams } from './trigger-params.js';
import { getTrigger } from '../triggers/registry.js';
import { readCompleteRun, readConfigRecord, readFeaturizerRecord, readPoisonedIndicesRecord, type RunMetrics } from '../runs/records.js';
import { RUN_FILES } from '../runs/layout.js';

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
  /** Where the evaluation's test stays come from. */
  testSet: TestSetSource;
  /** The run's own data and splits files, as found. */
  ownData: { path: string; splits: string };
}

export interface LoadRunOptions {
  /**
   * Evaluate on another cohort file instead of the run's own (external validation). Its splits are `splits`, else a
   * splits.json beside the file; with neither, every stay of the file is a test stay. Never the run's own splits.
   */
  data?: string;
  splits?: string;
  backend?: string;
  /** With `data`: resolve the trigger's configured parameters against the other file instead of keeping the run's. */
  reresolveTrigger?: boolean;
}

/** How the evaluation data was chosen, for the output. */
export type TestSetSource = 'run' | 'given splits' | 'splits beside the file' | 'whole cohort';

/** The first of the run's recorded data locations that exists: as configured (from the cwd), relative to the run folder, absolute. */
function locate(dir: string, configured: string, fromRun: string | undefined, absolute: string | undefined): string {
  const candidates = [configured, ...(fromRun ? [join(dir, fromRun)] : []), ...(absolute ? [absolute] : [])];
  return candidates.find((p) => existsSync(p)) ?? configured;
}

/**
 * Loads a complete run folder. The poisoned training split is re-derived from the config and seed and checked
 * against the saved `poisoned_indices.npy`, so a mismatch (changed data, changed code) is caught, not ignored.
 */
export async function loadRun(dir: string, options: LoadRunOptions = {}): Promise<RunContext> {
  const complete = await readCompleteRun(dir);
  if (!complete) throw new UserError(`${dir} is not a finished run folder (no ${RUN_FILES.metadata} with status "complete")`);
  const saved = await readConfigRecord(dir);
  const savedData = (saved.data ?? {}) as { path?: string; splits?: string };
  const recorded = complete.metadata.data ?? {};
  const own = {
    path: locate(dir, String(savedData.path ?? ''), recorded.file_from_run, recorded.file_absolute),
    splits: locate(dir, String(savedData.splits ?? ''), recorded.splits_from_run, recorded.splits_absolute),
  };
  let testSet: TestSetSource = 'run';
  let data = own;
  if (options.data) {
    const beside = join(dirname(options.data), 'splits.json');
    const splits = options.splits ?? (existsSync(beside) ? beside : undefined);
    testSet = options.splits ? 'given splits' : splits ? 'splits beside the file' : 'whole cohort';
    // The splits entry must name a file for the config to validate; with the whole cohort as test set it is not read.
    data = { path: options.data, splits: splits ?? own.splits };
  } else if (options.splits) {
    data = { ...own, splits: options.splits };
    testSet = 'given splits';
  }
  const config = resolveRunConfig({ overrides: { ...saved, data, ...(options.backend ? { backend: options.backend } : {}) } });
  await selectBackend(config.backend);
  const dataset = testSet === 'whole cohort' ? await loadWholeCohortAsTest(config.data.path) : await loadDataset(config.data.path, config.data.splits);
  if (testSet === 'run' && recorded.sha256 && dataset.sha256 !== recorded.sha256) {
    throw new UserError(`${dataset.path} is not the data this run was trained on (sha256 ${dataset.sha256.slice(0, 12)}…, the run recorded ${recorded.sha256.slice(0, 12)}…)`);
  }
  const featurizerFile = await readFeaturizerRecord(dir);
  let triggerParams: unknown;
  if (options.data && !options.reresolveTrigger) triggerParams = rebindTriggerParams(complete.metrics.trigger_params, dataset.cohort.schema, dataset.path);
  else if (options.data && testSet === 'whole cohort') {
    // Re-resolving on a file without splits: its every stay plays the training split the trigger is resolved on.
    const { name, params } = splitTriggerConfig(config.trigger);
    triggerParams = getTrigger(name).resolve(params, { schema: dataset.cohort.schema, train: dataset.cohort });
  }
  const prepared = prepareRun(config, dataset, featurizerFile.state, triggerParams === undefined ? {} : { triggerParams });
  const poisonedIndices = await readPoisonedIndicesRecord(dir);
  const sameData = !options.data && !options.splits;
  if (sameData) {
    const derived = Array.from(prepared.poisoned.poisonedIndices);
    if (derived.length !== poisonedIndices.length || derived.some((v, i) => v !== poisonedIndices[i])) {
      throw new UserError(`${dir}: the poisoned rows re-derived from config and seed differ from ${RUN_FILES.poisoned}; the data or code changed since the run`);
    }
  }
  const model = await prepared.modelSpec.load(dir, prepared.modelSpec.resolveConfig(prepared.modelConfig));
  const poisonedMask = new Uint8Array(dataset.train.n);
  if (sameData) for (const i of poisonedIndices) poisonedMask[i] = 1;
  return { dir, config, metrics: complete.metrics, dataset, prepared, model, poisonedIndices, poisonedMask, testSet, ownData: own };
}
