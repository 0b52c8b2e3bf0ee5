import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, rename, rm, access } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { trainModel, type EpochRecord } from '../train/trainer.js';
import { listCheckpoints, readCheckpoint, resolveCheckpointPath, type CheckpointState } from '../train/checkpoint.js';
import { auroc } from '../metrics/classification.js';
import { selectBackend, backendVersions } from '../engine/backend.js';
import { UserError } from '../util/errors.js';
import { temporarySibling } from '../util/fs.js';
import { markRunsFolder } from '../util/markers.js';
import { loadDataset } from './dataset.js';
import { prepareRun, evaluateModelWithPredictions } from './prepare.js';
import { PACKAGE_ROOT, type RunConfig } from './config.js';
import { CHECKPOINTS_DIR, partialDirFor, runDirFor } from '../runs/layout.js';
import {
  readCompleteRun,
  writeConfigRecord,
  writeFeaturizerRecord,
  writeHistoryRecord,
  writeMetadataRecord,
  writeMetricsRecord,
  writePoisonedIndicesRecord,
  type RunMetrics,
} from '../runs/records.js';
import { writeExperimentSummary } from '../runs/summary.js';
import { writePredictionsRecord, type TestPredictions } from '../runs/predictions.js';

export interface RunResult {
  status: 'completed' | 'skipped';
  dir: string;
  runId: string;
  metrics: RunMetrics;
  seconds: number;
}

