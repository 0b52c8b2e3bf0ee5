import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify as csvStringify } from 'csv-stringify/sync';
import { writeFileAtomic } from '../util/fs.js';
import { RUN_FILES, RUNS_SUMMARY_FILE } from './layout.js';
import type { RunMetadata, RunMetrics } from './records.js';
import { readDetectionFolder, type DetectionFolder } from './detection-records.js';
import { defenceViewOf, isStaleDefence } from './defence-view.js';
import { findRuns } from './collection.js';

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

type SummaryRow = Record<(typeof SUMMARY_COLUMNS)[number], string | number | null>;

function summaryRow(m: RunMetrics, dataSha256: string): SummaryRow {
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

/** Column suffixes of the detection columns, per method, in order. */
const DET_COLUMNS = ['auroc', 'auprc', 'tpr1', 'tpr5', 'all_rows_auroc', 'all_rows_auprc', 'flagged', 'false_alarms', 'precision', 'recall', 'flagged_target_class'] as const;
const DEF_COLUMNS = [
  'kind',
  'asr_before',
  'asr_after',
  'clean_auroc_before',
  'clean_auroc_after',
  'acc_before',
  'acc_after',
  'balanced_acc_before',
  'balanced_acc_after',
  'der',
  'removed_target_class',
  'control_asr_after',
  'control_clean_auroc_after',
  'control_balanced_acc_after',
  'control_der',
  'beats_control',
] as const;

/**
 * Names of the detection columns of experiment_summary.csv and summary.csv for the given methods, in a fixed
 * order (a header that does not depend on which files exist):
 * - `det_<method>_auroc`, `_auprc`, `_tpr1`, `_tpr5` (headline): AUROC, average precision and TPR at 1% / 5% FPR
 *   of the scores against the true poisoned rows among the training rows carrying the target label;
 * - `det_<method>_all_rows_auroc`, `_all_rows_auprc` (secondary): the same over all training rows, where a score
 *   that tracks the label already separates dirty-label poison;
 * - `det_<method>_flagged`, `_false_alarms`, `_precision`, `_recall`, `_flagged_target_class`: the detector's own
 *   flag rule (flagged is set on clean runs too, where every flag is a false alarm; the other metrics are empty
 *   there: not applicable);
 * - `def_<method>_kind`: what the defence columns of the method show (runs/defence-view.ts): `retrain`, `repair: …`
 *   (fine_pruning, abl: the repair's figures and its own control), `no retrain: <why>` (no rows flagged, run
 *   without --defend, a stale record), `skipped: <why>` (the method does not apply to the run's model) or `not run`;
 * - `def_<method>_asr_before`, `_asr_after`, `_clean_auroc_before`, `_clean_auroc_after`, `_acc_before`,
 *   `_acc_after`, `_balanced_acc_before`, `_balanced_acc_after`, `_der`, `_removed_target_class`: the `--defend`
 *   retraining without the flagged rows, or the repair (ASR and DER empty for trigger none);
 * - `def_<method>_control_asr_after`, `_control_clean_auroc_after`, `_control_balanced_acc_after`, `_control_der`:
 *   its random-removal control (a repair's own control); `_beats_control` 1 when the defence beat the control
 *   (metrics/defence.ts beatsControl), else 0;
 * - `att_tar_clean`, `att_tar_triggered`: the saliency analysis's Trigger Attribution Ratio on clean and
 *   triggered test rows.
 * A value is null (an empty cell) when its file is absent, predates the figure (records written before issue 10
 * have no target-class figures and no control), is stale (a defence of other detector parameters), or does not apply;
 * for the def_ columns, `def_<method>_kind` says which.
 */
export function detectionSummaryColumnNames(methods: readonly string[]): string[] {
  const out: string[] = [];
  for (const m of methods) for (const c of DET_COLUMNS) out.push(`det_${m}_${c}`);
  for (const m of methods) for (const c of DEF_COLUMNS) out.push(`def_${m}_${c}`);
  if (methods.includes('saliency')) out.push('att_tar_clean', 'att_tar_triggered');
  return out;
}

const num = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : null);
const obj = (x: unknown): Record<string, any> => (x && typeof x === 'object' ? (x as Record<string, any>) : {});

