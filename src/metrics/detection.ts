import { auprc, auroc, checkBinary, checkSameLength, checkScores, sweepThresholds } from './classification.js';

/**
 * Scores a poisoning detector against the TRUE poisoned mask of the training set.
 *
 * - `isPoisoned[i]` is 1 when training row i was poisoned, else 0 (the positive class).
 * - `scores[i]` is the detector's suspicion for row i; larger means more suspicious.
 * - `flagged[i]` is 1 when the detector's own decision rule removed/flagged row i.
 *
 * Definitions:
 * - auroc, auprc: as in classification.ts (AUROC with ties counted 1/2; AUPRC is average
 *   precision), poisoned = positive.
 * - tpr_at_fpr_1pct / _5pct: the largest share of poisoned rows caught by any rule
 *   "flag rows with score >= t" whose share of flagged clean rows is <= 1% / 5%. A threshold
 *   flags every row with a score >= it, so tied rows are flagged together and a tie is never
 *   split in the detector's favour. t = +∞ (flag nothing, TPR 0) is always allowed.
 *   NaN when there are no clean rows.
 * - flagged: number of flagged rows; precision = poisoned flagged / flagged,
 *   recall = poisoned flagged / poisoned (0/0 → 0 as in classification.ts).
 * A clean run (no poisoned rows) is reported as not applicable rather than as NaNs.
 */

export interface DetectionMetrics {
  applicable: true;
  n: number;
  n_poisoned: number;
  auroc: number;
  auprc: number;
  tpr_at_fpr_1pct: number;
  tpr_at_fpr_5pct: number;
  flagged: number;
  precision: number;
  recall: number;
}

export interface DetectionNotApplicable {
  applicable: false;
  reason: string;
}

export type DetectionResult = DetectionMetrics | DetectionNotApplicable;

function checkMask(what: string, mask: Uint8Array): void {
  for (let i = 0; i < mask.length; i++) {
    if (mask[i] !== 0 && mask[i] !== 1) throw new Error(`${what}: mask value at row ${i} is ${mask[i]}, expected 0 or 1`);
  }
}

/**
 * Largest TPR over score thresholds whose FPR is <= maxFpr (see the module comment).
 * NaN when either class is absent.
 */
export function tprAtFpr(isPositive: ArrayLike<number>, scores: ArrayLike<number>, maxFpr: number): number {
  checkSameLength('tprAtFpr', isPositive, scores);
  checkBinary('tprAtFpr', isPositive);
  checkScores('tprAtFpr', scores);
  if (!(maxFpr >= 0 && maxFpr <= 1)) throw new Error(`tprAtFpr: maxFpr must be in [0, 1], got ${maxFpr}`);
  const s = sweepThresholds(isPositive, scores);
  if (s.nPos === 0 || s.nNeg === 0) return NaN;
  let best = 0;
  for (let k = 0; k < s.thresholds.length; k++) {
    // fp grows monotonically as the threshold falls, so the first violation ends the search.
    if (s.fp[k]! / s.nNeg > maxFpr) break;
    best = s.tp[k]! / s.nPos;
  }
  return best;
}

export function detectionMetrics(isPoisoned: Uint8Array, scores: ArrayLike<number>, flagged: Uint8Array): DetectionResult {
  checkSameLength('detectionMetrics (isPoisoned vs scores)', isPoisoned, scores);
  checkSameLength('detectionMetrics (isPoisoned vs flagged)', isPoisoned, flagged);
  checkMask('detectionMetrics (isPoisoned)', isPoisoned);
  checkMask('detectionMetrics (flagged)', flagged);
  checkScores('detectionMetrics', scores);
  const n = isPoisoned.length;
  let nPoisoned = 0;
  let nFlagged = 0;
  let flaggedPoisoned = 0;
  for (let i = 0; i < n; i++) {
    nPoisoned += isPoisoned[i]!;
    nFlagged += flagged[i]!;
    if (isPoisoned[i] === 1 && flagged[i] === 1) flaggedPoisoned++;
  }
  if (nPoisoned === 0) return { applicable: false, reason: 'no poisoned rows (clean run)' };
  return {
    applicable: true,
    ...rankingMetrics(isPoisoned, scores),
    flagged: nFlagged,
    precision: nFlagged === 0 ? 0 : flaggedPoisoned / nFlagged,
    recall: flaggedPoisoned / nPoisoned,
  };
}

/** The threshold-free figures of a detector's scores over a set of rows, poisoned = positive (module comment). */
export interface RankingMetrics {
  n: number;
  n_poisoned: number;
  auroc: number;
  auprc: number;
  tpr_at_fpr_1pct: number;
  tpr_at_fpr_5pct: number;
}

