import * as tf from '@tensorflow/tfjs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { rowSize } from '../data/features/types.js';
import { loadRun, type RunContext } from '../experiments/load-run.js';
import { evaluateModel, prepareRun } from '../experiments/prepare.js';
import { detectionMetrics, type DetectionResult } from '../metrics/detection.js';
import { trainModel } from '../train/trainer.js';
import { stringify as csvStringify } from 'csv-stringify/sync';
import { summaryRow, RUN_FILES, type RunMetrics } from '../experiments/run.js';
import { writeFileAtomic } from '../util/fs.js';
import { UserError } from '../util/errors.js';
import { matrix, type Matrix } from './linalg.js';
import { detectorNames, getDetector, mergeDetectorParams } from './registry.js';
import { saliencyAttribution, type SaliencyParams } from './saliency.js';
import type { DetectionInput, DetectorOutput, RawDetectorParams } from './types.js';

/** Folder inside a run folder that receives detection results. */
export const DETECTION_DIR = 'detection';

export const DETECTION_FILES = {
  report: (method: string) => `${method}.json`,
  scores: (method: string) => `${method}_scores.parquet`,
  defence: (method: string) => `defence_${method}.json`,
  attribution: 'saliency_attribution.json',
} as const;

export interface DetectionOptions {
  /** Detector names; default every registered detector. */
  methods?: string[];
  /** Retrain without each detector's flagged rows and compare attack and clean metrics. */
  defend?: boolean;
  /** Per-method parameter overrides on top of configs/detector/<method>.yaml. */
  params?: Record<string, RawDetectorParams>;
  backend?: string;
  log?: (line: string) => void;
}

export interface DefenceSide {
  clean_auroc: number;
  clean_accuracy: number;
  /** null for trigger none. */
  asr: number | null;
  threshold: number;
}

export interface DefenceReport {
  method: string;
  n_train: number;
  flagged: number;
  flagged_poisoned: number;
  poisoned_before: number;
  poisoned_after: number;
  /** false when nothing was flagged: the retrained model would be the run's own, so its metrics are reused. */
  retrained: boolean;
  before: DefenceSide;
  after: DefenceSide;
  effect: {
    /** ASR before − after (positive = the defence helped). */
    asr_drop: number | null;
    /** Clean accuracy after − before (negative = the defence cost accuracy). */
    clean_accuracy_change: number;
    clean_auroc_change: number;
    der: number | null;
  };
  training: { best_epoch: number; epochs_run: number; best_val_auroc: number } | null;
}

export interface MethodResult {
  method: string;
  metrics: DetectionResult;
  flagged: number;
  seconds: number;
  files: string[];
  defence: DefenceReport | null;
}

export interface DetectionRunResult {
  dir: string;
  run_id: string;
  trigger: string;
  poison_rate: number;
  results: MethodResult[];
}

/**
 * Defence Effectiveness Rate as BackdoorBench defines it (Wu et al. 2022, NeurIPS Datasets & Benchmarks):
 * DER = [max(0, ΔASR) − max(0, ΔACC) + 1] / 2, ΔASR = ASR_before − ASR_after, ΔACC = ACC_before − ACC_after, in
 * [0, 1]; 0.5 = no effect. BackdoorBench's own utils/metric.py (defense_effectiveness_rate) adds max(0, ΔACC)
 * instead of subtracting it, rewarding a defence for destroying clean accuracy; this is the paper's formula.
 */
export function defenceEffectivenessRate(asrBefore: number, asrAfter: number, accBefore: number, accAfter: number): number {
  return (Math.max(0, asrBefore - asrAfter) - Math.max(0, accBefore - accAfter) + 1) / 2;
}

/** Penultimate representations of the training rows, in batches. */
function representations(run: RunContext, batchSize = 1024): Matrix {
  const features = run.prepared.trainFeatures;
  const size = rowSize(features);
  let out: Matrix | null = null;
  for (let start = 0; start < features.n; start += batchSize) {
    const end = Math.min(features.n, start + batchSize);
    const h = tf.tidy(() => run.model.penultimate(tf.tensor(features.x.subarray(start * size, end * size), [end - start, ...features.rowShape], 'float32')));
    const units = h.shape[1];
    out ??= matrix(features.n, units);
    out.data.set(h.dataSync(), start * units);
    h.dispose();
  }
  return out ?? matrix(0, 0);
}

/** What the detectors see of a loaded run: the poisoned training split, its labels as given, and the model. */
export function inputFromRun(run: RunContext): DetectionInput {
  let cached: Matrix | null = null;
  return {
    labels: run.prepared.poisoned.cohort.labels,
    seed: run.config.seed,
    configuredRate: run.config.poison.rate,
    features: run.prepared.trainFeatures,
    model: run.model,
    representation: () => (cached ??= representations(run)),
  };
}

