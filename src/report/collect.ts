import { findRuns, type SkippedFolder } from '../runs/collection.js';
import { readDetectionFolder, type DetectionFolder } from '../runs/detection-records.js';
import { detectionFiguresOf, isStaleDefence } from '../runs/summary.js';
import { readConfigRecord, type RunMetadata, type RunMetrics } from '../runs/records.js';
import { readPredictionsRecord, type TestPredictions } from '../runs/predictions.js';
import { parseRepair, parseTestDetection, type RepairRecord, type TestDetectionRecord } from './collect-details.js';
import { POISON_MODES } from '../triggers/poison.js';

export { compareRuns } from '../runs/collection.js';
export { summaryCsv } from '../runs/summary.js';
export type { RunMetadata, SkippedFolder };

/** Ranking figures of a detector's scores over one set of rows (metrics/detection.ts rankingMetrics). */
export interface RankingFigures {
  n: number | null;
  n_poisoned: number | null;
  auroc: number | null;
  auprc: number | null;
  tpr_at_fpr_1pct: number | null;
  tpr_at_fpr_5pct: number | null;
}

/** Detection results of one method on one run (detection/<method>.json). */
export interface DetectionRecord {
  method: string;
  applicable: boolean;
  /** Headline: poisoned vs clean rows among those carrying the target label; null for records from before issue 10. */
  target_class: RankingFigures | null;
  /** Secondary: all training rows ranked together. */
  all_rows: RankingFigures | null;
  /** The detector's own flag rule. */
  rule: { flagged: number | null; false_alarms: number | null; precision: number | null; recall: number | null } | null;
  params_hash: string | null;
  /** The headline figures again (target class), null where absent. */
  auroc: number | null;
  auprc: number | null;
  tpr_at_fpr_5pct: number | null;
  tpr_at_fpr_1pct: number | null;
  reason?: string;
  /** Why the method was skipped on this run (it does not apply to the run's model); null when it ran. */
  skipped: string | null;
  // issue 13: runtime and the extra results of the repair defences and STRIP (collect-details.ts).
  /** Wall-clock seconds of scoring and the method's extra report; null for records without it. */
  seconds: number | null;
  repair: RepairRecord | null;
  test_detection: TestDetectionRecord | null;
}

/** Per-feature attribution of one run (detection/saliency_attribution.json), normalized to one shape. */
export interface AttributionRecord {
  /** Mean |IG| per feature on the clean non-target test rows and on the same rows with the trigger. */
  features: { feature: string; clean: number | null; triggered: number | null; touched: boolean }[];
  /** Trigger Attribution Ratio (share of |IG| on the trigger's features) on triggered rows; null for clean runs. */
  tar: number | null;
  /** The same share on the clean rows. */
  tar_clean: number | null;
  /** What TAR would be with attribution spread evenly over the features. */
  uniform_share: number | null;
}

/** One arm's state after retraining (the defence's, or its random-removal control's). */
export interface DefenceArm {
  asr_after: number | null;
  clean_auroc_after: number | null;
  clean_balanced_accuracy_after: number | null;
  der: number | null;
}

/** Retraining without a detector's flagged rows (detection/defence_<method>.json). */
export interface DefenceRecord {
  method: string;
  flagged: number | null;
  asr_before: number | null;
  asr_after: number | null;
  asr_drop: number | null;
  clean_auroc_change: number | null;
  clean_accuracy_change: number | null;
  der: number | null;
  clean_auroc_before: number | null;
  clean_auroc_after: number | null;
  clean_balanced_accuracy_before: number | null;
  clean_balanced_accuracy_after: number | null;
  /** Flagged rows of the target class removed; null for records from before issue 10. */
  removed_target_class: number | null;
  n_target_class: number | null;
  /** The random-removal control; null for records from before issue 10. */
  control: (DefenceArm & { removed: number | null; removed_target_class: number | null }) | null;
  beats_control: boolean | null;
  /** Whether rows were removed and the model retrained (false: the detector flagged none, "after" is the run itself). */
  retrained: boolean;
  /** Wall-clock seconds of the retraining and its control; null for records without it. */
  seconds: number | null;
}

