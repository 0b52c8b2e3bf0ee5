import { targetClassDetectionMetrics, type DetectionNotApplicable, type TargetClassDetection } from '../metrics/detection.js';
import type { Matrix } from '../detectors/linalg.js';
import { detectorNames, getDetector, mergeDetectorParams, withReferenceDetectors } from '../detectors/registry.js';
import { penultimateRepresentations } from '../detectors/representations.js';
import { saliencyAttribution, type SaliencyParams } from '../detectors/saliency.js';
import type { DetectionInput, DetectorOutput, RawDetectorParams } from '../detectors/types.js';
import {
  detectorParamsHash,
  methodFiles,
  recordMethodComplete,
  recordMethodSkipped,
  removeDefenceRecord,
  writeAttributionRecord,
  writeDefenceRecord,
  writeDetectionReport,
  writeScoresRecord,
  type DefenceReport,
} from '../runs/detection-records.js';
import { DETECTION_FILES, removeOrphans } from '../runs/layout.js';
import { acquireRunLock } from '../runs/lock.js';
import { writeExperimentSummary } from '../runs/summary.js';
import { UserError } from '../util/errors.js';
import { loadRun, type RunContext } from './load-run.js';
import { defend } from './defence.js';
import { methodReport } from './method-reports.js';

export interface DetectionOptions {
  /**
   * Detector names; default (undefined) every registered detector. The reference detectors (label, random) are
   * always added. Methods named here are explicit: one that does not apply to the run's model is refused in one
   * line. With the default, such a method is skipped, with its reason logged and recorded.
   */
  methods?: string[];
  /** The methods were not named one by one (a default or `all` choice) even though `methods` lists them. */
  implicit?: boolean;
  /** Retrain without each detector's flagged rows and compare attack and clean metrics. */
  defend?: boolean;
  /** Per-method parameter overrides on top of each detector's schema defaults. */
  params?: Record<string, RawDetectorParams>;
  backend?: string;
  log?: (line: string) => void;
}

