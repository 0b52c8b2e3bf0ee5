import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile, access } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import YAML from 'yaml';
import { stringify as csvStringify } from 'csv-stringify/sync';
import { trainModel, type EpochRecord } from '../train/trainer.js';
import { listCheckpoints, readCheckpoint, resolveCheckpointPath, type CheckpointState } from '../train/checkpoint.js';
import { auroc } from '../metrics/classification.js';
import { selectBackend, backendVersions } from '../engine/backend.js';
import { encodeNpyInt64 } from '../util/npy.js';
import { UserError } from '../util/errors.js';
import { temporarySibling } from '../util/fs.js';
import { markRunsFolder } from '../util/markers.js';
import { loadDataset } from './dataset.js';
import { prepareRun, evaluateModel, type Evaluation } from './prepare.js';
import { PACKAGE_ROOT, type RunConfig } from './config.js';

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
} as const;

/** The columns of experiment_summary.csv, in order; README "Run folders" documents each. */
export const SUMMARY_COLUMNS = [
  'run_id',
  'model',
  'trigger',
  'poison_rate',
  'poison_mode',
  'target',
  'seed',
  'n_train',
  'n_poisoned',
  'n_test',
  'clean_auroc',
  'clean_auprc',
  'clean_accuracy',
  'clean_brier',
  'clean_ece',
  'clean_precision',
  'clean_recall',
  'clean_f1',
  'threshold',
  'asr',
  'confidence_shift',
  'acc_poison',
  'clean_target_rate',
  'n_triggered',
  'best_epoch',
  'epochs_run',
  'best_val_auroc',
  'test_true_risk_auroc',
  'data_sha256',
] as const;

export interface RunMetrics {
  run_id: string;
  model: string;
  trigger: string;
  poison_rate: number;
  poison_mode: string;
  target: 0 | 1;
  seed: number;
  data: { n_train: number; n_val: number; n_test: number; n_poisoned: number; test_prevalence: number; test_true_risk_auroc: number | null };
  /** The trigger's parameters as resolved against the clean training split (e.g. the rare value chosen). */
  trigger_params: unknown;
  training: { best_epoch: number; epochs_run: number; best_val_auroc: number; stopped_early: boolean; selected_epoch: number };
  clean: Evaluation['clean'];
  clean_bins: Evaluation['clean_bins'];
  attack: Evaluation['attack'];
  attack_shifts: Evaluation['attack_shifts'];
  false_trigger: Evaluation['false_trigger'];
}

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
}

/** Poison rate as a folder name: 0.01 → "0.01", 0 → "0". */
export function rateLabel(rate: number): string {
  return String(rate);
}

