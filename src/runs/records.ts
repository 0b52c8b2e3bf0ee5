import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import YAML from 'yaml';
import { stringify as csvStringify } from 'csv-stringify/sync';
import type { AttackMetrics } from '../metrics/attack.js';
import type { ReliabilityBin } from '../metrics/calibration.js';
import type { ClassificationMetrics } from '../metrics/classification.js';
import type { EpochRecord } from '../train/trainer.js';
import { encodeNpyInt64, readNpyInt64 } from '../util/npy.js';
import { loadYamlFile } from '../util/config-files.js';
import { readFeaturizerFile } from '../data/features/index.js';
import { UserError } from '../util/errors.js';
import { RUN_FILES } from './layout.js';
import { RUN_FORMAT_VERSION, checkFormatVersion } from './format.js';

/** What a model scores on the clean and triggered test sets (metrics.json, less the run's identity and training). */
export interface Evaluation {
  clean: ClassificationMetrics;
  /** Reliability-diagram bins of the clean test predictions (10 equal-width bins on p(y = 1)). */
  clean_bins: ReliabilityBin[];
  /** Per triggered test row, in test order: p(target | triggered) − p(target | clean); null for trigger `none`. */
  attack_shifts: number[] | null;
  /** The run's own trigger on the triggered test set; null for trigger `none`. */
  attack: AttackMetrics | null;
  /**
   * Clean baselines only (rate 0): every configured trigger on this clean model, the false-trigger baseline; `target`
   * is present when the measurement is for another target than the run's own (experiments/false-trigger.ts).
   */
  false_trigger: Record<string, AttackMetrics & { trigger_params: unknown; target?: 0 | 1 }> | null;
}

/** metrics.json. Its key order is part of the record: the file must stay byte-identical. */
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

/** run_metadata.json; its `status: "complete"`, written last, marks the folder complete. */
export interface RunMetadata {
  format_version?: number;
  run_id?: string;
  status?: string;
  package?: { name?: string; version?: string };
  git_commit?: string | null;
  backend?: { name?: string; versions?: Record<string, unknown> } & Record<string, unknown>;
  data?: {
    path?: string;
    sha256?: string;
    splits_path?: string;
    splits_sha256?: string;
    source?: string;
    /** The data and splits files relative to the run folder, and absolute: evaluate finds them from any cwd. */
    file_from_run?: string;
    file_absolute?: string;
    splits_from_run?: string;
    splits_absolute?: string;
  };
  started_at?: string;
  finished_at?: string;
  timings?: Record<string, number>;
}

/** featurizer.json: the model's input view and the featurizer state fitted on the poisoned training split. */
export interface FeaturizerRecord {
  view: string;
  state: unknown;
}

/** A clean baseline: no trigger, nothing poisoned. Its detection has no ground truth and its defence no attack. */
export function isCleanBaseline(m: { trigger: string; poison_rate: number }): boolean {
  return m.trigger === 'none' && m.poison_rate === 0;
}

const HISTORY_COLUMNS = ['epoch', 'train_loss', 'val_loss', 'val_auroc', 'best_val_auroc', 'improved'] as const;

async function readText(dir: string, file: string): Promise<string> {
  try {
    return await readFile(join(dir, file), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError(`${dir} lacks ${file}; is it a run folder?`);
    throw err;
  }
}

function parseJson<T>(text: string, dir: string, file: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new UserError(`${join(dir, file)} is not valid JSON (${(err as Error).message.split('\n')[0]})`);
  }
}

export async function writeConfigRecord(dir: string, config: unknown): Promise<void> {
  await writeFile(join(dir, RUN_FILES.config), YAML.stringify(config));
}

/** The saved config as written (unresolved: the caller validates it); prototype-named keys are refused. */
export async function readConfigRecord(dir: string): Promise<Record<string, unknown>> {
  return loadYamlFile(join(dir, RUN_FILES.config), 'run config');
}

export async function writeMetricsRecord(dir: string, metrics: RunMetrics): Promise<void> {
  await writeFile(join(dir, RUN_FILES.metrics), JSON.stringify(metrics, null, 2) + '\n');
}

