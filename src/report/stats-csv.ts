import { stringify as csvStringify } from 'csv-stringify/sync';
import { N_TOO_SMALL, type Summary } from './stats-core.js';
import { CLEAN_TRIGGER } from './baseline.js';
import type { ReportStats } from './stats-types.js';
import type { CellId } from './cell.js';

/** stats.csv: one row per statistic of stats.json's statistics sections, long format. */

const STATS_CSV_COLUMNS = [
  'section',
  'model',
  'trigger',
  'poison_rate',
  'target',
  'mode',
  'detector',
  'statistic',
  'n',
  'mean',
  'sd',
  'ci95_low',
  'ci95_high',
  'test',
  'test_statistic',
  'df',
  'p',
  'verdict',
  'ci_method',
  'few_seeds',
  'note',
] as const;

type CsvRow = Partial<Record<(typeof STATS_CSV_COLUMNS)[number], string | number | null>>;

/** A summary as CSV cells: "n too small" where a value is missing, never NaN or an empty cell. */
function summaryCells(s: Summary): CsvRow {
  const missing = (v: number | null) => (v === null ? N_TOO_SMALL : v);
  return {
    n: s.n,
    mean: missing(s.mean),
    sd: missing(s.sd),
    ci95_low: missing(s.ci95?.[0] ?? null),
    ci95_high: missing(s.ci95?.[1] ?? null),
    ci_method: s.ci_method ?? (s.ci95 ? 'percentile bootstrap of the mean over runs' : ''),
    few_seeds: s.few_seeds === undefined ? '' : String(s.few_seeds),
    note: s.note ?? '',
  };
}

/** The columns that name a cell: its model, trigger, rate, target and mode (cell.ts). */
function cellColumns(c: CellId): CsvRow {
  return { model: c.model, trigger: c.trigger, poison_rate: c.poison_rate, target: c.target, mode: c.mode };
}

