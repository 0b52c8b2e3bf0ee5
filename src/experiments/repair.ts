/**
 * Model-repair defences: fine-pruning (prune, then fine-tune on the clean validation split) and anti-backdoor
 * learning's unlearning (gradient ascent on the isolated rows). Each repairs a fresh copy of the run's model and is
 * reported beside a control that does the same thing without the defence's choice: fine-tuning without pruning
 * (the no-op control), unlearning a random set of rows with the same size and class mix as the isolated one.
 */
import { trainWith, unlearningObjective, type AblParams } from '../detectors/abl.js';
import { checkPrunable, type FinePruningParams } from '../detectors/fine-pruning.js';
import { deriveRng } from '../engine/rng.js';
import type { BuiltModel } from '../models/types.js';
import type { DefenceSide } from '../runs/detection-records.js';
import { trainModel } from '../train/trainer.js';
import type { RunContext } from './load-run.js';
import { defenceSideOf, sideBefore } from './defence.js';

export function sideOf(model: BuiltModel, run: RunContext): DefenceSide {
  return defenceSideOf(model, run.prepared, run);
}

async function freshCopy(run: RunContext): Promise<BuiltModel> {
  return run.prepared.modelSpec.load(run.dir, run.prepared.modelSpec.resolveConfig(run.prepared.modelConfig));
}

async function fineTuneOnValidation(model: BuiltModel, run: RunContext, params: FinePruningParams): Promise<void> {
  await trainModel({
    model,
    train: run.prepared.valFeatures,
    trainLabels: run.dataset.val.labels,
    val: run.prepared.valFeatures,
    valLabels: run.dataset.val.labels,
    config: { ...run.config.train, epochs: params.fine_tune_epochs, learning_rate: params.fine_tune_learning_rate, patience: 0, select: 'last', checkpoints: 'none' },
    seed: `${run.config.seed}/fine-pruning`,
  });
}

function fmt(x: number | null): string {
  return x === null ? '—' : x.toFixed(3);
}

export interface FinePruningRepair {
  pruned_units: number;
  units: number;
  before: DefenceSide;
  after_pruning: DefenceSide;
  after_fine_tuning: DefenceSide;
  /** The unpruned model fine-tuned the same way. */
  control_fine_tuned: DefenceSide;
  fine_tune_epochs: number;
  seconds: number;
}

/** Prunes a copy of the run's model with `mask`, fine-tunes it on the clean validation split, and runs the no-op control. */
export async function finePruningRepair(run: RunContext, mask: Uint8Array, params: FinePruningParams, log: (line: string) => void = () => {}): Promise<FinePruningRepair> {
  const started = performance.now();
  const pruned = await freshCopy(run);
  let afterPruning: DefenceSide;
  let afterFineTuning: DefenceSide;
  try {
    checkPrunable(pruned, run.config.model.name);
    pruned.pruneUnits(mask);
    afterPruning = sideOf(pruned, run);
    await fineTuneOnValidation(pruned, run, params);
    afterFineTuning = sideOf(pruned, run);
  } finally {
    pruned.dispose();
  }
  const control = await freshCopy(run);
  let controlSide: DefenceSide;
  try {
    await fineTuneOnValidation(control, run, params);
    controlSide = sideOf(control, run);
  } finally {
    control.dispose();
  }
  let prunedUnits = 0;
  for (const m of mask) prunedUnits += 1 - m;
  const before = sideBefore(run);
  log(
    `fine_pruning repair: ${prunedUnits}/${mask.length} units pruned; ASR ${fmt(before.asr)} → ${fmt(afterPruning.asr)} pruned → ${fmt(afterFineTuning.asr)} fine-tuned (control ${fmt(controlSide.asr)}); clean AUROC ${fmt(before.clean_auroc)} → ${fmt(afterFineTuning.clean_auroc)}`,
  );
  return {
    pruned_units: prunedUnits,
    units: mask.length,
    before,
    after_pruning: afterPruning,
    after_fine_tuning: afterFineTuning,
    control_fine_tuned: controlSide,
    fine_tune_epochs: params.fine_tune_epochs,
    seconds: (performance.now() - started) / 1000,
  };
}

/** Rows drawn at random with the seed, as many of each label as `chosen` holds of it. */
export function randomRowsLike(chosen: Uint8Array, labels: Uint8Array, seed: number | string, purpose: string): Uint8Array {
  const rng = deriveRng(seed, purpose);
  const out = new Uint8Array(chosen.length);
  for (const label of [0, 1]) {
    const pool: number[] = [];
    let want = 0;
    for (let i = 0; i < labels.length; i++) {
      if (labels[i] !== label) continue;
      pool.push(i);
      want += chosen[i];
    }
    for (const i of rng.sample(pool, want)) out[i] = 1;
  }
  return out;
}

export interface AblRepair {
  isolated: number;
  isolated_poisoned: number;
  isolation_precision: number;
  before: DefenceSide;
  after_unlearning: DefenceSide;
  /** The same unlearning on random rows with the isolated set's size and class mix. */
  control_unlearning: DefenceSide;
  unlearning_epochs: number;
  seconds: number;
}

function rowsOf(mask: Uint8Array): number[] {
  const out: number[] = [];
  mask.forEach((v, i) => v === 1 && out.push(i));
  return out;
}

async function unlearn(run: RunContext, rows: number[], params: AblParams, purpose: string): Promise<DefenceSide> {
  const model = await freshCopy(run);
  try {
    const opts = { batchSize: run.config.train.batch_size, learningRate: params.unlearning_learning_rate, seed: run.config.seed, purpose };
    trainWith(model, run.prepared.trainFeatures, run.prepared.poisoned.cohort.labels, rows, params.unlearning_epochs, opts, unlearningObjective);
    return sideOf(model, run);
  } finally {
    model.dispose();
  }
}

/** ABL's unlearning step on a copy of the run's model, with its random-rows control. */
export async function ablRepair(run: RunContext, isolated: Uint8Array, params: AblParams, log: (line: string) => void = () => {}): Promise<AblRepair> {
  const started = performance.now();
  const labels = run.prepared.poisoned.cohort.labels;
  const chosen = rowsOf(isolated);
  let hits = 0;
  for (const i of chosen) hits += run.poisonedMask[i];
  const after = await unlearn(run, chosen, params, 'abl-unlearning');
  const control = await unlearn(run, rowsOf(randomRowsLike(isolated, labels, run.config.seed, 'abl-control')), params, 'abl-unlearning');
  const before = sideBefore(run);
  log(`abl repair: isolated ${chosen.length} rows (precision ${(chosen.length ? hits / chosen.length : 0).toFixed(3)}); ASR ${fmt(before.asr)} → ${fmt(after.asr)} (control ${fmt(control.asr)}); clean AUROC ${fmt(before.clean_auroc)} → ${fmt(after.clean_auroc)}`);
  return {
    isolated: chosen.length,
    isolated_poisoned: hits,
    isolation_precision: chosen.length ? hits / chosen.length : 0,
    before,
    after_unlearning: after,
    control_unlearning: control,
    unlearning_epochs: params.unlearning_epochs,
    seconds: (performance.now() - started) / 1000,
  };
}