export interface RunRecord {
  /** Path of the run folder relative to the runs folder, with forward slashes. */
  path: string;
  metadata: RunMetadata;
  metrics: RunMetrics;
  /** config.yaml as written (the resolved run config); null when the folder lacks it. */
  config: Record<string, unknown> | null;
  /** test_predictions.json; null for runs written before it existed. */
  predictions: TestPredictions | null;
  detection: DetectionRecord[];
  defences: DefenceRecord[];
  attribution: AttributionRecord | null;
  /** The detection folder's records as written, for summary.csv's detection columns. */
  detectionFolder: DetectionFolder;
}

export interface Collection {
  runsDir: string;
  runs: RunRecord[];
  skipped: SkippedFolder[];
}

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function ranking(raw: Record<string, any> | null): RankingFigures | null {
  if (!raw) return null;
  return { n: num(raw.n), n_poisoned: num(raw.n_poisoned), auroc: num(raw.auroc), auprc: num(raw.auprc), tpr_at_fpr_1pct: num(raw.tpr_at_fpr_1pct), tpr_at_fpr_5pct: num(raw.tpr_at_fpr_5pct) };
}

/** A detection record in the current layout or the one before issue 10 (runs/summary.ts detectionFiguresOf). */
export function parseDetection(method: string, raw: unknown): DetectionRecord {
  const obj = (raw && typeof raw === 'object' ? raw : {}) as Record<string, any>;
  const figures = detectionFiguresOf(raw);
  const metrics = (obj.metrics && typeof obj.metrics === 'object' ? obj.metrics : {}) as Record<string, unknown>;
  const targetClass = ranking(figures.target_class);
  const rule = figures.rule;
  return {
    method: typeof obj.method === 'string' ? obj.method : method,
    applicable: figures.applicable,
    target_class: targetClass,
    all_rows: ranking(figures.all_rows),
    rule: rule ? { flagged: num(rule.flagged), false_alarms: num(rule.false_alarms), precision: num(rule.precision), recall: num(rule.recall) } : null,
    params_hash: typeof obj.params_hash === 'string' ? obj.params_hash : null,
    auroc: targetClass?.auroc ?? null,
    auprc: targetClass?.auprc ?? null,
    tpr_at_fpr_5pct: targetClass?.tpr_at_fpr_5pct ?? null,
    tpr_at_fpr_1pct: targetClass?.tpr_at_fpr_1pct ?? null,
    ...(typeof metrics.reason === 'string' ? { reason: metrics.reason } : {}),
    skipped: typeof obj.skipped === 'string' ? obj.skipped : null,
    seconds: num(obj.seconds),
    repair: parseRepair(obj.details),
    test_detection: parseTestDetection(obj.details),
  };
}

/**
 * saliency_attribution.json as `saliencyAttribution` (src/detectors/saliency.ts) writes it: `features` (names),
 * `clean` and `triggered` sides each with `mean_abs_ig` (per feature, same order) and `tar`, `touched_features`,
 * `uniform_share`. Returns null when the file holds no per-feature values.
 */
export function parseAttribution(raw: unknown): AttributionRecord | null {
  if (!raw || typeof raw !== 'object') return null;
  const obj = raw as Record<string, any>;
  const names: unknown[] = Array.isArray(obj.features) ? obj.features : [];
  const cleanIg: unknown[] = Array.isArray(obj.clean?.mean_abs_ig) ? obj.clean.mean_abs_ig : [];
  const trigIg: unknown[] = Array.isArray(obj.triggered?.mean_abs_ig) ? obj.triggered.mean_abs_ig : [];
  const touched = new Set(Array.isArray(obj.touched_features) ? obj.touched_features : []);
  const features = names.flatMap((name, i) => (typeof name === 'string' ? [{ feature: name, clean: num(cleanIg[i]), triggered: num(trigIg[i]), touched: touched.has(name) }] : []));
  if (features.length === 0) return null;
  return { features, tar: num(obj.triggered?.tar), tar_clean: num(obj.clean?.tar), uniform_share: num(obj.uniform_share) };
}

