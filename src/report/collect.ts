import { findRuns, type SkippedFolder } from '../runs/collection.js';
import { readDetectionFolder, type DetectionFolder } from '../runs/detection-records.js';
import { readConfigRecord, type RunMetadata, type RunMetrics } from '../runs/records.js';
import { readPredictionsRecord, type TestPredictions } from '../runs/predictions.js';

export { compareRuns } from '../runs/collection.js';
export { summaryCsv } from '../runs/summary.js';
export type { RunMetadata, SkippedFolder };

/** Detection results of one method on one run (detection/<method>.json). */
export interface DetectionRecord {
  method: string;
  applicable: boolean;
  auroc: number | null;
  auprc: number | null;
  tpr_at_fpr_5pct: number | null;
  tpr_at_fpr_1pct: number | null;
  reason?: string;
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

/** Detector files are written by another part of the project; accept metrics at the top level or under `metrics`. */
export function parseDetection(method: string, raw: unknown): DetectionRecord {
  const obj = (raw && typeof raw === 'object' ? raw : {}) as Record<string, any>;
  const m = (obj.metrics && typeof obj.metrics === 'object' ? { ...obj, ...obj.metrics } : obj) as Record<string, unknown>;
  const applicable = m.applicable !== false;
  return {
    method: typeof obj.method === 'string' ? obj.method : method,
    applicable,
    auroc: applicable ? num(m.auroc) : null,
    auprc: applicable ? num(m.auprc) : null,
    tpr_at_fpr_5pct: applicable ? num(m.tpr_at_fpr_5pct) : null,
    tpr_at_fpr_1pct: applicable ? num(m.tpr_at_fpr_1pct) : null,
    ...(typeof m.reason === 'string' ? { reason: m.reason } : {}),
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
  return {
    method: typeof obj.method === 'string' ? obj.method : method,
    flagged: num(obj.flagged),
    asr_before: num(obj.before?.asr),
    asr_after: num(obj.after?.asr),
    asr_drop: num(obj.effect?.asr_drop),
    clean_auroc_change: num(obj.effect?.clean_auroc_change),
    clean_accuracy_change: num(obj.effect?.clean_accuracy_change),
    der: num(obj.effect?.der),
  };
}

async function readDetection(dir: string): Promise<Pick<RunRecord, 'detection' | 'defences' | 'attribution' | 'detectionFolder'>> {
  const folder = await readDetectionFolder(dir);
  return {
    detection: folder.reports.map((r) => parseDetection(r.method, r.raw)),
    defences: folder.defences.map((d) => parseDefence(d.method, d.raw)),
    attribution: folder.attribution === null ? null : parseAttribution(folder.attribution),
    detectionFolder: folder,
  };
}

/** Every complete run folder under `runsDir` with its detection records (see `findRuns` for which folders count). */
export async function collectRuns(runsDir: string): Promise<Collection> {
  const found = await findRuns(runsDir);
  const runs: RunRecord[] = [];
  for (const { path, metadata, metrics, dir } of found.runs) {
    const config = await readConfigRecord(dir).catch(() => null);
    runs.push({ path, metadata, metrics, config, predictions: await readPredictionsRecord(dir), ...(await readDetection(dir)) });
  }
  return { runsDir, runs, skipped: found.skipped };
}

/** Detection methods present in any run, sorted. */
export function detectionMethods(runs: readonly RunRecord[]): string[] {
  return [...new Set(runs.flatMap((r) => r.detection.map((d) => d.method)))].sort();
}
