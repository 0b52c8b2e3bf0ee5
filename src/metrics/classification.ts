import { ece } from './calibration.js';

/**
 * Classification metrics for a binary outcome (in-hospital mortality: 1 = died).
 *
 * Conventions shared by every function here:
 * - `labels` hold 0/1 and nothing else; `probs` hold p(y = 1) in [0, 1]; `scores` may be any
 *   non-NaN number where larger means "more positive" (they need not be probabilities).
 * - A row is predicted positive when p >= threshold.
 * - Bad input (length mismatch, a label that is not 0/1, a NaN score, a probability outside
 *   [0, 1]) throws; a metric that is undefined on valid input (e.g. AUROC with one class)
 *   returns NaN so callers can report "not applicable".
 */

export interface Confusion {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

export interface PrecisionRecallF1 {
  precision: number;
  recall: number;
  f1: number;
}

/** A fixed threshold, or a rule that picks one on (validation) data. */
export type ThresholdRule = number | 'max_f1' | 'youden';

export interface ClassificationMetrics {
  n: number;
  n_pos: number;
  prevalence: number;
  accuracy: number;
  auroc: number;
  auprc: number;
  brier: number;
  ece: number;
  precision: number;
  recall: number;
  f1: number;
  threshold: number;
}

// ---------------------------------------------------------------------------------------------
// Input checks (exported for the sibling metric modules; not part of the public index).

export function checkSameLength(what: string, a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length) {
    throw new Error(`${what}: length mismatch (${a.length} vs ${b.length})`);
  }
}

export function checkBinary(what: string, labels: ArrayLike<number>): void {
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (y !== 0 && y !== 1) throw new Error(`${what}: label at row ${i} is ${y}, expected 0 or 1`);
  }
}

export function checkScores(what: string, scores: ArrayLike<number>): void {
  for (let i = 0; i < scores.length; i++) {
    if (Number.isNaN(scores[i])) throw new Error(`${what}: score at row ${i} is NaN`);
  }
}

export function checkProbs(what: string, probs: ArrayLike<number>): void {
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i];
    if (!(p >= 0 && p <= 1)) throw new Error(`${what}: probability at row ${i} is ${p}, expected a value in [0, 1]`);
  }
}

export function checkThreshold(what: string, threshold: number): void {
  if (!Number.isFinite(threshold)) throw new Error(`${what}: threshold must be a finite number, got ${threshold}`);
}

function countPositives(labels: ArrayLike<number>): number {
  let k = 0;
  for (let i = 0; i < labels.length; i++) k += labels[i];
  return k;
}

/** Row indices ordered by score, descending (stable, so equal scores keep row order). */
function orderDescending(scores: ArrayLike<number>): Uint32Array {
  const idx = new Uint32Array(scores.length);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  idx.sort((a, b) => scores[b] - scores[a] || a - b);
  return idx;
}

/**
 * Cumulative counts at each distinct score, from the highest score down: entry k says how many
 * positives (tp) and negatives (fp) have score >= thresholds[k]. Rows with equal scores enter
 * together, so a threshold never splits a tie.
 */
export interface ThresholdSweep {
  thresholds: Float64Array;
  tp: Float64Array;
  fp: Float64Array;
  nPos: number;
  nNeg: number;
}

export function sweepThresholds(labels: ArrayLike<number>, scores: ArrayLike<number>): ThresholdSweep {
  const order = orderDescending(scores);
  const thresholds: number[] = [];
  const tp: number[] = [];
  const fp: number[] = [];
  let cTp = 0;
  let cFp = 0;
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!;
    if (labels[i] === 1) cTp++;
    else cFp++;
    const next = k + 1 < order.length ? scores[order[k + 1]!] : undefined;
    if (next === undefined || next !== scores[i]) {
      thresholds.push(scores[i]!);
      tp.push(cTp);
      fp.push(cFp);
    }
  }
  return {
    thresholds: Float64Array.from(thresholds),
    tp: Float64Array.from(tp),
    fp: Float64Array.from(fp),
    nPos: cTp,
    nNeg: cFp,
  };
}

