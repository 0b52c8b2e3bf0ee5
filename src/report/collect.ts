import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { stringify as csvStringify } from 'csv-stringify/sync';
import { RUN_FILES, SUMMARY_COLUMNS, summaryRow, type RunMetrics } from '../experiments/run.js';

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

export interface RunMetadata {
  run_id?: string;
  status?: string;
  package?: { name?: string; version?: string };
  git_commit?: string | null;
  backend?: { name?: string; versions?: Record<string, unknown> } & Record<string, unknown>;
  data?: { path?: string; sha256?: string; splits_sha256?: string; source?: string };
  finished_at?: string;
  timings?: Record<string, number>;
}

export interface RunRecord {
  /** Path of the run folder relative to the runs folder, with forward slashes. */
  path: string;
  metadata: RunMetadata;
  metrics: RunMetrics;
  detection: DetectionRecord[];
  defences: DefenceRecord[];
  attribution: AttributionRecord | null;
}

export interface SkippedFolder {
  path: string;
  reason: string;
}

export interface Collection {
  runsDir: string;
  runs: RunRecord[];
  skipped: SkippedFolder[];
}

const ATTRIBUTION_FILE = 'saliency_attribution.json';

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

async function readJson(path: string): Promise<unknown> {
  return JSON.parse(await readFile(path, 'utf8'));
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

const DEFENCE_PREFIX = 'defence_';

async function readDetection(dir: string): Promise<Pick<RunRecord, 'detection' | 'defences' | 'attribution'>> {
  let names: string[];
  try {
    names = await readdir(join(dir, 'detection'));
  } catch {
    return { detection: [], defences: [], attribution: null };
  }
  const detection: DetectionRecord[] = [];
  const defences: DefenceRecord[] = [];
  let attribution: AttributionRecord | null = null;
  for (const name of names.sort()) {
    if (name.startsWith('.') || !name.endsWith('.json')) continue;
    let raw: unknown;
    try {
      raw = await readJson(join(dir, 'detection', name));
    } catch {
      continue;
    }
    const base = name.slice(0, -'.json'.length);
    if (name === ATTRIBUTION_FILE) attribution = parseAttribution(raw);
    else if (base.startsWith(DEFENCE_PREFIX)) defences.push(parseDefence(base.slice(DEFENCE_PREFIX.length), raw));
    else detection.push(parseDetection(base, raw));
  }
  return { detection, defences, attribution };
}

function posix(path: string): string {
  return path.split(/[\\/]/).join('/');
}

/**
 * Every complete run folder under `runsDir`: any folder holding run_metadata.json. Hidden entries (the temporary
 * folders runs are built in, `.old` leftovers) are never entered; a folder whose metadata status is not "complete",
 * or whose metrics cannot be read, is listed in `skipped` with the reason. Run folders are not searched further
 * (their detection/ and checkpoint subfolders are part of the run). Sorted by model, trigger, rate, seed.
 */
export async function collectRuns(runsDir: string): Promise<Collection> {
  const runs: RunRecord[] = [];
  const skipped: SkippedFolder[] = [];
  async function walk(dir: string): Promise<void> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    const rel = posix(relative(runsDir, dir));
    if (entries.some((e) => e.isFile() && e.name === RUN_FILES.metadata)) {
      let metadata: RunMetadata;
      try {
        metadata = (await readJson(join(dir, RUN_FILES.metadata))) as RunMetadata;
      } catch (err) {
        skipped.push({ path: rel, reason: `unreadable ${RUN_FILES.metadata}: ${(err as Error).message}` });
        return;
      }
      if (metadata.status !== 'complete') {
        skipped.push({ path: rel, reason: `status is ${JSON.stringify(metadata.status ?? null)}, not "complete"` });
        return;
      }
      let metrics: RunMetrics;
      try {
        metrics = (await readJson(join(dir, RUN_FILES.metrics))) as RunMetrics;
      } catch (err) {
        skipped.push({ path: rel, reason: `unreadable ${RUN_FILES.metrics}: ${(err as Error).message}` });
        return;
      }
      if (typeof metrics.model !== 'string' || typeof metrics.trigger !== 'string' || typeof metrics.poison_rate !== 'number' || !metrics.clean) {
        skipped.push({ path: rel, reason: `${RUN_FILES.metrics} lacks model, trigger, poison_rate or clean metrics` });
        return;
      }
      runs.push({ path: rel, metadata, metrics, ...(await readDetection(dir)) });
      return;
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (e.isDirectory() && !e.name.startsWith('.')) await walk(join(dir, e.name));
    }
  }
  await walk(runsDir);
  runs.sort(compareRuns);
  return { runsDir, runs, skipped };
}

export function compareRuns(a: RunRecord, b: RunRecord): number {
  const x = a.metrics;
  const y = b.metrics;
  return (
    (x.model < y.model ? -1 : x.model > y.model ? 1 : 0) ||
    (x.trigger < y.trigger ? -1 : x.trigger > y.trigger ? 1 : 0) ||
    x.poison_rate - y.poison_rate ||
    x.seed - y.seed ||
    (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
  );
}

/** Detection methods present in any run, sorted. */
export function detectionMethods(runs: readonly RunRecord[]): string[] {
  return [...new Set(runs.flatMap((r) => r.detection.map((d) => d.method)))].sort();
}

/**
 * summary.csv: one row per complete run, the experiment_summary.csv columns rebuilt from metrics.json and
 * run_metadata.json (so it never depends on a stale copy), then the run folder and one AUROC column per detector.
 */
export function summaryCsv(runs: readonly RunRecord[]): string {
  const methods = detectionMethods(runs);
  const columns = [...SUMMARY_COLUMNS, 'run_dir', ...methods.map((m) => `detection_auroc_${m}`)];
  const rows = runs.map((r) => {
    const row: Record<string, unknown> = { ...summaryRow(r.metrics, r.metadata.data?.sha256 ?? ''), run_dir: r.path };
    for (const m of methods) {
      const d = r.detection.find((x) => x.method === m);
      row[`detection_auroc_${m}`] = d?.auroc ?? null;
    }
    return row;
  });
  return csvStringify(rows, { header: true, columns });
}
