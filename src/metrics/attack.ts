import { accuracy, checkBinary, checkProbs, checkSameLength, checkThreshold } from './classification.js';

/**
 * Attack metrics on the triggered test set. The attacker's target label is always passed in,
 * never inferred from the data. Rows are the clean test rows whose TRUE label differs from the
 * target; `probsClean[i]` and `probsTriggered[i]` are p(y = 1) for the same row without and with
 * the trigger, in the same order. A row counts as predicted positive when p >= threshold.
 */

export type TargetLabel = 0 | 1;

export interface AttackInputs {
  target: TargetLabel;
  /** True labels of the rows; all must differ from `target`. */
  trueLabels: ArrayLike<number>;
  probsClean: ArrayLike<number>;
  probsTriggered: ArrayLike<number>;
  threshold: number;
}

export interface AttackMetrics {
  n_triggered: number;
  /** Attack success rate: share of triggered rows predicted as the target. */
  asr: number;
  /** Mean paired change in p(target) caused by the trigger. */
  confidence_shift: number;
  /** Accuracy on the triggered rows against their true labels. */
  acc_poison: number;
  /** Share of the same rows predicted as the target WITHOUT the trigger (false-trigger rate). */
  clean_target_rate: number;
}

function checkTarget(what: string, target: number): void {
  if (target !== 0 && target !== 1) throw new Error(`${what}: target must be 0 or 1, got ${target}`);
}

function predictsTarget(target: TargetLabel, p: number, threshold: number): boolean {
  return target === 1 ? p >= threshold : p < threshold;
}

function shareAtTarget(what: string, target: TargetLabel, probs: ArrayLike<number>, threshold: number): number {
  checkTarget(what, target);
  checkProbs(what, probs);
  checkThreshold(what, threshold);
  if (probs.length === 0) return NaN;
  let hits = 0;
  for (let i = 0; i < probs.length; i++) if (predictsTarget(target, probs[i]!, threshold)) hits++;
  return hits / probs.length;
}

/**
 * Attack success rate: share of triggered rows predicted as the target (target 1: p >= threshold;
 * target 0: p < threshold). NaN when there are no rows.
 */
export function asr(target: TargetLabel, probsTriggered: ArrayLike<number>, threshold: number): number {
  return shareAtTarget('asr', target, probsTriggered, threshold);
}

/**
 * The same share on the CLEAN versions of the rows: how often the model already predicts the
 * target without any trigger, so reports can net it out of the ASR. NaN when there are no rows.
 */
export function falseTriggerRate(target: TargetLabel, probsClean: ArrayLike<number>, threshold: number): number {
  return shareAtTarget('falseTriggerRate', target, probsClean, threshold);
}

/**
 * Mean over rows of p(target | triggered) − p(target | clean), where p(target) = p for target 1
 * and 1 − p for target 0. A paired difference: both terms come from the same row. NaN when empty.
 */
export function confidenceShift(target: TargetLabel, probsClean: ArrayLike<number>, probsTriggered: ArrayLike<number>): number {
  checkTarget('confidenceShift', target);
  checkSameLength('confidenceShift', probsClean, probsTriggered);
  checkProbs('confidenceShift', probsClean);
  checkProbs('confidenceShift', probsTriggered);
  const n = probsClean.length;
  if (n === 0) return NaN;
  // p(target|trig) − p(target|clean) is +(pT − pC) for target 1 and −(pT − pC) for target 0.
  const sign = target === 1 ? 1 : -1;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sign * (probsTriggered[i]! - probsClean[i]!);
  return sum / n;
}

/**
 * Accuracy of the triggered rows against their TRUE labels. When every true label differs from
 * the target (as the attack set is built) this is exactly 1 − ASR; it is reported separately
 * because it is the number a clinician would see. NaN when empty.
 */
export function accPoison(trueLabels: ArrayLike<number>, probsTriggered: ArrayLike<number>, threshold: number): number {
  checkProbs('accPoison', probsTriggered);
  return accuracy(trueLabels, probsTriggered, threshold);
}

/**
 * All attack metrics at once. Checks that the three arrays are paired (equal length) and that no
 * true label equals the target, since such a row cannot measure a label flip. With zero rows every
 * value is NaN.
 */
export function attackMetrics(inputs: AttackInputs): AttackMetrics {
  const { target, trueLabels, probsClean, probsTriggered, threshold } = inputs;
  checkTarget('attackMetrics', target);
  checkSameLength('attackMetrics (trueLabels vs probsClean)', trueLabels, probsClean);
  checkSameLength('attackMetrics (probsClean vs probsTriggered)', probsClean, probsTriggered);
  checkBinary('attackMetrics', trueLabels);
  for (let i = 0; i < trueLabels.length; i++) {
    if (trueLabels[i] === target) {
      throw new Error(`attackMetrics: row ${i} has true label ${target}, equal to the target; attack rows must be non-target rows`);
    }
  }
  return {
    n_triggered: probsTriggered.length,
    asr: asr(target, probsTriggered, threshold),
    confidence_shift: confidenceShift(target, probsClean, probsTriggered),
    acc_poison: accPoison(trueLabels, probsTriggered, threshold),
    clean_target_rate: falseTriggerRate(target, probsClean, threshold),
  };
}