export function rankingMetrics(isPoisoned: ArrayLike<number>, scores: ArrayLike<number>): RankingMetrics {
  let nPoisoned = 0;
  for (let i = 0; i < isPoisoned.length; i++) nPoisoned += isPoisoned[i]!;
  return {
    n: isPoisoned.length,
    n_poisoned: nPoisoned,
    auroc: auroc(isPoisoned, scores),
    auprc: auprc(isPoisoned, scores),
    tpr_at_fpr_1pct: tprAtFpr(isPoisoned, scores, 0.01),
    tpr_at_fpr_5pct: tprAtFpr(isPoisoned, scores, 0.05),
  };
}

/** What a detector's own flagging rule did, over all training rows. */
export interface FlagRuleMetrics {
  flagged: number;
  /** Flagged rows that were poisoned. */
  true_positives: number;
  /** Flagged rows that were clean. */
  false_alarms: number;
  /** true_positives / flagged (0 when nothing is flagged). */
  precision: number;
  /** true_positives / poisoned rows. */
  recall: number;
  /** Flagged rows carrying the target label: what a removal defence takes out of that class. */
  flagged_target_class: number;
  /** Rows carrying the target label, for the share flagged_target_class / n_target_class. */
  n_target_class: number;
}

export interface TargetClassDetection {
  applicable: true;
  /** Headline: poisoned vs clean rows among those carrying the target label, what a defender inspecting that class faces. */
  target_class: RankingMetrics;
  /** Secondary: all training rows ranked together, where any score that tracks the label already separates dirty-label poison. */
  all_rows: RankingMetrics;
  rule: FlagRuleMetrics;
}

export interface TargetClassDetectionInput {
  /** 1 for each poisoned training row (the ground truth), else 0. */
  isPoisoned: Uint8Array;
  /** The detector's suspicion per row; larger is more suspicious. */
  scores: ArrayLike<number>;
  /** 1 for each row the detector's own rule flagged. */
  flagged: Uint8Array;
  /** The labels as the training split carries them (after any relabelling by the poisoning). */
  observedLabels: ArrayLike<number>;
  /** The attacker's target label; every poisoned row carries it (dirty-label relabels to it, clean-label draws from it). */
  target: 0 | 1;
}

/**
 * Detection figures within the target class (headline), over all rows (secondary) and for the detector's flagging
 * rule. Each ranking block uses the definitions of the module comment. Within the target class a score that only
 * reflects the observed label is constant, so it ties everywhere and scores AUROC 0.5 and TPR 0 at any FPR < 100%.
 * A clean run is not applicable.
 */
export function targetClassDetectionMetrics(input: TargetClassDetectionInput): TargetClassDetection | DetectionNotApplicable {
  const { isPoisoned, scores, flagged, observedLabels, target } = input;
  if (target !== 0 && target !== 1) throw new Error(`targetClassDetectionMetrics: target must be 0 or 1, got ${String(target)}`);
  checkSameLength('targetClassDetectionMetrics (isPoisoned vs scores)', isPoisoned, scores);
  checkSameLength('targetClassDetectionMetrics (isPoisoned vs flagged)', isPoisoned, flagged);
  checkSameLength('targetClassDetectionMetrics (isPoisoned vs observedLabels)', isPoisoned, observedLabels);
  checkMask('targetClassDetectionMetrics (isPoisoned)', isPoisoned);
  checkMask('targetClassDetectionMetrics (flagged)', flagged);
  checkBinary('targetClassDetectionMetrics (observedLabels)', observedLabels);
  checkScores('targetClassDetectionMetrics', scores);
  const n = isPoisoned.length;
  const inClass: number[] = [];
  let nPoisoned = 0;
  let nFlagged = 0;
  let truePositives = 0;
  let flaggedInClass = 0;
  for (let i = 0; i < n; i++) {
    const carriesTarget = observedLabels[i] === target;
    if (isPoisoned[i] === 1 && !carriesTarget) {
      throw new Error(`targetClassDetectionMetrics: poisoned row ${i} carries label ${observedLabels[i]}, not the target ${target}`);
    }
    if (carriesTarget) inClass.push(i);
    nPoisoned += isPoisoned[i]!;
    nFlagged += flagged[i]!;
    if (flagged[i] === 1 && isPoisoned[i] === 1) truePositives++;
    if (flagged[i] === 1 && carriesTarget) flaggedInClass++;
  }
  if (nPoisoned === 0) return { applicable: false, reason: 'no poisoned rows (clean run)' };
  const classPoisoned = Uint8Array.from(inClass, (i) => isPoisoned[i]!);
  const classScores = Float64Array.from(inClass, (i) => scores[i]!);
  return {
    applicable: true,
    target_class: rankingMetrics(classPoisoned, classScores),
    all_rows: rankingMetrics(isPoisoned, scores),
    rule: {
      flagged: nFlagged,
      true_positives: truePositives,
      false_alarms: nFlagged - truePositives,
      precision: nFlagged === 0 ? 0 : truePositives / nFlagged,
      recall: truePositives / nPoisoned,
      flagged_target_class: flaggedInClass,
      n_target_class: inClass.length,
    },
  };
}
