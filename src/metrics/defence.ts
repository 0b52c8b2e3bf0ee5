import { confusionAt } from './classification.js';

/**
 * How much a defence (remove flagged rows, retrain) helped: the attack it removed against the clean utility it cost.
 *
 * DER keeps the form of BackdoorBench's Defence Effectiveness Rate (Wu et al. 2022, "BackdoorBench", NeurIPS Datasets
 * & Benchmarks; the form this project used with clean accuracy before):
 *   DER = [max(0, ΔASR) − max(0, ΔU) + 1] / 2,   ΔASR = ASR_before − ASR_after,
 * in [0, 1], 0.5 = no net effect. BackdoorBench's utility loss ΔU is the drop in clean accuracy at p ≥ 0.5; on a 12.5%
 * prevalence outcome a model that calls every patient a survivor keeps accuracy 0.875, so a defence that wrecks the
 * model scored DER ≈ 0.99. Here the utility is the clean AUROC, whose chance level is 0.5 at any prevalence, and ΔU is
 * the share of the model's above-chance discrimination that the defence lost:
 *   ΔU = (AUROC_before − AUROC_after) / (AUROC_before − 0.5),  clipped to [0, 1],
 * so ΔU is on the same 0-to-1 scale as ΔASR: a defence that leaves a chance-level model scores DER ≤ 0.5 (no better
 * than no defence) whatever attack it removed. (Swapping in the raw AUROC drop instead would still give such a
 * defence (1 − 0.35 + 1)/2 = 0.825 against a 100%-ASR attack on an AUROC-0.85 model.) A model with no discrimination
 * to lose (AUROC_before ≤ 0.5) has ΔU = 0. Balanced accuracy at the run's threshold is reported beside it, not in it.
 */

export interface DefenceOutcome {
  asr: number;
  clean_auroc: number;
  clean_balanced_accuracy: number;
}

export interface DefenceEffect {
  /** ASR_before − ASR_after (positive = the attack weakened). */
  asr_drop: number;
  /** AUROC_after − AUROC_before on the clean test split. */
  clean_auroc_change: number;
  /** ΔU of the module comment: share of above-chance clean AUROC lost, in [0, 1]. */
  utility_loss: number;
  clean_balanced_accuracy_change: number;
  der: number;
}

/** (TPR + TNR)/2 when p ≥ threshold predicts positive (Brodersen et al. 2010, ICPR); NaN when a class is absent. */
export function balancedAccuracy(labels: ArrayLike<number>, probs: ArrayLike<number>, threshold: number): number {
  const c = confusionAt(labels, probs, threshold);
  const pos = c.tp + c.fn;
  const neg = c.tn + c.fp;
  if (pos === 0 || neg === 0) return NaN;
  return (c.tp / pos + c.tn / neg) / 2;
}

/** ΔU of the module comment. */
export function aurocUtilityLoss(aurocBefore: number, aurocAfter: number): number {
  if (Number.isNaN(aurocBefore) || Number.isNaN(aurocAfter)) return NaN;
  const room = aurocBefore - 0.5;
  if (room <= 0) return 0;
  return Math.min(1, Math.max(0, (aurocBefore - aurocAfter) / room));
}

/** DER of the module comment. */
export function defenceEffectivenessRate(asrBefore: number, asrAfter: number, aurocBefore: number, aurocAfter: number): number {
  return (Math.max(0, asrBefore - asrAfter) - aurocUtilityLoss(aurocBefore, aurocAfter) + 1) / 2;
}

export function defenceEffect(before: DefenceOutcome, after: DefenceOutcome): DefenceEffect {
  return {
    asr_drop: before.asr - after.asr,
    clean_auroc_change: after.clean_auroc - before.clean_auroc,
    utility_loss: aurocUtilityLoss(before.clean_auroc, after.clean_auroc),
    clean_balanced_accuracy_change: after.clean_balanced_accuracy - before.clean_balanced_accuracy,
    der: defenceEffectivenessRate(before.asr, after.asr, before.clean_auroc, after.clean_auroc),
  };
}

/**
 * A defence is compared with its random-removal control (as many rows removed, same class mix, retrained alike):
 * removing rows can lower the ASR by itself. It beats the control when its ASR after retraining is at least
 * CONTROL_ASR_MARGIN below the control's and its DER is higher than the control's (a better trade of attack
 * removed against clean AUROC lost). The margin is a fixed 5 ASR points, not a test: one seed gives one pair.
 */
export const CONTROL_ASR_MARGIN = 0.05;

export const BEATS_CONTROL_RULE = `ASR after the defence ≤ ASR after its random-removal control − ${CONTROL_ASR_MARGIN}, and DER of the defence > DER of the control`;

export interface DefenceArmResult {
  asr_after: number | null;
  der: number | null;
}

/** BEATS_CONTROL_RULE; null without an attack (no ASR or DER on either arm). */
export function beatsControl(defence: DefenceArmResult, control: DefenceArmResult): boolean | null {
  if (defence.asr_after === null || control.asr_after === null || defence.der === null || control.der === null) return null;
  return defence.asr_after <= control.asr_after - CONTROL_ASR_MARGIN && defence.der > control.der;
}