export interface RunOptions {
  runsDir: string;
  force?: boolean;
  /** Continue from this checkpoint folder instead of the latest checkpoint of an interrupted attempt. */
  resumeFrom?: string;
  /** Called with a one-line message per epoch and stage. */
  log?: (line: string) => void;
  /** Called with a line the user should see even when not verbose (a wait for another process's lock). */
  notice?: (line: string) => void;
  /** Called after each epoch with the epochs done and planned (a progress bar's inner count). */
  step?: (done: number, total: number, unit: string) => void;
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Content hash of what determines a run's results: the resolved config (less the backend) and the data. */
export function runIdFor(config: RunConfig, dataSha256: string, splitsSha256: string): string {
  const { backend: _backend, ...determining } = config;
  return createHash('sha256').update(canonicalJson({ config: determining, data: dataSha256, splits: splitsSha256 })).digest('hex').slice(0, 16);
}

let gitCommitCache: string | null | undefined;
function gitCommit(): string | null {
  if (gitCommitCache === undefined) {
    try {
      gitCommitCache = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: PACKAGE_ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    } catch {
      gitCommitCache = null;
    }
  }
  return gitCommitCache;
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * One run: poison the training split, fit the featurizer on it, train, evaluate on the clean and triggered test
 * sets, and write the run folder atomically. A complete folder with the same config is skipped unless `force`.
 */
export async function executeRun(config: RunConfig, options: RunOptions): Promise<RunResult> {
  const started = Date.now();
  const log = options.log ?? (() => {});
  const dir = runDirFor(options.runsDir, config);
  await markRunsFolder(options.runsDir);
  const dataset = await loadDataset(config.data.path, config.data.splits);
  const runId = runIdFor(config, dataset.sha256, dataset.splitsSha256);

  const existing = await readCompleteRun(dir);
  if (existing && !options.force && !options.resumeFrom) {
    if (existing.metadata.run_id !== runId) {
      throw new UserError(`${dir} holds a finished run of a different config or data (run id ${existing.metadata.run_id}, now ${runId}); pass --force to replace it, --variant NAME to keep both (a variant gets its own folder), or use another --runs-dir`);
    }
    return { status: 'skipped', dir, runId, metrics: existing.metrics, seconds: 0 };
  }

  const backend = await selectBackend(config.backend);
  const timings: Record<string, number> = {};
  let t = performance.now();
  const prepared = prepareRun(config, dataset);
  const { poisoned, trainFeatures, valFeatures, modelSpec, triggerParams } = prepared;
  timings.prepare_s = (performance.now() - t) / 1000;

  t = performance.now();
  const model = modelSpec.build(trainFeatures.rowShape, prepared.modelConfig, config.seed, trainFeatures);
  let history: EpochRecord[];
  let training: RunMetrics['training'];
  let metrics: RunMetrics;
  let predictions: TestPredictions;
  const tmpDir = temporarySibling(dir);
  const partial = partialDirFor(dir);
  const checkpointDir = join(partial, CHECKPOINTS_DIR);
  const resume = await findResumeState(options, partial, runId);
  if (resume) log(`resuming from epoch ${resume.epoch} (${resume.path})`);
  else {
    await rm(partial, { recursive: true, force: true });
  }
  if (config.train.checkpoints !== 'none') {
    await mkdir(checkpointDir, { recursive: true });
    await writeConfigRecord(partial, config);
  }
  try {
    const trained = await trainModel({
      model,
      train: trainFeatures,
      trainLabels: poisoned.cohort.labels,
      val: valFeatures,
      valLabels: dataset.val.labels,
      config: config.train,
      seed: config.seed,
      checkpoint: { dir: checkpointDir, runId, policy: config.train.checkpoints },
      resume: resume ?? undefined,
      onEpoch: (r) => {
        log(`epoch ${r.epoch}: loss ${r.train_loss.toFixed(4)}, val AUROC ${r.val_auroc.toFixed(4)}${r.improved ? ' (best)' : ''}`);
        options.step?.(r.epoch, config.train.epochs, 'epoch');
      },
    });
    history = trained.history;
    training = {
      best_epoch: trained.bestEpoch,
      epochs_run: trained.epochsRun,
      best_val_auroc: trained.bestValAuroc,
      stopped_early: trained.stoppedEarly,
      selected_epoch: config.train.select === 'last' ? (trained.history.at(-1)?.epoch ?? trained.bestEpoch) : trained.bestEpoch,
    };
    timings.train_s = (performance.now() - t) / 1000;

    t = performance.now();
    const { evaluation, predictions: testPredictions } = evaluateModelWithPredictions(model, prepared, dataset, config);
    predictions = testPredictions;
    timings.evaluate_s = (performance.now() - t) / 1000;

    let positives = 0;
    for (const y of dataset.test.labels) positives += y;
    metrics = {
      run_id: runId,
      model: config.model.name,
      trigger: prepared.trigger.name,
      poison_rate: config.poison.rate,
      poison_mode: config.poison.mode,
      target: config.poison.target,
      seed: config.seed,
      data: {
        n_train: dataset.train.n,
        n_val: dataset.val.n,
        n_test: dataset.test.n,
        n_poisoned: poisoned.poisonedIndices.length,
        test_prevalence: positives / dataset.test.n,
        test_true_risk_auroc: dataset.test.trueRisk ? auroc(dataset.test.labels, dataset.test.trueRisk) : null,
      },
      trigger_params: triggerParams,
      training,
      ...evaluation,
    };

    await mkdir(tmpDir, { recursive: true });
    await model.save(tmpDir);
  } finally {
    model.dispose();
  }

  const backendInfo = await backendVersions();
  const finished = Date.now();
  const metadata = {
    run_id: runId,
    status: 'complete',
    package: { name: 'backdoor', version: packageVersion() },
    git_commit: gitCommit(),
    backend: { ...backend, versions: backendInfo },
    data: {
      path: dataset.path,
      sha256: dataset.sha256,
      splits_path: dataset.splitsPath,
      splits_sha256: dataset.splitsSha256,
      source: dataset.cohort.schema.source,
      file_from_run: relative(dir, resolve(dataset.path)),
      file_absolute: resolve(dataset.path),
      splits_from_run: relative(dir, resolve(dataset.splitsPath)),
      splits_absolute: resolve(dataset.splitsPath),
    },
    started_at: new Date(started).toISOString(),
    finished_at: new Date(finished).toISOString(),
    timings: { ...timings, total_s: (finished - started) / 1000 },
  };
  try {
    await writeConfigRecord(tmpDir, config);
    await writeMetricsRecord(tmpDir, metrics);
    await writePredictionsRecord(tmpDir, predictions);
    await writeHistoryRecord(tmpDir, history);
    await writeExperimentSummary(tmpDir, metrics, dataset.sha256);
    await writePoisonedIndicesRecord(tmpDir, poisoned.poisonedIndices);
    await writeFeaturizerRecord(tmpDir, { view: modelSpec.view, state: prepared.featurizerState });
    // The metadata goes last: its status marks the folder complete.
    if (config.train.checkpoints !== 'none') await rename(checkpointDir, join(tmpDir, CHECKPOINTS_DIR));
    await writeMetadataRecord(tmpDir, metadata);
    await moveIntoPlace(tmpDir, dir);
    await rm(partial, { recursive: true, force: true });
  } catch (err) {
    await rm(tmpDir, { recursive: true, force: true });
    throw err;
  }
  log(`done: clean AUROC ${metrics.clean.auroc.toFixed(4)}${metrics.attack ? `, ASR ${metrics.attack.asr.toFixed(4)}` : ''}`);
  // The caller sees exactly what metrics.json holds (NaN is null there), whether the run trained or was skipped.
  return { status: 'completed', dir, runId, metrics: JSON.parse(JSON.stringify(metrics)) as RunMetrics, seconds: (finished - started) / 1000 };
}

async function findResumeState(options: RunOptions, partial: string, runId: string): Promise<(CheckpointState & { path: string }) | null> {
  if (options.resumeFrom) {
    const state = await readCheckpoint(await resolveCheckpointPath(options.resumeFrom));
    if (state.runId !== runId) throw new UserError(`checkpoint ${state.path} belongs to run ${state.runId}, not to this config and data (run ${runId})`);
    return state;
  }
  if (options.force) return null;
  const found = await listCheckpoints(join(partial, CHECKPOINTS_DIR));
  // An interrupted attempt of the same run continues from its latest intact checkpoint.
  for (let k = found.length - 1; k >= 0; k--) {
    try {
      const state = await readCheckpoint(found[k].path);
      if (state.runId === runId) return state;
    } catch {
      // A checkpoint cut short by the interruption: try the one before.
    }
  }
  return null;
}

/** Renames a finished temporary folder into place, replacing an older run only after the new one is whole. */
async function moveIntoPlace(tmpDir: string, dir: string): Promise<void> {
  let old: string | null = null;
  try {
    await access(dir);
    old = temporarySibling(dir) + '.old';
    await rename(dir, old);
  } catch {
    old = null;
  }
  await mkdir(join(dir, '..'), { recursive: true });
  await rename(tmpDir, dir);
  if (old) await rm(old, { recursive: true, force: true });
}