export function parseDefence(method: string, raw: unknown): DefenceRecord {
  const obj = (raw && typeof raw === 'object' ? raw : {}) as Record<string, any>;
  const c = obj.control && typeof obj.control === 'object' ? (obj.control as Record<string, any>) : null;
  return {
    method: typeof obj.method === 'string' ? obj.method : method,
    flagged: num(obj.flagged),
    asr_before: num(obj.before?.asr),
    asr_after: num(obj.after?.asr),
    asr_drop: num(obj.effect?.asr_drop),
    clean_auroc_change: num(obj.effect?.clean_auroc_change),
    clean_accuracy_change: num(obj.effect?.clean_accuracy_change),
    der: num(obj.effect?.der),
    clean_auroc_before: num(obj.before?.clean_auroc),
    clean_auroc_after: num(obj.after?.clean_auroc),
    clean_balanced_accuracy_before: num(obj.before?.clean_balanced_accuracy),
    clean_balanced_accuracy_after: num(obj.after?.clean_balanced_accuracy),
    removed_target_class: num(obj.removed_target_class),
    n_target_class: num(obj.n_target_class),
    control: c
      ? {
          removed: num(c.removed),
          removed_target_class: num(c.removed_target_class),
          asr_after: num(c.after?.asr),
          clean_auroc_after: num(c.after?.clean_auroc),
          clean_balanced_accuracy_after: num(c.after?.clean_balanced_accuracy),
          der: num(c.effect?.der),
        }
      : null,
    beats_control: typeof obj.beats_control === 'boolean' ? obj.beats_control : null,
    // Records from before `retrained` was written retrained exactly when rows were flagged.
    retrained: typeof obj.retrained === 'boolean' ? obj.retrained : num(obj.flagged) !== 0,
    seconds: num(obj.seconds),
  };
}

async function readDetection(dir: string): Promise<Pick<RunRecord, 'detection' | 'defences' | 'attribution' | 'detectionFolder'>> {
  const folder = await readDetectionFolder(dir);
  return {
    detection: folder.reports.map((r) => parseDetection(r.method, r.raw)),
    // A defence of other detector parameters than the detection record beside it is stale: left out.
    defences: folder.defences.filter((d) => !isStaleDefence(folder.reports.find((r) => r.method === d.method)?.raw, d.raw)).map((d) => parseDefence(d.method, d.raw)),
    attribution: folder.attribution === null ? null : parseAttribution(folder.attribution),
    detectionFolder: folder,
  };
}

/** Why a run's attack direction or mode cannot key a report cell (they come from metrics.json alone); null when fine. */
function cellFieldsProblem(metrics: RunMetrics): string | null {
  if (metrics.target !== 0 && metrics.target !== 1) return `metrics.json target is ${JSON.stringify(metrics.target ?? null)}, not 0 or 1`;
  if (!(POISON_MODES as readonly unknown[]).includes(metrics.poison_mode)) return `metrics.json poison_mode is ${JSON.stringify(metrics.poison_mode ?? null)}, not one of ${POISON_MODES.join(', ')}`;
  return null;
}

/** Every complete run folder under `runsDir` with its detection records (see `findRuns` for which folders count). */
export async function collectRuns(runsDir: string): Promise<Collection> {
  const found = await findRuns(runsDir);
  const runs: RunRecord[] = [];
  for (const { path, metadata, metrics, dir } of found.runs) {
    const problem = cellFieldsProblem(metrics);
    if (problem !== null) {
      found.skipped.push({ path, reason: problem });
      continue;
    }
    const config = await readConfigRecord(dir).catch(() => null);
    runs.push({ path, metadata, metrics, config, predictions: await readPredictionsRecord(dir), ...(await readDetection(dir)) });
  }
  return { runsDir, runs, skipped: found.skipped };
}

/** Detection methods present in any run, sorted. */
export function detectionMethods(runs: readonly RunRecord[]): string[] {
  return [...new Set(runs.flatMap((r) => r.detection.map((d) => d.method)))].sort();
}