// ---------------------------------------------------------------------------------------------
// Ranking metrics.

/**
 * Area under the ROC curve, computed as the Mann–Whitney U statistic divided by n_pos · n_neg:
 * the probability that a random positive scores above a random negative, with ties counted 1/2
 * (average ranks). NaN when either class is absent.
 */
export function auroc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  checkSameLength('auroc', labels, scores);
  checkBinary('auroc', labels);
  checkScores('auroc', scores);
  const n = labels.length;
  const nPos = countPositives(labels);
  const nNeg = n - nPos;
  if (nPos === 0 || nNeg === 0) return NaN;

  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  idx.sort((a, b) => scores[a]! - scores[b]! || a - b);

  // Sum of 1-based ranks of the positives; a tied block of ranks r..s gets (r + s) / 2 each.
  let rankSumPos = 0;
  let start = 0;
  while (start < n) {
    let end = start;
    while (end + 1 < n && scores[idx[end + 1]!] === scores[idx[start]!]) end++;
    const avgRank = (start + 1 + end + 1) / 2;
    for (let k = start; k <= end; k++) if (labels[idx[k]!] === 1) rankSumPos += avgRank;
    start = end + 1;
  }
  const u = rankSumPos - (nPos * (nPos + 1)) / 2;
  return u / (nPos * nNeg);
}

/**
 * Area under the precision–recall curve as AVERAGE PRECISION (the step-wise sum used by
 * scikit-learn's `average_precision_score`), not the trapezoidal area, which interpolates
 * linearly between PR points and is optimistic:
 *
 *   AP = Σ_k (R_k − R_{k−1}) · P_k,   R_0 = 0,
 *
 * over the distinct scores in descending order; rows sharing a score form one threshold.
 * Defined whenever there is at least one positive (all-positive data gives 1); NaN with none.
 */
export function auprc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  checkSameLength('auprc', labels, scores);
  checkBinary('auprc', labels);
  checkScores('auprc', scores);
  const s = sweepThresholds(labels, scores);
  if (s.nPos === 0) return NaN;
  let ap = 0;
  let prevRecall = 0;
  for (let k = 0; k < s.thresholds.length; k++) {
    const tp = s.tp[k]!;
    const recall = tp / s.nPos;
    if (recall > prevRecall) {
      ap += (recall - prevRecall) * (tp / (tp + s.fp[k]!));
      prevRecall = recall;
    }
  }
  return ap;
}

// ---------------------------------------------------------------------------------------------
// Probability and threshold metrics.

/** Mean squared difference between p(y = 1) and the 0/1 outcome (Brier 1950). NaN when empty. */
export function brier(labels: ArrayLike<number>, probs: ArrayLike<number>): number {
  checkSameLength('brier', labels, probs);
  checkBinary('brier', labels);
  checkProbs('brier', probs);
  const n = labels.length;
  if (n === 0) return NaN;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const d = probs[i]! - labels[i]!;
    sum += d * d;
  }
  return sum / n;
}

/** Confusion counts when a row is predicted positive iff p >= threshold. */
export function confusionAt(labels: ArrayLike<number>, probs: ArrayLike<number>, threshold: number): Confusion {
  checkSameLength('confusionAt', labels, probs);
  checkBinary('confusionAt', labels);
  checkScores('confusionAt', probs);
  checkThreshold('confusionAt', threshold);
  const c: Confusion = { tp: 0, fp: 0, tn: 0, fn: 0 };
  for (let i = 0; i < labels.length; i++) {
    const predPos = probs[i]! >= threshold;
    if (labels[i] === 1) {
      if (predPos) c.tp++;
      else c.fn++;
    } else if (predPos) c.fp++;
    else c.tn++;
  }
  return c;
}

/** Share of rows whose prediction (p >= threshold → 1) equals the label. NaN when empty. */
export function accuracy(labels: ArrayLike<number>, probs: ArrayLike<number>, threshold: number): number {
  const c = confusionAt(labels, probs, threshold);
  const n = c.tp + c.fp + c.tn + c.fn;
  return n === 0 ? NaN : (c.tp + c.tn) / n;
}