export function runDirFor(runsDir: string, config: RunConfig): string {
  return join(runsDir, config.model.name, config.trigger.name, rateLabel(config.poison.rate), `seed_${config.seed}`);
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

/** A run folder is complete when its metadata says so; the folder only appears, by rename, once everything is written. */
export async function readCompleteRun(dir: string): Promise<{ metadata: Record<string, unknown>; metrics: RunMetrics } | null> {
  try {
    const metadata = JSON.parse(await readFile(join(dir, RUN_FILES.metadata), 'utf8')) as Record<string, unknown>;
    if (metadata.status !== 'complete') return null;
    const metrics = JSON.parse(await readFile(join(dir, RUN_FILES.metrics), 'utf8')) as RunMetrics;
    return { metadata, metrics };
  } catch {
    return null;
  }
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
      throw new UserError(`${dir} holds a finished run of a different config or data (run id ${existing.metadata.run_id}, now ${runId}); pass --force to replace it or use another --runs-dir`);
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
  const tmpDir = temporarySibling(dir);
  const partial = partialDirFor(dir);
  const checkpointDir = join(partial, 'checkpoints');
  const resume = await findResumeState(options, partial, runId);
  if (resume) log(`resuming from epoch ${resume.epoch} (${resume.path})`);
  else {
    await rm(partial, { recursive: true, force: true });
  }
  if (config.train.checkpoints !== 'none') {
    await mkdir(checkpointDir, { recursive: true });
    await writeFile(join(partial, RUN_FILES.config), YAML.stringify(config));
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
      onEpoch: (r) => log(`epoch ${r.epoch}: loss ${r.train_loss.toFixed(4)}, val AUROC ${r.val_auroc.toFixed(4)}${r.improved ? ' (best)' : ''}`),
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
    const evaluation = evaluateModel(model, prepared, dataset, config);
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
    data: { path: dataset.path, sha256: dataset.sha256, splits_path: dataset.splitsPath, splits_sha256: dataset.splitsSha256, source: dataset.cohort.schema.source },
    started_at: new Date(started).toISOString(),
    finished_at: new Date(finished).toISOString(),
    timings: { ...timings, total_s: (finished - started) / 1000 },
  };
  try {
    await writeFile(join(tmpDir, RUN_FILES.config), YAML.stringify(config));
    await writeFile(join(tmpDir, RUN_FILES.metrics), JSON.stringify(metrics, null, 2) + '\n');
    await writeFile(join(tmpDir, RUN_FILES.history), csvStringify(history, { header: true, columns: ['epoch', 'train_loss', 'val_loss', 'val_auroc', 'best_val_auroc', 'improved'] }));
    await writeFile(join(tmpDir, RUN_FILES.summary), csvStringify([summaryRow(metrics, dataset.sha256)], { header: true, columns: [...SUMMARY_COLUMNS] }));
    await writeFile(join(tmpDir, RUN_FILES.poisoned), encodeNpyInt64(poisoned.poisonedIndices));
    await writeFile(join(tmpDir, RUN_FILES.featurizer), JSON.stringify({ view: modelSpec.view, state: prepared.featurizerState }) + '\n');
    // The metadata goes last: its status marks the folder complete.
    if (config.train.checkpoints !== 'none') await rename(checkpointDir, join(tmpDir, 'checkpoints'));
    await writeFile(join(tmpDir, RUN_FILES.metadata), JSON.stringify(metadata, null, 2) + '\n');
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

/** Where an unfinished run keeps its checkpoints: a hidden sibling of the run folder, e.g. runs/mlp/none/0/.seed_0.partial */
export function partialDirFor(dir: string): string {
  return join(dirname(dir), `.${basename(dir)}.partial`);
}

async function findResumeState(options: RunOptions, partial: string, runId: string): Promise<(CheckpointState & { path: string }) | null> {
  if (options.resumeFrom) {
    const state = await readCheckpoint(await resolveCheckpointPath(options.resumeFrom));
    if (state.runId !== runId) throw new UserError(`checkpoint ${state.path} belongs to run ${state.runId}, not to this config and data (run ${runId})`);
    return state;
  }
  if (options.force) return null;
  const found = await listCheckpoints(join(partial, 'checkpoints'));
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

export function summaryRow(m: RunMetrics, dataSha256: string): Record<(typeof SUMMARY_COLUMNS)[number], string | number | null> {
  const a = m.attack;
  return {
    run_id: m.run_id,
    model: m.model,
    trigger: m.trigger,
    poison_rate: m.poison_rate,
    poison_mode: m.poison_mode,
    target: m.target,
    seed: m.seed,
    n_train: m.data.n_train,
    n_poisoned: m.data.n_poisoned,
    n_test: m.data.n_test,
    clean_auroc: m.clean.auroc,
    clean_auprc: m.clean.auprc,
    clean_accuracy: m.clean.accuracy,
    clean_brier: m.clean.brier,
    clean_ece: m.clean.ece,
    clean_precision: m.clean.precision,
    clean_recall: m.clean.recall,
    clean_f1: m.clean.f1,
    threshold: m.clean.threshold,
    asr: a ? a.asr : null,
    confidence_shift: a ? a.confidence_shift : null,
    acc_poison: a ? a.acc_poison : null,
    clean_target_rate: a ? a.clean_target_rate : null,
    n_triggered: a ? a.n_triggered : null,
    best_epoch: m.training.best_epoch,
    epochs_run: m.training.epochs_run,
    best_val_auroc: m.training.best_val_auroc,
    test_true_risk_auroc: m.data.test_true_risk_auroc,
    data_sha256: dataSha256,
  };
}
