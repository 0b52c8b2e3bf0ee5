/**
 * The parts of a detection record's `details` the report shows (issue 13): the model repair of fine-pruning and
 * ABL (`details.repair`, experiments/repair.ts) and STRIP's test-time detection (`details.test_detection`,
 * experiments/method-reports.ts). Read defensively: a record without them, or of an older layout, gives null.
 */

/** One state of the repaired (or control) model. */
export interface RepairSideRecord {
  asr: number | null;
  clean_auroc: number | null;
  clean_balanced_accuracy: number | null;
}

export interface RepairRecord {
  before: RepairSideRecord;
  /** The repaired states in the order written: after_pruning, after_fine_tuning (fine_pruning); after_unlearning (abl). */
  stages: { stage: string; side: RepairSideRecord }[];
  /** The control as written: control_fine_tuned (no-op: fine-tuning without pruning), control_unlearning (random rows). */
  control: { name: string; side: RepairSideRecord } | null;
  /** ABL: share of isolated rows that were poisoned. */
  isolation_precision: number | null;
  seconds: number | null;
}

export interface TestDetectionRecord {
  n_clean: number | null;
  n_triggered: number | null;
  auroc: number | null;
  tpr_at_fpr_1pct: number | null;
  tpr_at_fpr_5pct: number | null;
  tpr_at_threshold: number | null;
  frr_test_at_threshold: number | null;
}

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function objectOf(value: unknown): Record<string, unknown> | null {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

function sideOf(raw: unknown): RepairSideRecord | null {
  const obj = objectOf(raw);
  return obj ? { asr: num(obj.asr), clean_auroc: num(obj.clean_auroc), clean_balanced_accuracy: num(obj.clean_balanced_accuracy) } : null;
}

export function parseRepair(details: unknown): RepairRecord | null {
  const repair = objectOf(objectOf(details)?.repair);
  const before = sideOf(repair?.before);
  if (!repair || !before) return null;
  const stages: RepairRecord['stages'] = [];
  let control: RepairRecord['control'] = null;
  for (const [name, value] of Object.entries(repair)) {
    const side = sideOf(value);
    if (!side) continue;
    if (name.startsWith('after_')) stages.push({ stage: name, side });
    else if (name.startsWith('control_') && control === null) control = { name, side };
  }
  return { before, stages, control, isolation_precision: num(repair.isolation_precision), seconds: num(repair.seconds) };
}

export function parseTestDetection(details: unknown): TestDetectionRecord | null {
  const t = objectOf(objectOf(details)?.test_detection);
  if (!t) return null;
  return {
    n_clean: num(t.n_clean),
    n_triggered: num(t.n_triggered),
    auroc: num(t.auroc),
    tpr_at_fpr_1pct: num(t.tpr_at_fpr_1pct),
    tpr_at_fpr_5pct: num(t.tpr_at_fpr_5pct),
    tpr_at_threshold: num(t.tpr_at_threshold),
    frr_test_at_threshold: num(t.frr_test_at_threshold),
  };
}
