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
    n,
    n_poisoned: nPoisoned,
    auroc: auroc(isPoisoned, scores),
    auprc: auprc(isPoisoned, scores),
    tpr_at_fpr_1pct: tprAtFpr(isPoisoned, scores, 0.01),
    tpr_at_fpr_5pct: tprAtFpr(isPoisoned, scores, 0.05),
    flagged: nFlagged,
    precision: nFlagged === 0 ? 0 : flaggedPoisoned / nFlagged,
    recall: flaggedPoisoned / nPoisoned,
  };
}