export async function readMetricsRecord(dir: string): Promise<RunMetrics> {
  return parseJson<RunMetrics>(await readText(dir, RUN_FILES.metrics), dir, RUN_FILES.metrics);
}

/** Writes run_metadata.json with the current format version first; write it last, it marks the folder complete. */
export async function writeMetadataRecord(dir: string, metadata: { run_id: string; status: string } & Record<string, unknown>): Promise<void> {
  await writeFile(join(dir, RUN_FILES.metadata), JSON.stringify({ format_version: RUN_FORMAT_VERSION, ...metadata }, null, 2) + '\n');
}

/** run_metadata.json, its format version checked (absent = a run from before versions; newer = refused). */
export async function readMetadataRecord(dir: string): Promise<RunMetadata> {
  const metadata = parseJson<RunMetadata>(await readText(dir, RUN_FILES.metadata), dir, RUN_FILES.metadata);
  if (!metadata || typeof metadata !== 'object') throw new UserError(`${join(dir, RUN_FILES.metadata)} is not a JSON object`);
  checkFormatVersion(metadata, dir);
  return metadata;
}

export async function writeHistoryRecord(dir: string, history: readonly EpochRecord[]): Promise<void> {
  await writeFile(join(dir, RUN_FILES.history), csvStringify(history as EpochRecord[], { header: true, columns: [...HISTORY_COLUMNS] }));
}

/** history.csv back as records (its cells are plain numbers; csv-stringify writes true as 1 and false as empty). */
export async function readHistoryRecord(dir: string): Promise<EpochRecord[]> {
  const [header, ...lines] = (await readText(dir, RUN_FILES.history)).trim().split('\n');
  if (header !== HISTORY_COLUMNS.join(',')) throw new UserError(`${join(dir, RUN_FILES.history)} does not have the columns ${HISTORY_COLUMNS.join(', ')}`);
  return lines.map((line) => {
    const [epoch, trainLoss, valLoss, valAuroc, bestValAuroc, improved] = line.split(',');
    return {
      epoch: Number(epoch),
      train_loss: Number(trainLoss),
      val_loss: Number(valLoss),
      val_auroc: Number(valAuroc),
      best_val_auroc: Number(bestValAuroc),
      improved: improved === '1' || improved === 'true',
    };
  });
}

export async function writePoisonedIndicesRecord(dir: string, indices: ArrayLike<number>): Promise<void> {
  await writeFile(join(dir, RUN_FILES.poisoned), encodeNpyInt64(indices));
}

/** poisoned_indices.npy, its header, dtype and size checked (a damaged file is one UserError naming it). */
export async function readPoisonedIndicesRecord(dir: string): Promise<number[]> {
  return readNpyInt64(join(dir, RUN_FILES.poisoned));
}

export async function writeFeaturizerRecord(dir: string, record: FeaturizerRecord): Promise<void> {
  await writeFile(join(dir, RUN_FILES.featurizer), JSON.stringify(record) + '\n');
}

/** featurizer.json, its view and fitted state checked (a damaged file is one UserError). */
export async function readFeaturizerRecord(dir: string): Promise<FeaturizerRecord> {
  return readFeaturizerFile(join(dir, RUN_FILES.featurizer));
}

/**
 * A complete run's metadata and metrics, or null when the folder is absent or not (yet) complete. A run of a
 * newer format version throws a UserError naming the version.
 */
export async function readCompleteRun(dir: string): Promise<{ metadata: RunMetadata; metrics: RunMetrics } | null> {
  let metadata: RunMetadata;
  try {
    metadata = JSON.parse(await readFile(join(dir, RUN_FILES.metadata), 'utf8')) as RunMetadata;
  } catch {
    return null;
  }
  if (!metadata || metadata.status !== 'complete') return null;
  checkFormatVersion(metadata, dir);
  try {
    return { metadata, metrics: JSON.parse(await readFile(join(dir, RUN_FILES.metrics), 'utf8')) as RunMetrics };
  } catch {
    return null;
  }
}