function checkOutput(method: string, out: DetectorOutput, n: number): void {
  if (out.scores.length !== n || out.flagged.length !== n) throw new Error(`detector ${method} returned ${out.scores.length} scores / ${out.flagged.length} flags for ${n} rows`);
  for (let i = 0; i < n; i++) if (!Number.isFinite(out.scores[i])) throw new Error(`detector ${method} returned a non-finite score for row ${i}`);
}

function scoresParquet(run: RunContext, out: DetectorOutput): Uint8Array {
  const n = out.scores.length;
  const stayIds = run.prepared.poisoned.cohort.stayIds;
  const buffer = parquetWriteBuffer({
    columnData: [
      { name: 'row', data: Int32Array.from({ length: n }, (_, i) => i), type: 'INT32', nullable: false },
      { name: 'stay_id', data: Int32Array.from(stayIds), type: 'INT32', nullable: false },
      { name: 'score', data: Float64Array.from(out.scores), type: 'DOUBLE', nullable: false },
      { name: 'flagged', data: Array.from(out.flagged, (f) => f === 1), type: 'BOOLEAN', nullable: false },
      { name: 'poisoned', data: Array.from(run.poisonedMask, (p) => p === 1), type: 'BOOLEAN', nullable: false },
    ],
  });
  return new Uint8Array(buffer);
}

function count(mask: Uint8Array): number {
  let k = 0;
  for (const v of mask) k += v;
  return k;
}

function sideOf(m: { clean: { auroc: number; accuracy: number; threshold: number }; attack: { asr: number } | null }): DefenceSide {
  return { clean_auroc: m.clean.auroc, clean_accuracy: m.clean.accuracy, asr: m.attack ? m.attack.asr : null, threshold: m.clean.threshold };
}

/** Retrains the run's config, same seed, on the training split minus the flagged rows, and compares. */
export async function defend(run: RunContext, method: string, flagged: Uint8Array, log: (line: string) => void = () => {}): Promise<DefenceReport> {
  const before = sideOf(run.metrics);
  const nFlagged = count(flagged);
  let flaggedPoisoned = 0;
  for (let i = 0; i < flagged.length; i++) if (flagged[i] === 1 && run.poisonedMask[i] === 1) flaggedPoisoned++;
  const poisonedBefore = count(run.poisonedMask);
  let after = before;
  let training: DefenceReport['training'] = null;
  if (nFlagged > 0) {
    const prepared = prepareRun(run.config, run.dataset, undefined, { dropTrainRows: flagged });
    const model = prepared.modelSpec.build(prepared.trainFeatures.rowShape, prepared.modelConfig, run.config.seed, prepared.trainFeatures);
    try {
      const trained = await trainModel({
        model,
        train: prepared.trainFeatures,
        trainLabels: prepared.poisoned.cohort.labels,
        val: prepared.valFeatures,
        valLabels: run.dataset.val.labels,
        config: run.config.train,
        seed: run.config.seed,
      });
      training = { best_epoch: trained.bestEpoch, epochs_run: trained.epochsRun, best_val_auroc: trained.bestValAuroc };
      after = sideOf(evaluateModel(model, prepared, run.dataset, run.config));
    } finally {
      model.dispose();
    }
    log(`${method} defence: retrained on ${prepared.trainFeatures.n} rows; ASR ${fmt(before.asr)} → ${fmt(after.asr)}, clean AUROC ${fmt(before.clean_auroc)} → ${fmt(after.clean_auroc)}`);
  }
  const hasAttack = before.asr !== null && after.asr !== null;
  return {
    method,
    n_train: flagged.length,
    flagged: nFlagged,
    flagged_poisoned: flaggedPoisoned,
    poisoned_before: poisonedBefore,
    poisoned_after: poisonedBefore - flaggedPoisoned,
    retrained: nFlagged > 0,
    before,
    after,
    effect: {
      asr_drop: hasAttack ? before.asr! - after.asr! : null,
      clean_accuracy_change: after.clean_accuracy - before.clean_accuracy,
      clean_auroc_change: after.clean_auroc - before.clean_auroc,
      der: hasAttack ? defenceEffectivenessRate(before.asr!, after.asr!, before.clean_accuracy, after.clean_accuracy) : null,
    },
    training,
  };
}

function fmt(x: number | null): string {
  return x === null ? '—' : x.toFixed(3);
}

