import { BEATS_CONTROL_RULE, beatsControl, defenceEffectivenessRate } from '../metrics/defence.js';
import type { RepairSideRecord } from './collect-details.js';
import type { RunRecord } from './collect.js';
import type { Summary } from './stats-core.js';
import { cellIdOf, cellPurpose, type CellId } from './cell.js';

/**
 * The repair defences (fine-pruning, ABL's unlearning) and STRIP's input-time detection of stats.json's `detection`
 * section, per cell (model × trigger × target × poison mode × poison rate), method and, for repairs, stage. A repair stage is compared
 * with the method's own control (fine-pruning: the unpruned model fine-tuned alike, the no-op control; ABL:
 * unlearning random rows of the isolated set's size and class mix) by the same rule as the retrain defences.
 */

/** One repaired state of one method in one cell, beside the method's control. */
export interface RepairCellStats extends CellId {
  method: string;
  /** after_pruning, after_fine_tuning (fine_pruning); after_unlearning (abl). */
  stage: string;
  /** The control's name as written (control_fine_tuned, control_unlearning); null when no run has one. */
  control: string | null;
  n_runs: number;
  n_with_control: number;
  seeds: number[];
  asr_before: Summary;
  asr_after: Summary;
  control_asr_after: Summary;
  clean_auroc_before: Summary;
  clean_auroc_after: Summary;
  control_clean_auroc_after: Summary;
  der: Summary;
  control_der: Summary;
  /** ABL: share of the isolated rows that were poisoned. */
  isolation_precision: Summary;
  /** Wall-clock seconds of the method: scoring, the repair and its control. */
  seconds: Summary;
  n_beats_control: number;
  effective_beyond_control: boolean;
}

/** STRIP's detection of triggered vs clean test inputs in one cell. */
export interface TestDetectionCellStats extends CellId {
  method: string;
  n_runs: number;
  seeds: number[];
  auroc: Summary;
  tpr_at_fpr_1pct: Summary;
  tpr_at_fpr_5pct: Summary;
  /** At the threshold set on clean validation entropy at the configured FRR. */
  tpr_at_threshold: Summary;
  frr_test_at_threshold: Summary;
}

export const REPAIR_RULE = `a repair stage beats its control when ${BEATS_CONTROL_RULE} (DER of each arm against the model before repair)`;

type Sum = (values: (number | null | undefined)[], ...purpose: (string | number)[]) => Summary;

function derOf(before: RepairSideRecord, after: RepairSideRecord | undefined): number | null {
  if (!after || before.asr === null || after.asr === null || before.clean_auroc === null || after.clean_auroc === null) return null;
  return defenceEffectivenessRate(before.asr, after.asr, before.clean_auroc, after.clean_auroc);
}

/** Repair stages of one cell's runs (all of one model, trigger, target, mode and poison rate). */
export function repairCellStats(group: readonly RunRecord[], sum: Sum): RepairCellStats[] {
  const id = cellIdOf(group[0]!);
  const key = cellPurpose(id);
  const out: RepairCellStats[] = [];
  const found = group.flatMap((r) => r.detection.flatMap((d) => (d.repair ? [{ seed: r.metrics.seed, method: d.method, repair: d.repair, seconds: d.seconds ?? d.repair.seconds }] : [])));
  for (const method of [...new Set(found.map((f) => f.method))].sort()) {
    const ofMethod = found.filter((f) => f.method === method);
    const stages = [...new Set(ofMethod.flatMap((f) => f.repair.stages.map((s) => s.stage)))];
    for (const stage of stages) {
      const rows = ofMethod.flatMap((f) => {
        const after = f.repair.stages.find((s) => s.stage === stage);
        return after ? [{ ...f, after: after.side, control: f.repair.control?.side }] : [];
      });
      const armDer = rows.map((r) => ({ der: derOf(r.repair.before, r.after), control_der: derOf(r.repair.before, r.control) }));
      const verdicts = rows.map((r, i) =>
        r.control ? beatsControl({ asr_after: r.after.asr, der: armDer[i]!.der }, { asr_after: r.control.asr, der: armDer[i]!.control_der }) : null,
      );
      const judged = verdicts.filter((v): v is boolean => v !== null);
      const nBeats = judged.filter((v) => v).length;
      const s = (values: (number | null | undefined)[], name: string) => sum(values, ...key, method, stage, name);
      out.push({
        ...id,
        method,
        stage,
        control: ofMethod.find((f) => f.repair.control)?.repair.control?.name ?? null,
        n_runs: rows.length,
        n_with_control: judged.length,
        seeds: rows.map((r) => r.seed),
        asr_before: s(rows.map((r) => r.repair.before.asr), 'asr_before'),
        asr_after: s(rows.map((r) => r.after.asr), 'asr_after'),
        control_asr_after: s(rows.map((r) => r.control?.asr), 'control_asr_after'),
        clean_auroc_before: s(rows.map((r) => r.repair.before.clean_auroc), 'clean_auroc_before'),
        clean_auroc_after: s(rows.map((r) => r.after.clean_auroc), 'clean_auroc_after'),
        control_clean_auroc_after: s(rows.map((r) => r.control?.clean_auroc), 'control_clean_auroc_after'),
        der: s(armDer.map((a) => a.der), 'der'),
        control_der: s(armDer.map((a) => a.control_der), 'control_der'),
        isolation_precision: s(rows.map((r) => r.repair.isolation_precision), 'isolation_precision'),
        seconds: s(rows.map((r) => r.seconds), 'seconds'),
        n_beats_control: nBeats,
        effective_beyond_control: judged.length > 0 && nBeats === judged.length,
      });
    }
  }
  return out;
}

/** STRIP's (or any method's) test-time detection in one cell's runs. */
export function testDetectionCellStats(group: readonly RunRecord[], sum: Sum): TestDetectionCellStats[] {
  const id = cellIdOf(group[0]!);
  const found = group.flatMap((r) => r.detection.flatMap((d) => (d.test_detection ? [{ seed: r.metrics.seed, method: d.method, t: d.test_detection }] : [])));
  return [...new Set(found.map((f) => f.method))].sort().map((method) => {
    const rows = found.filter((f) => f.method === method);
    const s = (values: (number | null)[], name: string) => sum(values, ...cellPurpose(id), method, 'test_detection', name);
    return {
      ...id,
      method,
      n_runs: rows.length,
      seeds: rows.map((r) => r.seed),
      auroc: s(rows.map((r) => r.t.auroc), 'auroc'),
      tpr_at_fpr_1pct: s(rows.map((r) => r.t.tpr_at_fpr_1pct), 'tpr_at_fpr_1pct'),
      tpr_at_fpr_5pct: s(rows.map((r) => r.t.tpr_at_fpr_5pct), 'tpr_at_fpr_5pct'),
      tpr_at_threshold: s(rows.map((r) => r.t.tpr_at_threshold), 'tpr_at_threshold'),
      frr_test_at_threshold: s(rows.map((r) => r.t.frr_test_at_threshold), 'frr_test_at_threshold'),
    };
  });
}
