import { isReferenceDetector } from '../detectors/registry.js';
import { BEATS_CONTROL_RULE } from '../metrics/defence.js';
import type { DefenceRecord, RunRecord } from './collect.js';
import { isClean } from './baseline.js';
import { summarize, type BootstrapOptions, type Summary } from './stats-core.js';
import { cellIdOf, cellPurpose, compareCellIds, groupByCell, type CellId } from './cell.js';
import { REPAIR_RULE, repairCellStats, testDetectionCellStats, type RepairCellStats, type TestDetectionCellStats } from './stats-repair.js';

/**
 * Detection and defence statistics of stats.json (its `detection` section), per experimental cell (model ×
 * trigger × target × poison mode × poison rate) and method, over the cell's seeds: nothing else is pooled, so two cells never share a
 * mean computed over different kinds of runs. Detection is scored within the target class (headline) and over
 * all rows (secondary); each defence is reported beside its random-removal control (experiments/defence.ts).
 */

/** One detector in one cell. */
export interface DetectorCellStats extends CellId {
  method: string;
  /** label or random: a reference level, not a detector to choose. */
  reference: boolean;
  /** Runs with an applicable target-class result (the n of the headline). */
  n_runs: number;
  seeds: number[];
  n_not_applicable: number;
  /** Why the method was skipped in every run of the cell (it does not apply to the cell's model); null when it ran. */
  skipped: string | null;
  /** Records from before issue 10 (all-rows figures only): counted here, left out of the target-class figures. */
  n_without_target_class: number;
  target_class_auroc: Summary;
  target_class_auprc: Summary;
  target_class_tpr_at_fpr_5pct: Summary;
  all_rows_auroc: Summary;
  rule_flagged: Summary;
  rule_false_alarms: Summary;
  rule_precision: Summary;
  /** Wall-clock seconds of scoring and the method's extra report (runs whose record has it). */
  seconds: Summary;
}

/** One defence (retraining without one detector's flags) in one cell, beside its random-removal control. */
export interface DefenceCellStats extends CellId {
  method: string;
  n_runs: number;
  /** Runs whose record carries a control (records from before issue 10 do not). */
  n_with_control: number;
  seeds: number[];
  removed: Summary;
  removed_target_class: Summary;
  n_target_class: Summary;
  asr_before: Summary;
  asr_after: Summary;
  control_asr_after: Summary;
  clean_auroc_before: Summary;
  clean_auroc_after: Summary;
  control_clean_auroc_after: Summary;
  balanced_accuracy_before: Summary;
  balanced_accuracy_after: Summary;
  control_balanced_accuracy_after: Summary;
  der: Summary;
  control_der: Summary;
  /** Runs in which rows were removed and the model retrained; in the others the detector flagged no rows. */
  n_retrained: number;
  /** Runs in which the defence beat its control (`beats_control_rule`). */
  n_beats_control: number;
  /** `effective_rule`: beat its control in every run of the cell that has one. */
  effective_beyond_control: boolean;
  /** Runtime cost: the detector's seconds plus the retraining's and its control's, in runs whose records have both. */
  seconds: Summary;
}

export interface DetectionSection {
  /** What each statistic is computed over. */
  scope: string;
  headline: string;
  beats_control_rule: string;
  effective_rule: string;
  detectors: DetectorCellStats[];
  defences: DefenceCellStats[];
  /** issue 13: model-repair defences (fine_pruning, abl) per stage beside their controls (stats-repair.ts). */
  repair_rule: string;
  repairs: RepairCellStats[];
  /** STRIP's detection of triggered vs clean test inputs. */
  test_detection: TestDetectionCellStats[];
  runtime: string;
}

const SCOPE = 'per cell (model × trigger × target × poison mode × poison rate) and method, over the seeds of the cell; nothing else is pooled';
const HEADLINE = 'target-class AUROC: poisoned vs clean training rows among those carrying the target label';
const RUNTIME = 'wall-clock seconds on the machine that ran the method, from the records; retrain defences add the retraining (defence and control) to the detector\'s scoring, repairs include the repair and its control';
const EFFECTIVE_RULE = 'a defence is effective beyond its control in a cell when it beat its random-removal control in every run of the cell that has one (at least one)';

function compareCells(a: CellId & { method: string; reference?: boolean }, b: typeof a): number {
  const s = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
  return compareCellIds(a, b) || Number(a.reference ?? false) - Number(b.reference ?? false) || s(a.method, b.method);
}

/** A retrain defence's cost in one run: its detector's seconds plus its own; null unless both were recorded. */
function retrainSeconds(run: RunRecord, method: string, d: DefenceRecord): number | null {
  const detector = run.detection.find((x) => x.method === method)?.seconds ?? null;
  return detector === null || d.seconds === null ? null : detector + d.seconds;
}

const present = (values: (number | null | undefined)[]) => values.filter((v): v is number => typeof v === 'number');

