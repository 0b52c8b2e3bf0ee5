import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parquetReadObjects } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import type { DetectionResult } from '../metrics/detection.js';
import { writeFileAtomic } from '../util/fs.js';
import { UserError } from '../util/errors.js';
import { DETECTION_DIR, DETECTION_FILES, detectionFileKind } from './layout.js';
import { RUN_FORMAT_VERSION } from './format.js';

/** detection/<method>.json */
export interface DetectionReport {
  method: string;
  description: string;
  params: unknown;
  run: { run_id: string; model: string; trigger: string; poison_rate: number; poison_mode: string; seed: number };
  n_train: number;
  n_poisoned: number;
  flagged: number;
  metrics: DetectionResult;
  details: unknown;
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
  /** null for trigger none. */
  asr: number | null;
  threshold: number;
}

/** detection/defence_<method>.json */
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

/** detection/manifest.json: every finished output file with its size in bytes, and the methods it completes. */
export interface DetectionManifest {
  format_version: number;
  methods: Record<string, { defended: boolean; files: string[] }>;
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
export async function recordMethodComplete(runDir: string, method: string, defended: boolean): Promise<void> {
  const manifest = (await readDetectionManifest(runDir)) ?? { format_version: RUN_FORMAT_VERSION, methods: {}, files: {} };
  const files = methodFiles(method, defended);
  const sizes = Object.fromEntries(Object.entries(manifest.files));
  for (const f of files) sizes[f] = (await stat(detectionPath(runDir, f))).size;
  const methods = { ...manifest.methods, [method]: { defended, files } };
  const sorted = <T>(o: Record<string, T>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  await writeFileAtomic(detectionPath(runDir, DETECTION_FILES.manifest), json({ format_version: RUN_FORMAT_VERSION, methods: sorted(methods), files: sorted(sizes) }));
}

/**
 * The requested methods whose outputs are not all in place: not in the manifest (runs from before the manifest
 * count as missing), a listed file absent or of another size, or a defence asked for but not recorded.
 */
export async function missingDetection(runDir: string, methods: readonly string[], defend: boolean): Promise<string[]> {
  const manifest = await readDetectionManifest(runDir);
  const missing: string[] = [];
  for (const method of methods) {
    const entry = manifest?.methods[method];
    let whole = Boolean(entry) && (!defend || entry!.defended);
    for (const f of whole ? methodFiles(method, defend) : []) {
      const size = manifest!.files[f];
      const actual = await stat(detectionPath(runDir, f)).then((s) => s.size, () => -1);
      if (size === undefined || actual !== size) whole = false;
    }
    if (!whole) missing.push(method);
  }
  return missing;
}