function checkMethods(methods: string[]): void {
  if (methods.length === 0) throw new UserError(`no detector given; valid: ${detectorNames().join(', ')}`);
  for (const m of methods) getDetector(m);
  const seen = new Set<string>();
  for (const m of methods) {
    if (seen.has(m)) throw new UserError(`detector "${m}" is listed twice`);
    seen.add(m);
  }
}

/**
 * Runs each detector on a finished run's poisoned training split, scores it against the true poisoned rows
 * (`detectionMetrics`, the one place that sees the ground truth), and writes into `<dir>/detection/`, each file
 * atomically: `<method>.json` (parameters, metrics, diagnostics), `<method>_scores.parquet` (per row: row,
 * stay_id, score, flagged, poisoned), `saliency_attribution.json` for saliency, and with `defend`
 * `defence_<method>.json`. On a clean run the metrics say "not applicable" and the files are still written.
 */
export async function runDetection(dir: string, options: DetectionOptions = {}): Promise<DetectionRunResult> {
  const methods = options.methods ?? detectorNames();
  checkMethods(methods);
  const log = options.log ?? (() => {});
  for (const key of Object.keys(options.params ?? {})) {
    if (!methods.includes(key)) throw new UserError(`parameters given for detector "${key}", which is not among the methods run (${methods.join(', ')})`);
  }
  // Resolve every method's parameters before the (slow) run loading, so a typo fails at once.
  const resolved = methods.map((m) => ({ method: m, detector: getDetector(m), params: getDetector(m).resolve(mergeDetectorParams(m, options.params?.[m])) }));
  const run = await loadRun(dir, { backend: options.backend });
  const input = inputFromRun(run);
  const outDir = join(dir, DETECTION_DIR);
  const results: MethodResult[] = [];
  try {
    for (const { method, detector, params } of resolved) {
      const started = performance.now();
      const out = detector.score(input, params);
      checkOutput(method, out, input.labels.length);
      const metrics = detectionMetrics(run.poisonedMask, out.scores, out.flagged);
      const flagged = count(out.flagged);
      const files = [DETECTION_FILES.report(method), DETECTION_FILES.scores(method)];
      const report = {
        method,
        description: detector.description,
        params,
        run: {
          run_id: run.metrics.run_id,
          model: run.metrics.model,
          trigger: run.metrics.trigger,
          poison_rate: run.metrics.poison_rate,
          poison_mode: run.metrics.poison_mode,
          seed: run.metrics.seed,
        },
        n_train: input.labels.length,
        n_poisoned: count(run.poisonedMask),
        flagged,
        metrics,
        details: out.details,
      };
      await writeFileAtomic(join(outDir, DETECTION_FILES.report(method)), JSON.stringify(report, null, 2) + '\n');
      await writeFileAtomic(join(outDir, DETECTION_FILES.scores(method)), scoresParquet(run, out));
      if (method === 'saliency') {
        const attribution = saliencyAttribution(
          {
            model: run.model,
            trainFeatures: run.prepared.trainFeatures,
            featurize: run.prepared.featurize,
            test: run.dataset.test,
            trigger: run.prepared.trigger,
            triggerParams: run.prepared.triggerParams,
            target: run.config.poison.target,
            schema: run.dataset.cohort.schema,
          },
          params as SaliencyParams,
        );
        await writeFileAtomic(join(outDir, DETECTION_FILES.attribution), JSON.stringify(attribution, null, 2) + '\n');
        files.push(DETECTION_FILES.attribution);
      }
      const seconds = (performance.now() - started) / 1000;
      log(
        metrics.applicable
          ? `${method}: AUROC ${metrics.auroc.toFixed(3)}, TPR@5%FPR ${metrics.tpr_at_fpr_5pct.toFixed(3)}, flagged ${flagged} (precision ${metrics.precision.toFixed(3)}, recall ${metrics.recall.toFixed(3)}) in ${seconds.toFixed(1)} s`
          : `${method}: flagged ${flagged}; detection metrics not applicable (${metrics.reason})`,
      );
      let defence: DefenceReport | null = null;
      if (options.defend) {
        defence = await defend(run, method, out.flagged, log);
        await writeFileAtomic(join(outDir, DETECTION_FILES.defence(method)), JSON.stringify(defence, null, 2) + '\n');
        files.push(DETECTION_FILES.defence(method));
      }
      results.push({ method, metrics, flagged, seconds, files, defence });
    }
  } finally {
    run.model.dispose();
  }
  await rewriteExperimentSummary(dir, run.metrics, run.dataset.sha256);
  return { dir, run_id: run.metrics.run_id, trigger: run.metrics.trigger, poison_rate: run.metrics.poison_rate, results };
}