export interface MethodResult {
  method: string;
  /** Why the method was skipped (it does not apply to the run's model); absent when it ran. */
  skipped?: string;
  metrics: TargetClassDetection | DetectionNotApplicable;
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

/** What the detectors see of a loaded run: the poisoned training split, its labels as given, and the model. */
export function inputFromRun(run: RunContext): DetectionInput {
  let cached: Matrix | null = null;
  return {
    labels: run.prepared.poisoned.cohort.labels,
    seed: run.config.seed,
    configuredRate: run.config.poison.rate,
    features: run.prepared.trainFeatures,
    model: run.model,
    modelName: run.config.model.name,
    representation: () => (cached ??= penultimateRepresentations(run.model, run.prepared.trainFeatures)),
    // issue 13: the clean validation split and a fresh model, for fine-pruning, STRIP, trigger inversion and ABL.
    validation: { features: run.prepared.valFeatures, labels: run.dataset.val.labels },
    training: {
      build: () => run.prepared.modelSpec.build(run.prepared.trainFeatures.rowShape, run.prepared.modelConfig, run.config.seed, run.prepared.trainFeatures),
      batchSize: run.config.train.batch_size,
      learningRate: run.config.train.learning_rate,
    },
  };
}

function checkOutput(method: string, out: DetectorOutput, n: number): void {
  if (out.scores.length !== n || out.flagged.length !== n) throw new Error(`detector ${method} returned ${out.scores.length} scores / ${out.flagged.length} flags for ${n} rows`);
  for (let i = 0; i < n; i++) if (!Number.isFinite(out.scores[i])) throw new Error(`detector ${method} returned a non-finite score for row ${i}`);
}

function count(mask: Uint8Array): number {
  let k = 0;
  for (const v of mask) k += v;
  return k;
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
 * Runs each detector, and the reference detectors label and random beside them, on a finished run's poisoned
 * training split, scores it against the true poisoned rows within the target class and over all rows
 * (`targetClassDetectionMetrics`, the one place that sees the ground truth), and writes the detection records (runs/
 * detection-records.ts): per method its report and scores, the saliency attribution, and with `defend` the
 * defence beside its random-removal control. Without `defend`, a defence record left from an earlier run of the
 * method is removed, so no defence of other parameters stays beside the new flags. Each file is written atomically and a method is recorded in the detection manifest only once all its
 * files are in place, so a killed attempt leaves the method to be redone, never a partial result taken as whole.
 * On a clean run the metrics say "not applicable" and the files are still written. Takes the run's lock.
 */
export async function runDetection(dir: string, options: DetectionOptions = {}): Promise<DetectionRunResult> {
  const lock = await acquireRunLock(dir, options.log);
  try {
    await removeOrphans(dir);
    return await runDetectionLocked(dir, options);
  } finally {
    await lock.release();
  }
}

/** `runDetection` for a caller that already holds the run's lock. */
export async function runDetectionLocked(dir: string, options: DetectionOptions = {}): Promise<DetectionRunResult> {
  const chosen = options.methods ?? detectorNames();
  checkMethods(chosen);
  const methods = withReferenceDetectors(chosen);
  const log = options.log ?? (() => {});
  for (const key of Object.keys(options.params ?? {})) {
    if (!methods.includes(key)) throw new UserError(`parameters given for detector "${key}", which is not among the methods run (${methods.join(', ')})`);
  }
  // Resolve every method's parameters before the (slow) run loading, so a typo fails at once.
  const resolved = methods.map((m) => ({ method: m, detector: getDetector(m), params: getDetector(m).resolve(mergeDetectorParams(m, options.params?.[m])) }));
  const run = await loadRun(dir, { backend: options.backend });
  const input = inputFromRun(run);
  const results: MethodResult[] = [];
  try {
    const implicit = options.methods === undefined || Boolean(options.implicit);
    const skips = new Map(resolved.flatMap(({ method, detector }) => {
      const reason = detector.notApplicable?.(input) ?? null;
      return reason === null ? [] : [[method, reason] as const];
    }));
    // Refused before anything runs, so a named method that cannot run leaves no half-done detection behind.
    if (!implicit && skips.size > 0) {
      const [method, reason] = [...skips][0]!;
      throw new UserError(`${method}: ${reason}`);
    }
    for (const { method, detector, params } of resolved) {
      const skipped = skips.get(method);
      if (skipped !== undefined) {
        results.push(await recordSkip(dir, run, input, method, detector.description, params, skipped, log));
        continue;
      }
      const started = performance.now();
      const out = detector.score(input, params);
      checkOutput(method, out, input.labels.length);
      // issue 13: test-time detection, recovered trigger and model repairs of the methods that have them.
      const extra = await methodReport(method, run, input, params, out, log);
      const metrics = targetClassDetectionMetrics({
        isPoisoned: run.poisonedMask,
        scores: out.scores,
        flagged: out.flagged,
        observedLabels: input.labels,
        target: run.config.poison.target,
      });
      const flagged = count(out.flagged);
      const paramsHash = detectorParamsHash(params);
      await writeDetectionReport(dir, {
        method,
        description: detector.description,
        params,
        params_hash: paramsHash,
        run: {
          run_id: run.metrics.run_id,
          model: run.metrics.model,
          trigger: run.metrics.trigger,
          poison_rate: run.metrics.poison_rate,
          poison_mode: run.metrics.poison_mode,
          seed: run.metrics.seed,
          target: run.config.poison.target,
        },
        n_train: input.labels.length,
        n_poisoned: count(run.poisonedMask),
        flagged,
        metrics,
        details: extra ? { ...out.details, ...extra } : out.details,
        seconds: (performance.now() - started) / 1000,
      });
      await writeScoresRecord(dir, method, { stayIds: run.prepared.poisoned.cohort.stayIds, scores: out.scores, flagged: out.flagged, poisoned: run.poisonedMask });
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
        await writeAttributionRecord(dir, attribution);
      }
      const seconds = (performance.now() - started) / 1000;
      log(
        metrics.applicable
          ? `${method}: target-class AUROC ${metrics.target_class.auroc.toFixed(3)} (all rows ${metrics.all_rows.auroc.toFixed(3)}), TPR@5%FPR ${metrics.target_class.tpr_at_fpr_5pct.toFixed(3)}, ` +
              `flagged ${flagged} (${metrics.rule.false_alarms} false alarms, precision ${metrics.rule.precision.toFixed(3)}, recall ${metrics.rule.recall.toFixed(3)}) in ${seconds.toFixed(1)} s`
          : `${method}: flagged ${flagged}; detection metrics not applicable (${metrics.reason})`,
      );
      let defence: DefenceReport | null = null;
      if (options.defend) {
        const defenceStarted = performance.now();
        defence = await defend(run, method, paramsHash, out.flagged, log);
        await writeDefenceRecord(dir, { ...defence, seconds: (performance.now() - defenceStarted) / 1000 });
      } else if (await removeDefenceRecord(dir, method)) {
        log(`${method}: removed the defence record of an earlier run of this detector (rerun with --defend to recompute it)`);
      }
      // experiment_summary.csv before the manifest: once the method is recorded complete, its columns are in.
      await writeExperimentSummary(dir, run.metrics, run.dataset.sha256, { methods: detectorNames(), atomic: true });
      await recordMethodComplete(dir, method, Boolean(options.defend), paramsHash);
      results.push({ method, metrics, flagged, seconds, files: methodFiles(method, Boolean(options.defend)), defence });
    }
  } finally {
    run.model.dispose();
  }
  return { dir, run_id: run.metrics.run_id, trigger: run.metrics.trigger, poison_rate: run.metrics.poison_rate, results };
}

/** A method that does not apply to the run's model, in a default or `all` choice: one line, and a skip record. */
async function recordSkip(dir: string, run: RunContext, input: DetectionInput, method: string, description: string, params: unknown, reason: string, log: (line: string) => void): Promise<MethodResult> {
  log(`${method}: skipped: ${reason}`);
  const paramsHash = detectorParamsHash(params);
  const metrics: DetectionNotApplicable = { applicable: false, reason: `skipped: ${reason}` };
  await writeDetectionReport(dir, {
    method,
    description,
    params,
    params_hash: paramsHash,
    run: { run_id: run.metrics.run_id, model: run.metrics.model, trigger: run.metrics.trigger, poison_rate: run.metrics.poison_rate, poison_mode: run.metrics.poison_mode, seed: run.metrics.seed, target: run.config.poison.target },
    n_train: input.labels.length,
    n_poisoned: count(run.poisonedMask),
    flagged: 0,
    metrics,
    details: {},
    seconds: 0,
    skipped: reason,
  });
  await removeDefenceRecord(dir, method);
  await writeExperimentSummary(dir, run.metrics, run.dataset.sha256, { methods: detectorNames(), atomic: true });
  await recordMethodSkipped(dir, method, paramsHash, reason);
  return { method, skipped: reason, metrics, flagged: 0, seconds: 0, files: [DETECTION_FILES.report(method)], defence: null };
}