/**
 * A detection record's figures in the current layout (metrics.target_class / all_rows / rule). A record from before
 * issue 10 held all-rows figures at the top of `metrics`: they are read as all-rows figures, target-class as absent.
 */
export function detectionFiguresOf(raw: unknown): { applicable: boolean; target_class: Record<string, any> | null; all_rows: Record<string, any> | null; rule: Record<string, any> | null } {
  const metrics = obj(obj(raw).metrics);
  const applicable = metrics.applicable === true;
  if (!applicable) return { applicable, target_class: null, all_rows: null, rule: null };
  if ('target_class' in metrics || 'all_rows' in metrics) {
    return { applicable, target_class: metrics.target_class ? obj(metrics.target_class) : null, all_rows: metrics.all_rows ? obj(metrics.all_rows) : null, rule: metrics.rule ? obj(metrics.rule) : null };
  }
  const flagged = num(metrics.flagged);
  const precision = num(metrics.precision);
  const legacyRule = { flagged, precision, recall: num(metrics.recall), false_alarms: flagged !== null && precision !== null ? Math.round(flagged * (1 - precision)) : null };
  return { applicable, target_class: null, all_rows: metrics, rule: legacyRule };
}

export { isStaleDefence };

/** The detection columns of one run from its detection folder's records (see `detectionSummaryColumnNames`). */
function detectionColumnsOf(folder: DetectionFolder, methods: readonly string[]): Record<string, number | string | null> {
  const out: Record<string, number | string | null> = Object.fromEntries(detectionSummaryColumnNames(methods).map((c) => [c, null]));
  for (const m of methods) {
    const report = folder.reports.find((r) => r.method === m)?.raw;
    if (report) {
      out[`det_${m}_flagged`] = num(obj(report).flagged);
      const f = detectionFiguresOf(report);
      if (f.target_class) {
        out[`det_${m}_auroc`] = num(f.target_class.auroc);
        out[`det_${m}_auprc`] = num(f.target_class.auprc);
        out[`det_${m}_tpr1`] = num(f.target_class.tpr_at_fpr_1pct);
        out[`det_${m}_tpr5`] = num(f.target_class.tpr_at_fpr_5pct);
      }
      if (f.all_rows) {
        out[`det_${m}_all_rows_auroc`] = num(f.all_rows.auroc);
        out[`det_${m}_all_rows_auprc`] = num(f.all_rows.auprc);
      }
      if (f.rule) {
        out[`det_${m}_false_alarms`] = num(f.rule.false_alarms);
        out[`det_${m}_precision`] = num(f.rule.precision);
        out[`det_${m}_recall`] = num(f.rule.recall);
        out[`det_${m}_flagged_target_class`] = num(f.rule.flagged_target_class);
      }
    }
    const v = defenceViewOf(m, report, folder.defences.find((d) => d.method === m)?.raw);
    out[`def_${m}_kind`] = v.kind;
    out[`def_${m}_asr_before`] = v.before?.asr ?? null;
    out[`def_${m}_asr_after`] = v.after?.asr ?? null;
    out[`def_${m}_clean_auroc_before`] = v.before?.clean_auroc ?? null;
    out[`def_${m}_clean_auroc_after`] = v.after?.clean_auroc ?? null;
    out[`def_${m}_acc_before`] = v.before?.clean_accuracy ?? null;
    out[`def_${m}_acc_after`] = v.after?.clean_accuracy ?? null;
    out[`def_${m}_balanced_acc_before`] = v.before?.clean_balanced_accuracy ?? null;
    out[`def_${m}_balanced_acc_after`] = v.after?.clean_balanced_accuracy ?? null;
    out[`def_${m}_der`] = v.der;
    out[`def_${m}_removed_target_class`] = v.removed_target_class;
    out[`def_${m}_control_asr_after`] = v.control_after?.asr ?? null;
    out[`def_${m}_control_clean_auroc_after`] = v.control_after?.clean_auroc ?? null;
    out[`def_${m}_control_balanced_acc_after`] = v.control_after?.clean_balanced_accuracy ?? null;
    out[`def_${m}_control_der`] = v.control_der;
    out[`def_${m}_beats_control`] = v.beats_control === null ? null : Number(v.beats_control);
  }
  if (methods.includes('saliency')) {
    const att = folder.attribution as { clean?: { tar?: unknown }; triggered?: { tar?: unknown } } | null;
    if (att) {
      out.att_tar_clean = num(att.clean?.tar);
      out.att_tar_triggered = num(att.triggered?.tar);
    }
  }
  return out;
}