export function statsCsv(stats: ReportStats): string {
  const rows: CsvRow[] = [];
  for (const b of stats.baselines) {
    const base = { section: 'baseline', model: b.model, trigger: CLEAN_TRIGGER, poison_rate: 0, target: b.target };
    rows.push({ ...base, statistic: 'clean_auroc', ...summaryCells(b.clean_auroc) });
    rows.push({ ...base, statistic: 'clean_auprc', ...summaryCells(b.clean_auprc) });
    rows.push({ ...base, statistic: 'ece', ...summaryCells(b.ece) });
    rows.push({ ...base, statistic: 'brier', ...summaryCells(b.brier) });
    for (const [t, s] of Object.entries(b.false_trigger_asr)) rows.push({ ...base, trigger: t, statistic: 'false_trigger_asr', ...summaryCells(s) });
  }
  for (const c of stats.cells) {
    const base = { section: 'cell', ...cellColumns(c) };
    rows.push({ ...base, statistic: 'asr', ...summaryCells(c.asr) });
    rows.push({ ...base, statistic: 'asr_net_of_false_trigger', ...summaryCells(c.asr_net) });
    rows.push({ ...base, statistic: 'false_trigger_asr', ...summaryCells(c.false_trigger_asr) });
    rows.push({ ...base, statistic: 'confidence_shift', ...summaryCells(c.confidence_shift) });
    rows.push({ ...base, statistic: 'clean_auroc', ...summaryCells(c.clean_auroc) });
    rows.push({ ...base, statistic: 'clean_auprc', ...summaryCells(c.clean_auprc) });
    rows.push({ ...base, statistic: 'ece', ...summaryCells(c.ece) });
    rows.push({ ...base, statistic: 'auroc_diff_vs_clean', ...summaryCells(c.auroc_vs_clean.difference) });
    const t = c.auroc_vs_clean.tost;
    rows.push({
      ...base,
      statistic: 'auroc_diff_vs_clean',
      n: c.auroc_vs_clean.seeds.length,
      test: `TOST within ±${c.auroc_vs_clean.margin}`,
      test_statistic: '',
      df: '',
      p: t && Number.isFinite(t.p) ? t.p : N_TOO_SMALL,
      verdict: c.auroc_vs_clean.label,
      note: '',
    });
  }
  // Per cell and method (stats-detection.ts): detection within the target class, defences beside their controls.
  for (const d of stats.detection?.detectors ?? []) {
    const base = { section: 'detection_cell', ...cellColumns(d), detector: d.method };
    for (const k of ['target_class_auroc', 'target_class_auprc', 'target_class_tpr_at_fpr_5pct', 'all_rows_auroc', 'rule_flagged', 'rule_false_alarms', 'rule_precision'] as const) {
      rows.push({ ...base, statistic: k, ...summaryCells(d[k]) });
    }
  }
  for (const d of stats.detection?.defences ?? []) {
    const base = { section: 'defence_cell', ...cellColumns(d), detector: d.method };
    for (const k of ['removed', 'removed_target_class', 'asr_before', 'asr_after', 'control_asr_after', 'clean_auroc_after', 'control_clean_auroc_after', 'balanced_accuracy_after', 'control_balanced_accuracy_after', 'der', 'control_der'] as const) {
      rows.push({ ...base, statistic: k, ...summaryCells(d[k]) });
    }
    rows.push({ ...base, statistic: 'beats_control', n: d.n_with_control, mean: d.n_with_control > 0 ? d.n_beats_control / d.n_with_control : N_TOO_SMALL, note: d.effective_beyond_control ? 'effective beyond control' : 'not effective beyond control' });
  }
  // issue 13: runtime per detector and defence cell, repair stages beside their controls, STRIP at test time.
  for (const d of stats.detection?.detectors ?? []) {
    if (d.seconds) rows.push({ section: 'detection_cell', ...cellColumns(d), detector: d.method, statistic: 'seconds', ...summaryCells(d.seconds) });
  }
  for (const d of stats.detection?.defences ?? []) {
    if (d.seconds) rows.push({ section: 'defence_cell', ...cellColumns(d), detector: d.method, statistic: 'seconds', ...summaryCells(d.seconds) });
  }
  for (const r of stats.detection?.repairs ?? []) {
    const base = { section: 'repair_cell', ...cellColumns(r), detector: r.method };
    for (const k of ['asr_before', 'asr_after', 'control_asr_after', 'clean_auroc_before', 'clean_auroc_after', 'control_clean_auroc_after', 'der', 'control_der', 'isolation_precision', 'seconds'] as const) {
      rows.push({ ...base, statistic: `${r.stage}.${k}`, ...summaryCells(r[k]) });
    }
    const verdict = r.n_with_control === 0 ? 'no control' : r.effective_beyond_control ? 'effective beyond control' : 'not effective beyond control';
    rows.push({ ...base, statistic: `${r.stage}.beats_control`, n: r.n_with_control, mean: r.n_with_control > 0 ? r.n_beats_control / r.n_with_control : N_TOO_SMALL, verdict, note: r.control ?? '' });
  }
  for (const t of stats.detection?.test_detection ?? []) {
    const base = { section: 'test_detection_cell', ...cellColumns(t), detector: t.method };
    for (const k of ['auroc', 'tpr_at_fpr_1pct', 'tpr_at_fpr_5pct', 'tpr_at_threshold', 'frr_test_at_threshold'] as const) rows.push({ ...base, statistic: k, ...summaryCells(t[k]) });
  }
  for (const a of stats.attribution) {
    const base = { section: 'attribution', trigger: a.trigger, target: a.target, detector: 'saliency' };
    rows.push({ ...base, statistic: 'tar_triggered', ...summaryCells(a.tar_triggered) });
    rows.push({ ...base, statistic: 'tar_clean', ...summaryCells(a.tar_clean) });
  }
  return csvStringify(rows, { header: true, columns: [...STATS_CSV_COLUMNS] });
}