export function detectionStats(runs: readonly RunRecord[], options: BootstrapOptions = {}): DetectionSection {
  const sum = (values: (number | null | undefined)[], ...purpose: (string | number)[]) =>
    summarize(present(values), { resamples: options.resamples, seed: options.seed, purpose: ['detection', ...purpose] });
  const cells = groupByCell(runs.filter((x) => !isClean(x)), cellIdOf);
  const detectors: DetectorCellStats[] = [];
  const defences: DefenceCellStats[] = [];
  const repairs: RepairCellStats[] = [];
  const testDetection: TestDetectionCellStats[] = [];
  for (const group of cells.values()) {
    repairs.push(...repairCellStats(group, sum));
    testDetection.push(...testDetectionCellStats(group, sum));
    const id = cellIdOf(group[0]!);
    const key = cellPurpose(id);
    const methods = [...new Set(group.flatMap((r) => r.detection.map((d) => d.method)))].sort();
    for (const method of methods) {
      const found = group.flatMap((r) => r.detection.filter((d) => d.method === method).map((d) => ({ seed: r.metrics.seed, d })));
      const applicable = found.filter((f) => f.d.applicable);
      const headline = applicable.filter((f) => f.d.target_class?.auroc !== null && f.d.target_class !== null);
      detectors.push({
        ...id,
        method,
        reference: isReferenceDetector(method),
        n_runs: headline.length,
        seeds: headline.map((f) => f.seed),
        n_not_applicable: found.length - applicable.length,
        skipped: found.length > 0 && found.every((f) => f.d.skipped !== null) ? found[0]!.d.skipped : null,
        n_without_target_class: applicable.length - headline.length,
        target_class_auroc: sum(headline.map((f) => f.d.target_class!.auroc), ...key, method, 'target_class_auroc'),
        target_class_auprc: sum(headline.map((f) => f.d.target_class!.auprc), ...key, method, 'target_class_auprc'),
        target_class_tpr_at_fpr_5pct: sum(headline.map((f) => f.d.target_class!.tpr_at_fpr_5pct), ...key, method, 'target_class_tpr5'),
        all_rows_auroc: sum(applicable.map((f) => f.d.all_rows?.auroc), ...key, method, 'all_rows_auroc'),
        rule_flagged: sum(applicable.map((f) => f.d.rule?.flagged), ...key, method, 'rule_flagged'),
        rule_false_alarms: sum(applicable.map((f) => f.d.rule?.false_alarms), ...key, method, 'rule_false_alarms'),
        rule_precision: sum(applicable.map((f) => f.d.rule?.precision), ...key, method, 'rule_precision'),
        seconds: sum(found.map((f) => f.d.seconds), ...key, method, 'seconds'),
      });
    }
    const defenceMethods = [...new Set(group.flatMap((r) => r.defences.map((d) => d.method)))].sort();
    for (const method of defenceMethods) {
      const found = group.flatMap((r) => r.defences.filter((d) => d.method === method).map((d) => ({ seed: r.metrics.seed, d, r })));
      const ds = found.map((f) => f.d);
      const withControl = ds.filter((d): d is DefenceRecord & { control: NonNullable<DefenceRecord['control']> } => d.control !== null && d.beats_control !== null);
      const nBeats = withControl.filter((d) => d.beats_control === true).length;
      const s = (pick: (d: DefenceRecord) => number | null | undefined, name: string) => sum(ds.map(pick), ...key, method, name);
      defences.push({
        ...id,
        method,
        n_runs: ds.length,
        n_with_control: withControl.length,
        seeds: found.map((f) => f.seed),
        removed: s((d) => d.flagged, 'removed'),
        removed_target_class: s((d) => d.removed_target_class, 'removed_target_class'),
        n_target_class: s((d) => d.n_target_class, 'n_target_class'),
        asr_before: s((d) => d.asr_before, 'asr_before'),
        asr_after: s((d) => d.asr_after, 'asr_after'),
        control_asr_after: s((d) => d.control?.asr_after, 'control_asr_after'),
        clean_auroc_before: s((d) => d.clean_auroc_before, 'clean_auroc_before'),
        clean_auroc_after: s((d) => d.clean_auroc_after, 'clean_auroc_after'),
        control_clean_auroc_after: s((d) => d.control?.clean_auroc_after, 'control_clean_auroc_after'),
        balanced_accuracy_before: s((d) => d.clean_balanced_accuracy_before, 'balanced_accuracy_before'),
        balanced_accuracy_after: s((d) => d.clean_balanced_accuracy_after, 'balanced_accuracy_after'),
        control_balanced_accuracy_after: s((d) => d.control?.clean_balanced_accuracy_after, 'control_balanced_accuracy_after'),
        der: s((d) => d.der, 'der'),
        control_der: s((d) => d.control?.der, 'control_der'),
        n_retrained: ds.filter((d) => d.retrained).length,
        n_beats_control: nBeats,
        effective_beyond_control: withControl.length > 0 && nBeats === withControl.length,
        seconds: sum(found.map((f) => retrainSeconds(f.r, method, f.d)), ...key, method, 'seconds'),
      });
    }
  }
  detectors.sort(compareCells);
  defences.sort(compareCells);
  repairs.sort(compareCells);
  testDetection.sort(compareCells);
  return {
    scope: SCOPE,
    headline: HEADLINE,
    beats_control_rule: BEATS_CONTROL_RULE,
    effective_rule: EFFECTIVE_RULE,
    detectors,
    defences,
    repair_rule: REPAIR_RULE,
    repairs,
    test_detection: testDetection,
    runtime: RUNTIME,
  };
}

/** The best non-reference detector cell by mean target-class AUROC, for the dashboard's KPI; null when none. */
export function bestDetectorCell(section: DetectionSection | undefined): DetectorCellStats | null {
  const candidates = (section?.detectors ?? []).filter((d) => !d.reference && d.target_class_auroc.mean !== null);
  if (candidates.length === 0) return null;
  return candidates.reduce((a, b) => (b.target_class_auroc.mean! > a.target_class_auroc.mean! ? b : a));
}
