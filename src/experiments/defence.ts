import { deriveRng } from '../engine/rng.js';
import { balancedAccuracy, BEATS_CONTROL_RULE, beatsControl, defenceEffect } from '../metrics/defence.js';
import type { DefenceArmEffect, DefenceReport, DefenceSide, DefenceTraining } from '../runs/detection-records.js';
import { predictProba, trainModel } from '../train/trainer.js';
import type { RunContext } from './load-run.js';
import { evaluateModelWithPredictions, prepareRun, type PreparedRun } from './prepare.js';
import type { BuiltModel } from '../models/types.js';

/**
 * A defence removes the rows a detector flagged and retrains the run's config with the same seed. Removing rows
 * can lower the ASR on its own (fewer poisoned rows by chance, a weaker fit), so every defence is run beside a
 * random-removal control: as many rows, with the same class mix as the flags, drawn at random within each class
 * (seeded from the run's seed), retrained alike. metrics/defence.ts beatsControl says which of the two won.
 */
const CONTROL_RULE = 'uniformly at random within each training label, as many rows per label as the defence flagged (seeded from the run seed)';

function count(mask: Uint8Array): number {
  let k = 0;
  for (const v of mask) k += v;
  return k;
}

function countWhere(mask: Uint8Array, pick: (i: number) => boolean): number {
  let k = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i] === 1 && pick(i)) k++;
  return k;
}

/**
 * Rows to remove for the control: per training label, as many rows as `flagged` holds of that label, drawn
 * uniformly without replacement among all rows of that label (flagged or not).
 */
export function randomRemovalMask(flagged: Uint8Array, labels: ArrayLike<number>, seed: number | string, method: string): Uint8Array {
  if (flagged.length !== labels.length) throw new Error(`randomRemovalMask: ${flagged.length} flags for ${labels.length} labels`);
  const out = new Uint8Array(flagged.length);
  const rng = deriveRng(seed, 'defence-control', method);
  for (const value of [0, 1]) {
    const rows: number[] = [];
    let k = 0;
    for (let i = 0; i < labels.length; i++) {
      if (labels[i] !== value) continue;
      rows.push(i);
      k += flagged[i]!;
    }
    for (const i of rng.sample(rows, k)) out[i] = 1;
  }
  return out;
}

/** A model's side of a defence record: its clean test metrics, balanced accuracy at its threshold, and ASR. */
export function defenceSideOf(model: BuiltModel, prepared: PreparedRun, run: RunContext): DefenceSide {
  const { evaluation, predictions } = evaluateModelWithPredictions(model, prepared, run.dataset, run.config);
  return {
    clean_auroc: evaluation.clean.auroc,
    clean_accuracy: evaluation.clean.accuracy,
    clean_balanced_accuracy: balancedAccuracy(run.dataset.test.labels, predictions.clean, evaluation.clean.threshold),
    asr: evaluation.attack ? evaluation.attack.asr : null,
    threshold: evaluation.clean.threshold,
  };
}

/** The run's own model: its metrics as recorded, its balanced accuracy from its test predictions. */
export function sideBefore(run: RunContext): DefenceSide {
  const m = run.metrics;
  const probs = predictProba(run.model, run.prepared.featurize(run.dataset.test));
  return {
    clean_auroc: m.clean.auroc,
    clean_accuracy: m.clean.accuracy,
    clean_balanced_accuracy: balancedAccuracy(run.dataset.test.labels, probs, m.clean.threshold),
    asr: m.attack ? m.attack.asr : null,
    threshold: m.clean.threshold,
  };
}