/**
 * Precision tp/(tp+fp), recall tp/(tp+fn) and F1 = 2tp/(2tp+fp+fn) (equal to the harmonic mean
 * of precision and recall whenever that is defined). Every 0/0 is reported as 0 — no positive
 * predictions gives precision 0, no positive rows gives recall 0 — matching scikit-learn's
 * `zero_division=0`, so a model that never fires scores F1 = 0 instead of NaN.
 */
export function precisionRecallF1(labels: ArrayLike<number>, probs: ArrayLike<number>, threshold: number): PrecisionRecallF1 {
  return prf1FromConfusion(confusionAt(labels, probs, threshold));
}

function prf1FromConfusion(c: Confusion): PrecisionRecallF1 {
  const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b);
  return {
    precision: ratio(c.tp, c.tp + c.fp),
    recall: ratio(c.tp, c.tp + c.fn),
    f1: ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn),
  };
}

/**
 * Resolves a threshold rule on the given (validation) data:
 * - a number: returned as is (must be finite);
 * - 'max_f1': the distinct predicted probability t maximizing F1 of the rule p >= t;
 * - 'youden': the distinct predicted probability t maximizing Youden's J = TPR − FPR
 *   (Youden 1950).
 * Ties go to the LARGEST such threshold: at equal validation score it raises the fewest alarms,
 * and it never resolves a tie to the degenerate "flag every row" threshold (the smallest p).
 * 'max_f1' needs at least one positive row and 'youden' both classes; otherwise it throws,
 * since any threshold would be arbitrary.
 */
export function chooseThreshold(labels: ArrayLike<number>, probs: ArrayLike<number>, rule: ThresholdRule): number {
  if (typeof rule === 'number') {
    checkThreshold('chooseThreshold', rule);
    return rule;
  }
  checkSameLength('chooseThreshold', labels, probs);
  checkBinary('chooseThreshold', labels);
  checkProbs('chooseThreshold', probs);
  const s = sweepThresholds(labels, probs);
  if (rule === 'max_f1') {
    if (s.nPos === 0) throw new Error("chooseThreshold: 'max_f1' needs at least one positive row");
  } else if (rule === 'youden') {
    if (s.nPos === 0 || s.nNeg === 0) throw new Error("chooseThreshold: 'youden' needs both classes");
  } else {
    throw new Error(`chooseThreshold: unknown rule ${String(rule)}; expected a number, 'max_f1' or 'youden'`);
  }
  // Thresholds run from largest to smallest, so a strict '>' keeps the largest among ties.
  let best = -Infinity;
  let bestT = NaN;
  for (let k = 0; k < s.thresholds.length; k++) {
    const tp = s.tp[k]!;
    const fp = s.fp[k]!;
    const value =
      rule === 'max_f1' ? (2 * tp) / (2 * tp + fp + (s.nPos - tp)) : tp / s.nPos - fp / s.nNeg;
    if (value > best) {
      best = value;
      bestT = s.thresholds[k]!;
    }
  }
  return bestT;
}

/** All headline classification metrics at one (already chosen) threshold. */
export function classificationMetrics(labels: ArrayLike<number>, probs: ArrayLike<number>, threshold: number): ClassificationMetrics {
  checkSameLength('classificationMetrics', labels, probs);
  checkBinary('classificationMetrics', labels);
  checkProbs('classificationMetrics', probs);
  checkThreshold('classificationMetrics', threshold);
  const n = labels.length;
  const nPos = countPositives(labels);
  const c = confusionAt(labels, probs, threshold);
  const prf = prf1FromConfusion(c);
  return {
    n,
    n_pos: nPos,
    prevalence: n === 0 ? NaN : nPos / n,
    accuracy: n === 0 ? NaN : (c.tp + c.tn) / n,
    auroc: auroc(labels, probs),
    auprc: auprc(labels, probs),
    brier: brier(labels, probs),
    ece: ece(labels, probs),
    precision: prf.precision,
    recall: prf.recall,
    f1: prf.f1,
    threshold,
  };
}