/** The detection results of a run folder as one flat record (see `detectionSummaryColumnNames`). */
export async function detectionSummaryColumns(runDir: string, methods: readonly string[]): Promise<Record<string, number | string | null>> {
  return detectionColumnsOf(await readDetectionFolder(runDir), methods);
}

/** experiment_summary.csv: the run's summary row and the detection columns of the given methods. */
export async function writeExperimentSummary(runDir: string, metrics: RunMetrics, dataSha256: string, detection?: { methods: readonly string[]; atomic: boolean }): Promise<void> {
  const row = { ...summaryRow(metrics, dataSha256), ...(detection ? await detectionSummaryColumns(runDir, detection.methods) : {}) };
  const csv = csvStringify([row], { header: true, columns: Object.keys(row) });
  if (detection?.atomic ?? false) await writeFileAtomic(join(runDir, RUN_FILES.summary), csv);
  else await writeFile(join(runDir, RUN_FILES.summary), csv);
}

/** Splits one CSV line as csv-stringify writes it (fields with a comma or quote are quoted, quotes doubled). */
function csvFields(line: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') out.push(field), (field = '');
    else field += c;
  }
  out.push(field);
  return out;
}

/** experiment_summary.csv back as column → cell text (an empty cell is a null). */
export async function readExperimentSummary(runDir: string): Promise<Record<string, string>> {
  const [header, row] = (await readFile(join(runDir, RUN_FILES.summary), 'utf8')).trim().split('\n');
  const names = csvFields(header ?? '');
  const cells = csvFields(row ?? '');
  return Object.fromEntries(names.map((name, i) => [name, cells[i] ?? '']));
}

/** What summary.csv needs of a run: its folder relative to the runs folder, metadata, metrics, detection records. */
export interface SummarySource {
  path: string;
  metadata: RunMetadata;
  metrics: RunMetrics;
  detectionFolder: DetectionFolder;
}

/** Detection methods with a report in any of the runs, sorted. */
function detectionMethodsOf(runs: readonly { detectionFolder: DetectionFolder }[]): string[] {
  return [...new Set(runs.flatMap((r) => r.detectionFolder.reports.map((d) => d.method)))].sort();
}

/**
 * summary.csv: one row per complete run, the experiment_summary.csv columns rebuilt from metrics.json and
 * run_metadata.json (so it never depends on a stale copy), the run folder, then the detection, defence and
 * attribution columns (`detectionSummaryColumnNames`) of every method any run has.
 */
export function summaryCsv(runs: readonly SummarySource[]): string {
  const methods = detectionMethodsOf(runs);
  const detectionColumns = detectionSummaryColumnNames(methods);
  const rows = runs.map((r) => ({ ...summaryRow(r.metrics, r.metadata.data?.sha256 ?? ''), run_dir: r.path, ...detectionColumnsOf(r.detectionFolder, methods) }));
  return csvStringify(rows, { header: true, columns: [...SUMMARY_COLUMNS, 'run_dir', ...detectionColumns] });
}

/** summary.csv from every complete run folder under runsDir: idempotent and rebuildable from the folders alone. */
export async function writeRunsSummary(runsDir: string): Promise<string> {
  const { runs } = await findRuns(runsDir);
  const sources: SummarySource[] = [];
  for (const r of runs) sources.push({ ...r, detectionFolder: await readDetectionFolder(r.dir) });
  const path = join(runsDir, RUNS_SUMMARY_FILE);
  await writeFileAtomic(path, summaryCsv(sources));
  return path;
}