/** Retrains the run's config, same seed, without the `drop` rows; the run's own side when nothing is dropped. */
async function retrainWithout(run: RunContext, drop: Uint8Array, before: DefenceSide): Promise<{ after: DefenceSide; training: DefenceTraining; n: number }> {
  if (count(drop) === 0) return { after: before, training: null, n: drop.length };
  const prepared = prepareRun(run.config, run.dataset, undefined, { dropTrainRows: drop });
  const model = prepared.modelSpec.build(prepared.trainFeatures.rowShape, prepared.modelConfig, run.config.seed, prepared.trainFeatures);
  try {
    const trained = await trainModel({
      model,
      train: prepared.trainFeatures,
      trainLabels: prepared.poisoned.cohort.labels,
      val: prepared.valFeatures,
      valLabels: run.dataset.val.labels,
      config: run.config.train,
      seed: run.config.seed,
    });
    const after = defenceSideOf(model, prepared, run);
    return { after, training: { best_epoch: trained.bestEpoch, epochs_run: trained.epochsRun, best_val_auroc: trained.bestValAuroc }, n: prepared.trainFeatures.n };
  } finally {
    model.dispose();
  }
}

function effectOf(before: DefenceSide, after: DefenceSide): DefenceArmEffect {
  const hasAttack = before.asr !== null && after.asr !== null;
  const e = defenceEffect(
    { asr: before.asr ?? 0, clean_auroc: before.clean_auroc, clean_balanced_accuracy: before.clean_balanced_accuracy },
    { asr: after.asr ?? 0, clean_auroc: after.clean_auroc, clean_balanced_accuracy: after.clean_balanced_accuracy },
  );
  return {
    asr_drop: hasAttack ? e.asr_drop : null,
    clean_accuracy_change: after.clean_accuracy - before.clean_accuracy,
    clean_auroc_change: e.clean_auroc_change,
    clean_balanced_accuracy_change: e.clean_balanced_accuracy_change,
    utility_loss: e.utility_loss,
    der: hasAttack ? e.der : null,
  };
}

function fmt(x: number | null): string {
  return x === null ? '—' : x.toFixed(3);
}

/** Retrains without the flagged rows and without the random-removal control's rows, and compares both with the run. */
export async function defend(run: RunContext, method: string, paramsHash: string, flagged: Uint8Array, log: (line: string) => void = () => {}): Promise<DefenceReport> {
  const labels = run.prepared.poisoned.cohort.labels;
  const target = run.config.poison.target;
  const poisoned = run.poisonedMask;
  const before = sideBefore(run);
  const nFlagged = count(flagged);
  const flaggedPoisoned = countWhere(flagged, (i) => poisoned[i] === 1);
  const poisonedBefore = count(poisoned);
  const defence = await retrainWithout(run, flagged, before);
  const controlMask = randomRemovalMask(flagged, labels, run.config.seed, method);
  const control = await retrainWithout(run, controlMask, before);
  const effect = effectOf(before, defence.after);
  const controlEffect = effectOf(before, control.after);
  if (nFlagged > 0) {
    log(
      `${method} defence: retrained on ${defence.n} rows; ASR ${fmt(before.asr)} → ${fmt(defence.after.asr)} (random-removal control ${fmt(control.after.asr)}), ` +
        `clean AUROC ${fmt(before.clean_auroc)} → ${fmt(defence.after.clean_auroc)} (control ${fmt(control.after.clean_auroc)})`,
    );
  }
  const controlRecord = {
    rule: CONTROL_RULE,
    removed: count(controlMask),
    removed_poisoned: countWhere(controlMask, (i) => poisoned[i] === 1),
    removed_target_class: countWhere(controlMask, (i) => labels[i] === target),
    retrained: nFlagged > 0,
    after: control.after,
    effect: controlEffect,
    training: control.training,
  };
  return {
    method,
    params_hash: paramsHash,
    n_train: flagged.length,
    target,
    n_target_class: labels.reduce((k, y) => k + (y === target ? 1 : 0), 0),
    flagged: nFlagged,
    flagged_poisoned: flaggedPoisoned,
    removed_target_class: countWhere(flagged, (i) => labels[i] === target),
    poisoned_before: poisonedBefore,
    poisoned_after: poisonedBefore - flaggedPoisoned,
    retrained: nFlagged > 0,
    before,
    after: defence.after,
    effect,
    training: defence.training,
    control: controlRecord,
    beats_control: nFlagged === 0 ? (before.asr === null ? null : false) : beatsControl({ asr_after: defence.after.asr, der: effect.der }, { asr_after: control.after.asr, der: controlEffect.der }),
    beats_control_rule: BEATS_CONTROL_RULE,
  };
}
