import { createHash } from 'node:crypto';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parquetReadObjects } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import type { DetectionNotApplicable, TargetClassDetection } from '../metrics/detection.js';
import { writeFileAtomic } from '../util/fs.js';
import { UserError } from '../util/errors.js';
import { DETECTION_DIR, DETECTION_FILES, detectionFileKind } from './layout.js';
import { RUN_FORMAT_VERSION } from './format.js';

/**
 * A detector's resolved parameters as a short hash (SHA-256 of their canonical JSON, keys sorted), written into its
 * detection record, its defence record and the manifest, so a defence computed from other parameters than the
 * current flags is recognised as stale.
 */
export function detectorParamsHash(params: unknown): string {
  const canonical = (v: unknown): string => {
    if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
    if (v && typeof v === 'object') {
      const entries = Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`;
    }
    return JSON.stringify(v) ?? 'null';
  };
  return createHash('sha256').update(canonical(params)).digest('hex').slice(0, 16);
}

/**
 * detection/<method>.json. `metrics` holds the headline figures within the target class (`metrics.target_class`),
 * the secondary all-rows figures (`metrics.all_rows`) and the detector's own flag rule (`metrics.rule`), see
 * metrics/detection.ts targetClassDetectionMetrics; records written before issue 10 hold all-rows figures at the
 * top of `metrics` and no `params_hash` (readers treat their target-class figures as not available).
 */
export interface DetectionReport {
  method: string;
  description: string;
  params: unknown;
  params_hash: string;
  run: { run_id: string; model: string; trigger: string; poison_rate: number; poison_mode: string; seed: number; target: 0 | 1 };
  n_train: number;
  n_poisoned: number;
  flagged: number;
  metrics: TargetClassDetection | DetectionNotApplicable;
  details: unknown;
  /** Wall-clock seconds of scoring and the method's extra report (repairs included); absent in older records. */
  seconds?: number;
  /**
   * Set when the method was not run because it does not apply to the run's model (why, one line): it was part of a
   * default or `all` choice of methods. Such a record has no scores file; its metrics say "not applicable".
   */
  skipped?: string;
}

/** One row of detection/<method>_scores.parquet. */
export interface ScoreRow {
  row: number;
  stay_id: number;
  score: number;
  flagged: boolean;
  poisoned: boolean;
}

export interface DefenceSide {
  clean_auroc: number;
  clean_accuracy: number;
  /** (TPR + TNR)/2 at the side's threshold (metrics/defence.ts balancedAccuracy). */
  clean_balanced_accuracy: number;
  /** null for trigger none. */
  asr: number | null;
  threshold: number;
}

export interface DefenceArmEffect {
  /** ASR before − after (positive = the attack weakened); null for trigger none. */
  asr_drop: number | null;
  /** Clean accuracy after − before (negative = the removal cost accuracy). */
  clean_accuracy_change: number;
  clean_auroc_change: number;
  clean_balanced_accuracy_change: number;
  /** ΔU of metrics/defence.ts: share of above-chance clean AUROC lost, in [0, 1]. */
  utility_loss: number;
  /** metrics/defence.ts DER; null for trigger none. */
  der: number | null;
}

export type DefenceTraining = { best_epoch: number; epochs_run: number; best_val_auroc: number } | null;

/** The random-removal control of a defence: as many rows, the same class mix, drawn at random, retrained alike. */
export interface DefenceControl {
  /** How the rows were drawn. */
  rule: string;
  removed: number;
  removed_poisoned: number;
  removed_target_class: number;
  retrained: boolean;
  after: DefenceSide;
  effect: DefenceArmEffect;
  training: DefenceTraining;
}

/** detection/defence_<method>.json */
export interface DefenceReport {
  method: string;
  /** detectorParamsHash of the parameters whose flags were removed; must match the detection record's. */
  params_hash: string;
  n_train: number;
  target: 0 | 1;
  /** Training rows carrying the target label. */
  n_target_class: number;
  flagged: number;
  flagged_poisoned: number;
  /** Flagged rows carrying the target label: what the defence took out of that class (spectral's 1.5·ε·n budget). */
  removed_target_class: number;
  poisoned_before: number;
  poisoned_after: number;
  /** false when nothing was flagged: the retrained model would be the run's own, so its metrics are reused. */
  retrained: boolean;
  before: DefenceSide;
  after: DefenceSide;
  effect: DefenceArmEffect;
  training: DefenceTraining;
  control: DefenceControl;
  /** Whether the defence beat its control by `beats_control_rule`; null without an attack (trigger none). */
  beats_control: boolean | null;
  beats_control_rule: string;
  /** Wall-clock seconds of the defence's retraining and its control's; absent in older records. */
  seconds?: number;
}

/** detection/manifest.json: every finished output file with its size in bytes, and the methods it completes. */
export interface DetectionManifest {
  format_version: number;
  /** params_hash: detectorParamsHash of the parameters the method's files were computed with (absent in older manifests). */
  methods: Record<string, { defended: boolean; files: string[]; params_hash?: string; skipped?: string }>;
  files: Record<string, number>;
}

/** The files one method must have for its detection (and, if asked, its defence) to be complete. */
export function methodFiles(method: string, defended: boolean): string[] {
  const files = [DETECTION_FILES.report(method), DETECTION_FILES.scores(method)];
  if (method === 'saliency') files.push(DETECTION_FILES.attribution);
  if (defended) files.push(DETECTION_FILES.defence(method));
  return files;
}

function detectionPath(runDir: string, file: string): string {
  return join(runDir, DETECTION_DIR, file);
}

const json = (value: unknown) => JSON.stringify(value, null, 2) + '\n';

export async function writeDetectionReport(runDir: string, report: DetectionReport): Promise<void> {
  await writeFileAtomic(detectionPath(runDir, DETECTION_FILES.report(report.method)), json(report));
}

export async function writeScoresRecord(runDir: string, method: string, rows: { stayIds: ArrayLike<number>; scores: ArrayLike<number>; flagged: ArrayLike<number>; poisoned: ArrayLike<number> }): Promise<void> {
  const n = rows.scores.length;
  const buffer = parquetWriteBuffer({
    columnData: [
      { name: 'row', data: Int32Array.from({ length: n }, (_, i) => i), type: 'INT32', nullable: false },
      { name: 'stay_id', data: Int32Array.from(rows.stayIds), type: 'INT32', nullable: false },
      { name: 'score', data: Float64Array.from(rows.scores), type: 'DOUBLE', nullable: false },
      { name: 'flagged', data: Array.from(rows.flagged, (f) => f === 1), type: 'BOOLEAN', nullable: false },
      { name: 'poisoned', data: Array.from(rows.poisoned, (p) => p === 1), type: 'BOOLEAN', nullable: false },
    ],
  });
  await writeFileAtomic(detectionPath(runDir, DETECTION_FILES.scores(method)), new Uint8Array(buffer));
}

export async function readScoresRecord(runDir: string, method: string): Promise<ScoreRow[]> {
  const buf = await readFile(detectionPath(runDir, DETECTION_FILES.scores(method)));
  const rows = await parquetReadObjects({ file: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer });
  return rows.map((r) => ({ row: Number(r.row), stay_id: Number(r.stay_id), score: Number(r.score), flagged: Boolean(r.flagged), poisoned: Boolean(r.poisoned) }));
}

export async function writeDefenceRecord(runDir: string, report: DefenceReport): Promise<void> {
  await writeFileAtomic(detectionPath(runDir, DETECTION_FILES.defence(report.method)), json(report));
}

/**
 * Removes a method's defence record (the project's own file) when its detector is rerun without a defence, so no
 * defence from earlier parameters stays beside the new flags. Returns whether there was one.
 */
export async function removeDefenceRecord(runDir: string, method: string): Promise<boolean> {
  const path = detectionPath(runDir, DETECTION_FILES.defence(method));
  const existed = await stat(path).then(() => true, () => false);
  if (existed) await rm(path, { force: true });
  return existed;
}

/** The saliency analysis's per-feature attribution (its shape belongs to detectors/saliency.ts). */
export async function writeAttributionRecord(runDir: string, attribution: unknown): Promise<void> {
  await writeFileAtomic(detectionPath(runDir, DETECTION_FILES.attribution), json(attribution));
}

async function readJsonOrNull(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UserError(`${path} is not valid JSON (${(err as Error).message.split('\n')[0]}); rerun backdoor detect`);
  }
}

/** detection/<method>.json as written, or null when absent. */
export async function readDetectionReport(runDir: string, method: string): Promise<DetectionReport | null> {
  return (await readJsonOrNull(detectionPath(runDir, DETECTION_FILES.report(method)))) as DetectionReport | null;
}

export async function readDefenceRecord(runDir: string, method: string): Promise<DefenceReport | null> {
  return (await readJsonOrNull(detectionPath(runDir, DETECTION_FILES.defence(method)))) as DefenceReport | null;
}

export async function readAttributionRecord(runDir: string): Promise<Record<string, any> | null> {
  return (await readJsonOrNull(detectionPath(runDir, DETECTION_FILES.attribution))) as Record<string, any> | null;
}

/** Every record in a run's detection folder, unparsed, by kind; unreadable files are left out. */
export interface DetectionFolder {
  reports: { method: string; raw: unknown }[];
  defences: { method: string; raw: unknown }[];
  attribution: unknown;
}

export async function readDetectionFolder(runDir: string): Promise<DetectionFolder> {
  const out: DetectionFolder = { reports: [], defences: [], attribution: null };
  let names: string[];
  try {
    names = await readdir(join(runDir, DETECTION_DIR));
  } catch {
    return out;
  }
  for (const name of names.sort()) {
    const kind = detectionFileKind(name);
    if (!kind) continue;
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(detectionPath(runDir, name), 'utf8'));
    } catch {
      continue;
    }
    if (kind.kind === 'attribution') out.attribution = raw;
    else if (kind.kind === 'defence') out.defences.push({ method: kind.method, raw });
    else out.reports.push({ method: kind.method, raw });
  }
  return out;
}

export async function readDetectionManifest(runDir: string): Promise<DetectionManifest | null> {
  let raw: unknown;
  try {
    raw = await readJsonOrNull(detectionPath(runDir, DETECTION_FILES.manifest));
  } catch {
    return null;
  }
  if (!raw || typeof raw !== 'object') return null;
  const m = raw as DetectionManifest;
  if (typeof m.format_version === 'number' && m.format_version > RUN_FORMAT_VERSION) {
    throw new UserError(`${detectionPath(runDir, DETECTION_FILES.manifest)}: format_version ${m.format_version} is newer than this build reads (0 to ${RUN_FORMAT_VERSION}); update backdoor`);
  }
  return m.files && m.methods ? m : null;
}

/**
 * Records a finished method in the manifest, after all its files are in place (each file's size read back). The
 * manifest is replaced atomically, so it only ever lists files that were whole when it was written.
 */
export async function recordMethodComplete(runDir: string, method: string, defended: boolean, paramsHash: string): Promise<void> {
  await recordMethod(runDir, method, { defended, files: methodFiles(method, defended), params_hash: paramsHash });
}

/** Records a method skipped as not applying to the run's model: its report (the skip record) is its only file. */
export async function recordMethodSkipped(runDir: string, method: string, paramsHash: string, reason: string): Promise<void> {
  await recordMethod(runDir, method, { defended: false, files: [DETECTION_FILES.report(method)], params_hash: paramsHash, skipped: reason });
}

async function recordMethod(runDir: string, method: string, entry: DetectionManifest['methods'][string]): Promise<void> {
  const manifest = (await readDetectionManifest(runDir)) ?? { format_version: RUN_FORMAT_VERSION, methods: {}, files: {} };
  const sizes = Object.fromEntries(Object.entries(manifest.files));
  // A method rerun without its defence (or skipped) drops the old entries of the files it no longer has.
  for (const f of methodFiles(method, true)) if (!entry.files.includes(f)) delete sizes[f];
  for (const f of entry.files) sizes[f] = (await stat(detectionPath(runDir, f))).size;
  const methods = { ...manifest.methods, [method]: entry };
  const sorted = <T>(o: Record<string, T>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  await writeFileAtomic(detectionPath(runDir, DETECTION_FILES.manifest), json({ format_version: RUN_FORMAT_VERSION, methods: sorted(methods), files: sorted(sizes) }));
}

/**
 * The requested methods whose outputs are not all in place: not in the manifest (runs from before the manifest
 * count as missing), a listed file absent or of another size, a defence asked for but not recorded (a method
 * recorded as skipped, not applying to the model, needs none), or (when
 * `paramsHashes` names the wanted parameters) outputs recorded as computed with other parameters (manifests from
 * before the hash was recorded are taken as matching).
 */
export async function missingDetection(runDir: string, methods: readonly string[], defend: boolean, paramsHashes?: Readonly<Record<string, string>>): Promise<string[]> {
  const manifest = await readDetectionManifest(runDir);
  const missing: string[] = [];
  for (const method of methods) {
    const entry = manifest?.methods[method];
    const wanted = paramsHashes?.[method];
    const skipped = typeof entry?.skipped === 'string';
    // A method skipped as not applying to the model has nothing to defend with: its skip record completes it.
    let whole = Boolean(entry) && (skipped || !defend || entry!.defended) && (wanted === undefined || entry!.params_hash === undefined || entry!.params_hash === wanted);
    for (const f of whole ? (skipped ? entry!.files : methodFiles(method, defend)) : []) {
      const size = manifest!.files[f];
      const actual = await stat(detectionPath(runDir, f)).then((s) => s.size, () => -1);
      if (size === undefined || actual !== size) whole = false;
    }
    if (!whole) missing.push(method);
  }
  return missing;
}