/** experiment_summary.csv gains the detection columns (every registered detector, empty where not run). */
async function rewriteExperimentSummary(dir: string, metrics: RunMetrics, dataSha256: string): Promise<void> {
  const row = { ...summaryRow(metrics, dataSha256), ...(await detectionSummaryColumns(dir)) };
  await writeFileAtomic(join(dir, RUN_FILES.summary), csvStringify([row], { header: true, columns: Object.keys(row) }));
}

/** Column suffixes of `detectionSummaryColumns`, per method, in order. */
const DET_COLUMNS = ['auroc', 'auprc', 'tpr1', 'tpr5', 'flagged', 'precision', 'recall'] as const;
const DEF_COLUMNS = ['asr_before', 'asr_after', 'clean_auroc_before', 'clean_auroc_after', 'acc_before', 'acc_after', 'der'] as const;

/**
 * Names of the summary columns for the given methods, in a fixed order (for a CSV header that does not depend on
 * which files exist):
 * - `det_<method>_auroc`, `_auprc`: AUROC / average precision of the scores against the true poisoned rows;
 * - `det_<method>_tpr1`, `_tpr5`: TPR at 1% / 5% FPR;
 * - `det_<method>_flagged`, `_precision`, `_recall`: at the detector's own flag rule (flagged is set on clean
 *   runs too, where every flag is a false alarm; the other metrics are empty there: not applicable);
 * - `def_<method>_asr_before`, `_asr_after`, `_clean_auroc_before`, `_clean_auroc_after`, `_acc_before`,
 *   `_acc_after`, `_der`: the `--defend` retraining (ASR and DER empty for trigger none);
 * - `att_tar_clean`, `att_tar_triggered`: the saliency analysis's Trigger Attribution Ratio on clean and
 *   triggered test rows.
 * A value is null (an empty cell) when its file is absent or the metric does not apply.
 */
export function detectionSummaryColumnNames(methods: string[] = detectorNames()): string[] {
  const out: string[] = [];
  for (const m of methods) for (const c of DET_COLUMNS) out.push(`det_${m}_${c}`);
  for (const m of methods) for (const c of DEF_COLUMNS) out.push(`def_${m}_${c}`);
  if (methods.includes('saliency')) out.push('att_tar_clean', 'att_tar_triggered');
  return out;
}

async function readJson(path: string): Promise<any | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new UserError(`${path} is not valid JSON (${(err as Error).message.split('\n')[0]}); rerun backdoor detect`);
  }
}

/** The detection results of a run folder as one flat record (see `detectionSummaryColumnNames`). */
export async function detectionSummaryColumns(dir: string, methods: string[] = detectorNames()): Promise<Record<string, number | null>> {
  const out: Record<string, number | null> = Object.fromEntries(detectionSummaryColumnNames(methods).map((c) => [c, null]));
  const num = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : null);
  for (const m of methods) {
    const report = await readJson(join(dir, DETECTION_DIR, DETECTION_FILES.report(m)));
    if (report) {
      const metrics = report.metrics as DetectionResult;
      out[`det_${m}_flagged`] = num(report.flagged);
      if (metrics.applicable) {
        out[`det_${m}_auroc`] = num(metrics.auroc);
        out[`det_${m}_auprc`] = num(metrics.auprc);
        out[`det_${m}_tpr1`] = num(metrics.tpr_at_fpr_1pct);
        out[`det_${m}_tpr5`] = num(metrics.tpr_at_fpr_5pct);
        out[`det_${m}_precision`] = num(metrics.precision);
        out[`det_${m}_recall`] = num(metrics.recall);
      }
    }
    const defence = (await readJson(join(dir, DETECTION_DIR, DETECTION_FILES.defence(m)))) as DefenceReport | null;
    if (defence) {
      out[`def_${m}_asr_before`] = num(defence.before.asr);
      out[`def_${m}_asr_after`] = num(defence.after.asr);
      out[`def_${m}_clean_auroc_before`] = num(defence.before.clean_auroc);
      out[`def_${m}_clean_auroc_after`] = num(defence.after.clean_auroc);
      out[`def_${m}_acc_before`] = num(defence.before.clean_accuracy);
      out[`def_${m}_acc_after`] = num(defence.after.clean_accuracy);
      out[`def_${m}_der`] = num(defence.effect.der);
    }
  }
  if (methods.includes('saliency')) {
    const att = await readJson(join(dir, DETECTION_DIR, DETECTION_FILES.attribution));
    if (att) {
      out.att_tar_clean = num(att.clean?.tar);
      out.att_tar_triggered = num(att.triggered?.tar);
    }
  }
  return out;
}
