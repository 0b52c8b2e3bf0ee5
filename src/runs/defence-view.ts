/**
 * What a method's defence columns (`def_<method>_*` of experiment_summary.csv and summary.csv) show, from its
 * detection record and its retrain defence record. Not every method defends by retraining without flagged rows:
 * fine-pruning and ABL repair the model (their figures are the repair's, after fine-tuning and after unlearning,
 * beside the repair's own control), a method that flags no rows retrains nothing, and a method skipped as not
 * applying to the run's model has no defence at all. `kind` says which, so an empty figure is never unexplained.
 */
import { beatsControl, defenceEffect } from '../metrics/defence.js';

/** The model-repair methods: their defence is the repair in their detection record's `details.repair`. */
const REPAIRS: Record<string, { after: string; control: string; kind: string }> = {
  fine_pruning: { after: 'after_fine_tuning', control: 'control_fine_tuned', kind: 'repair: pruned then fine-tuned (control: fine-tuned unpruned)' },
  abl: { after: 'after_unlearning', control: 'control_unlearning', kind: 'repair: unlearning the isolated rows (control: unlearning random rows)' },
};

export interface DefenceSideView {
  asr: number | null;
  clean_auroc: number | null;
  clean_accuracy: number | null;
  clean_balanced_accuracy: number | null;
}

export interface DefenceView {
  /** `retrain`, `repair: …`, `no retrain: <why>`, `skipped: <why>`, or `not run`. */
  kind: string;
  before: DefenceSideView | null;
  after: DefenceSideView | null;
  control_after: DefenceSideView | null;
  der: number | null;
  control_der: number | null;
  removed_target_class: number | null;
  beats_control: boolean | null;
}

const num = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : null);
const obj = (x: unknown): Record<string, any> => (x && typeof x === 'object' ? (x as Record<string, any>) : {});

function sideOf(raw: unknown): DefenceSideView | null {
  if (!raw || typeof raw !== 'object') return null;
  const s = obj(raw);
  return { asr: num(s.asr), clean_auroc: num(s.clean_auroc), clean_accuracy: num(s.clean_accuracy), clean_balanced_accuracy: num(s.clean_balanced_accuracy) };
}

function derOf(before: DefenceSideView, after: DefenceSideView): number | null {
  if (before.asr === null || after.asr === null || before.clean_auroc === null || after.clean_auroc === null) return null;
  return defenceEffect({ asr: before.asr, clean_auroc: before.clean_auroc, clean_balanced_accuracy: NaN }, { asr: after.asr, clean_auroc: after.clean_auroc, clean_balanced_accuracy: NaN }).der;
}

const empty = (kind: string): DefenceView => ({ kind, before: null, after: null, control_after: null, der: null, control_der: null, removed_target_class: null, beats_control: null });

/** A defence record computed from other detector parameters than the detection record beside it (both hashed). */
export function isStaleDefence(report: unknown, defence: unknown): boolean {
  const a = obj(report).params_hash;
  const b = obj(defence).params_hash;
  return typeof a === 'string' && typeof b === 'string' && a !== b;
}

/**
 * The defence view of one method on one run. Precedence: a skip; a repair (the method's own defence, even when a
 * retrain of its flagged rows was recorded too); a retrain that removed rows; then why nothing was retrained.
 */
export function defenceViewOf(method: string, report: unknown, defence: unknown): DefenceView {
  if (!report) return empty('not run');
  const r = obj(report);
  if (typeof r.skipped === 'string') return empty(`skipped: ${r.skipped}`);
  const repairSpec = REPAIRS[method];
  const repair = obj(obj(r.details).repair);
  if (repairSpec && repair.before) {
    const before = sideOf(repair.before)!;
    const after = sideOf(repair[repairSpec.after]);
    const control = sideOf(repair[repairSpec.control]);
    const der = after ? derOf(before, after) : null;
    const controlDer = control ? derOf(before, control) : null;
    return {
      kind: repairSpec.kind,
      before,
      after,
      control_after: control,
      der,
      control_der: controlDer,
      removed_target_class: null,
      beats_control: after && control ? beatsControl({ asr_after: after.asr, der }, { asr_after: control.asr, der: controlDer }) : null,
    };
  }
  if (!defence) return empty('no retrain: run without --defend');
  if (isStaleDefence(report, defence)) return empty('no retrain: the defence record is of other detector parameters (rerun with --defend)');
  const d = obj(defence);
  // Records from before `retrained` was written retrained exactly when rows were flagged.
  const retrained = typeof d.retrained === 'boolean' ? d.retrained : num(d.flagged) !== 0;
  if (!retrained) return { ...empty('no retrain: the detector flagged no training rows'), before: sideOf(d.before) };
  return {
    kind: 'retrain',
    before: sideOf(d.before),
    after: sideOf(d.after),
    control_after: sideOf(obj(d.control).after),
    der: num(obj(d.effect).der),
    control_der: num(obj(obj(d.control).effect).der),
    removed_target_class: num(d.removed_target_class),
    beats_control: typeof d.beats_control === 'boolean' ? d.beats_control : null,
  };
}
