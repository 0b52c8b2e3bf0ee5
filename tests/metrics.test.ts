import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  accPoison,
  accuracy,
  asr,
  attackMetrics,
  auprc,
  auroc,
  brier,
  chooseThreshold,
  classificationMetrics,
  confidenceShift,
  confusionAt,
  detectionMetrics,
  ece,
  falseTriggerRate,
  precisionRecallF1,
  reliabilityBins,
  tprAtFpr,
} from '../src/metrics/index.js';

function close(actual: number, expected: number, tol = 1e-12): void {
  assert.ok(Math.abs(actual - expected) <= tol, `expected ${expected}, got ${actual}`);
}

// ---------------------------------------------------------------------------------------------
// AUROC

test('auroc: hand case with a positive/negative tie', () => {
  // positives: 0.35, 0.8, 0.7   negatives: 0.1, 0.4, 0.7
  // pairs won by each positive: 0.35 → 1 (beats 0.1); 0.8 → 3; 0.7 → 2 + ½ (tie with 0.7)
  // U = 6.5, AUROC = 6.5 / (3·3) = 13/18
  // rank check: ascending 0.1 r1, 0.35 r2, 0.4 r3, 0.7/0.7 r4.5, 0.8 r6;
  // positive ranks 2 + 4.5 + 6 = 12.5; U = 12.5 − 3·4/2 = 6.5
  const labels = [0, 0, 1, 1, 0, 1];
  const scores = [0.1, 0.4, 0.35, 0.8, 0.7, 0.7];
  close(auroc(labels, scores), 13 / 18);
});

test('auroc: perfect, reversed, all equal, single class', () => {
  const labels = [0, 0, 1, 1];
  assert.equal(auroc(labels, [0.1, 0.2, 0.8, 0.9]), 1);
  assert.equal(auroc(labels, [0.9, 0.8, 0.2, 0.1]), 0);
  // every pair is a tie → each counts ½
  assert.equal(auroc(labels, [0.5, 0.5, 0.5, 0.5]), 0.5);
  assert.ok(Number.isNaN(auroc([1, 1, 1], [0.1, 0.2, 0.3])));
  assert.ok(Number.isNaN(auroc([0, 0], [0.1, 0.2])));
  assert.ok(Number.isNaN(auroc([], [])));
});

test('auroc: rejects bad input', () => {
  assert.throws(() => auroc([0, 1], [0.1]), /length mismatch/);
  assert.throws(() => auroc([0, 2], [0.1, 0.2]), /expected 0 or 1/);
  assert.throws(() => auroc([0, 1], [0.1, NaN]), /NaN/);
});

// ---------------------------------------------------------------------------------------------
// AUPRC (average precision)

test('auprc: hand case with a tie equals the sklearn average_precision_score value', () => {
  // same data as the AUROC tie case; distinct thresholds, descending (n_pos = 3):
  //   0.8  {P}    tp1 fp0  P=1    R=1/3   ΔR=1/3 → 1/3
  //   0.7  {N,P}  tp2 fp1  P=2/3  R=2/3   ΔR=1/3 → 2/9
  //   0.4  {N}    tp2 fp2  P=1/2  R=2/3   ΔR=0
  //   0.35 {P}    tp3 fp2  P=3/5  R=1     ΔR=1/3 → 1/5
  //   0.1  {N}    tp3 fp3  P=1/2  R=1     ΔR=0
  // AP = 1/3 + 2/9 + 1/5 = 34/45 ≈ 0.7556 (sklearn gives the same, treating 0.7 as one threshold).
  // Splitting the tie positive-first would give 1/3 + 1/3 + 1/5 = 13/15 instead.
  const labels = [0, 0, 1, 1, 0, 1];
  const scores = [0.1, 0.4, 0.35, 0.8, 0.7, 0.7];
  close(auprc(labels, scores), 34 / 45);
});

test('auprc: simple hand case, perfect, all equal, no positives', () => {
  // labels by descending score: P(0.9) N(0.8) P(0.6) N(0.3)
  //   0.9: P=1 R=1/2 → 1/2 ; 0.8: ΔR=0 ; 0.6: P=2/3 R=1 → 1/2·2/3 = 1/3 ; AP = 5/6
  close(auprc([1, 0, 1, 0], [0.9, 0.8, 0.6, 0.3]), 5 / 6);
  assert.equal(auprc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]), 1);
  // one threshold covering everything: P = prevalence = 1/2, R = 1
  assert.equal(auprc([0, 0, 1, 1], [0.5, 0.5, 0.5, 0.5]), 0.5);
  assert.ok(Number.isNaN(auprc([0, 0], [0.1, 0.2])));
  // all positive: every threshold has precision 1
  assert.equal(auprc([1, 1], [0.1, 0.2]), 1);
});

// ---------------------------------------------------------------------------------------------
// Brier, ECE, reliability bins

test('brier: hand case', () => {
  // (0.1−0)² + (0.8−1)² + (0.6−1)² + (0.3−0)² = 0.01 + 0.04 + 0.16 + 0.09 = 0.30; /4 = 0.075
  close(brier([0, 1, 1, 0], [0.1, 0.8, 0.6, 0.3]), 0.075);
  assert.ok(Number.isNaN(brier([], [])));
  assert.throws(() => brier([0], [1.2]), /\[0, 1\]/);
});

// p values include 0.3 (exactly on an edge → bin [0.3, 0.4)) and 1.0 (→ last bin [0.9, 1.0]).
const calLabels = [0, 0, 1, 0, 0, 1, 1, 1];
const calProbs = [0.05, 0.15, 0.3, 0.35, 0.3, 0.72, 0.95, 1.0];

test('reliabilityBins: edges and the p = 1.0 case', () => {
  const bins = reliabilityBins(calLabels, calProbs);
  assert.equal(bins.length, 10);
  assert.deepEqual(
    bins.map((b) => b.n),
    // [0,.1) {0.05}; [.1,.2) {0.15}; [.2,.3) {} (0.3 is not here); [.3,.4) {0.3,0.35,0.3};
    // [.7,.8) {0.72}; [.9,1] {0.95,1.0}
    [1, 1, 0, 3, 0, 0, 0, 1, 0, 2],
  );
  assert.equal(bins[3]!.lo, 0.3);
  close(bins[3]!.hi, 0.4);
  close(bins[3]!.meanProb, 0.95 / 3); // (0.3 + 0.35 + 0.3) / 3
  close(bins[3]!.fracPositive, 1 / 3);
  close(bins[9]!.meanProb, 0.975); // (0.95 + 1.0) / 2
  assert.equal(bins[9]!.fracPositive, 1);
  assert.equal(bins[9]!.hi, 1);
  assert.ok(Number.isNaN(bins[2]!.meanProb));
  assert.ok(Number.isNaN(bins[2]!.fracPositive));
});

test('ece: hand case', () => {
  // per bin n_b · |frac − mean|:
  //   [0,.1):   1 · |0 − 0.05|      = 0.05
  //   [.1,.2):  1 · |0 − 0.15|      = 0.15
  //   [.3,.4):  3 · |1/3 − 0.95/3|  = 0.05
  //   [.7,.8):  1 · |1 − 0.72|      = 0.28
  //   [.9,1]:   2 · |1 − 0.975|     = 0.05
  // sum = 0.58, ECE = 0.58 / 8 = 0.0725
  close(ece(calLabels, calProbs), 0.0725);
  // 2 bins: [0,.5) holds p 0.05,0.15,0.3,0.35,0.3 (y 0,0,1,0,0): mean p 1.15/5 = 0.23, frac 0.2 → 5·0.03 = 0.15
  //         [.5,1] holds 0.72,0.95,1.0 (all y=1): mean p 2.67/3 = 0.89, frac 1 → 3·0.11 = 0.33
  // ECE = 0.48 / 8 = 0.06
  close(ece(calLabels, calProbs, 2), 0.06);
  // perfectly calibrated in each bin: p 0 with y 0 and p 1 with y 1
  assert.equal(ece([0, 1], [0, 1]), 0);
  assert.ok(Number.isNaN(ece([], [])));
  assert.throws(() => ece([0], [0.5], 0), /nBins/);
});

// ---------------------------------------------------------------------------------------------
// Threshold metrics and threshold choice

const thrLabels = [1, 1, 1, 0, 0, 0, 1, 0];
const thrProbs = [0.9, 0.6, 0.4, 0.7, 0.2, 0.5, 0.5, 0.1];

test('confusion, accuracy, precision/recall/F1 at 0.5 (p >= threshold is positive)', () => {
  // p >= 0.5: rows 0 (y1), 1 (y1), 3 (y0), 5 (y0, p exactly 0.5), 6 (y1, p exactly 0.5)
  // tp = 3, fp = 2; below: row 2 (y1) fn, rows 4,7 (y0) tn
  assert.deepEqual(confusionAt(thrLabels, thrProbs, 0.5), { tp: 3, fp: 2, tn: 2, fn: 1 });
  assert.equal(accuracy(thrLabels, thrProbs, 0.5), 5 / 8);
  const m = precisionRecallF1(thrLabels, thrProbs, 0.5);
  close(m.precision, 3 / 5);
  close(m.recall, 3 / 4);
  close(m.f1, 2 / 3); // 2·3 / (2·3 + 2 + 1) = 6/9
});

test('precision/recall/F1: 0/0 is reported as 0', () => {
  // threshold above every p: nothing predicted positive → precision 0/0 → 0, recall 0/4, F1 0/(0+0+4)
  assert.deepEqual(precisionRecallF1(thrLabels, thrProbs, 0.95), { precision: 0, recall: 0, f1: 0 });
  // no positive rows and no positive predictions: everything 0/0 → 0
  assert.deepEqual(precisionRecallF1([0, 0], [0.1, 0.2], 0.5), { precision: 0, recall: 0, f1: 0 });
});

test('chooseThreshold: max_f1 and youden pick different thresholds', () => {
  // n_pos = 2, n_neg = 7; per distinct threshold t (p >= t):
  //   t     tp fp   F1 = 2tp/(2tp+fp+fn)   J = tp/2 − fp/7
  //   0.9   1  0    2/(2+0+1) = 2/3              1/2
  //   0.8   1  1    2/4 = 1/2                    1/2 − 1/7 = 5/14
  //   0.7   1  2    2/5                          1/2 − 2/7 = 3/14
  //   0.65  1  3    2/6                          1/2 − 3/7 = 1/14
  //   0.6   2  3    4/7                          1 − 3/7 = 4/7
  //   0.5   2  4    4/8                          3/7
  //   0.3   2  5    4/9                          2/7
  //   0.2   2  6    4/10                         1/7
  //   0.1   2  7    4/11                         0
  // max F1 = 2/3 at 0.9; max J = 4/7 at 0.6
  const labels = [1, 0, 0, 0, 1, 0, 0, 0, 0];
  const probs = [0.9, 0.8, 0.7, 0.65, 0.6, 0.5, 0.3, 0.2, 0.1];
  assert.equal(chooseThreshold(labels, probs, 'max_f1'), 0.9);
  assert.equal(chooseThreshold(labels, probs, 'youden'), 0.6);
  assert.equal(chooseThreshold(labels, probs, 0.5), 0.5);
});

test('chooseThreshold: on thrLabels both rules pick 0.4', () => {
  // n_pos = n_neg = 4; t: 0.9 (tp1 fp0) F1 2/5 J 1/4; 0.7 (1,1) 1/3 0; 0.6 (2,1) 4/7 1/4;
  // 0.5 (3,2) 2/3 1/4; 0.4 (4,2) 4/5 1/2; 0.2 (4,3) 8/11 1/4; 0.1 (4,4) 2/3 0
  assert.equal(chooseThreshold(thrLabels, thrProbs, 'max_f1'), 0.4);
  assert.equal(chooseThreshold(thrLabels, thrProbs, 'youden'), 0.4);
});

test('chooseThreshold: ties go to the largest threshold', () => {
  // labels [1,0,0,1], probs [0.9,0.7,0.6,0.1]:
  //   0.9 tp1 fp0 F1 2/3; 0.7 tp1 fp1 1/2; 0.6 tp1 fp2 2/5; 0.1 tp2 fp2 4/6 = 2/3 → tie 0.9 vs 0.1 → 0.9
  assert.equal(chooseThreshold([1, 0, 0, 1], [0.9, 0.7, 0.6, 0.1], 'max_f1'), 0.9);
  // labels [1,0,1,0], probs [0.8,0.6,0.4,0.2]:
  //   J: 0.8 → 1/2 − 0 = 1/2; 0.6 → 1/2 − 1/2 = 0; 0.4 → 1 − 1/2 = 1/2; 0.2 → 0 → tie 0.8 vs 0.4 → 0.8
  assert.equal(chooseThreshold([1, 0, 1, 0], [0.8, 0.6, 0.4, 0.2], 'youden'), 0.8);
});

test('chooseThreshold: undefined rules throw', () => {
  assert.throws(() => chooseThreshold([0, 0], [0.1, 0.2], 'max_f1'), /positive/);
  assert.throws(() => chooseThreshold([1, 1], [0.1, 0.2], 'youden'), /both classes/);
  assert.throws(() => chooseThreshold([0, 1], [0.1, 0.2], NaN), /finite/);
});

test('classificationMetrics bundles the pieces', () => {
  const m = classificationMetrics(calLabels, calProbs, 0.5);
  assert.equal(m.n, 8);
  assert.equal(m.n_pos, 4);
  assert.equal(m.prevalence, 0.5);
  // p >= 0.5: 0.72, 0.95, 1.0 (all y=1) → tp 3, fp 0; y=1 at 0.3 is fn; 4 tn
  assert.equal(m.accuracy, 7 / 8);
  close(m.precision, 1);
  close(m.recall, 3 / 4);
  close(m.f1, 6 / 7);
  close(m.ece, 0.0725);
  assert.equal(m.threshold, 0.5);
  // positives 0.3, 0.72, 0.95, 1.0; negatives 0.05, 0.15, 0.35, 0.3
  // pairs won: 0.3 → 2 + ½ (tie with neg 0.3); others → 4 each; U = 14.5 → 14.5/16
  close(m.auroc, 14.5 / 16);
  close(m.brier, brier(calLabels, calProbs));
  close(m.auprc, auprc(calLabels, calProbs));
});

// ---------------------------------------------------------------------------------------------
// Attack metrics

test('attack metrics, target 1', () => {
  // rows are true-label-0; threshold 0.5, target 1 = predicted when p >= 0.5
  //   triggered 0.9, 0.6, 0.45, 0.5 → targets at 0.9, 0.6, 0.5 → ASR 3/4
  //   clean 0.1, 0.2, 0.55, 0.3 → 0.55 already predicted 1 → clean_target_rate 1/4
  //   shift: (0.8 + 0.4 − 0.1 + 0.2)/4 = 1.3/4 = 0.325
  //   acc_poison: only 0.45 is predicted 0 (correct) → 1/4
  const trueLabels = [0, 0, 0, 0];
  const probsClean = [0.1, 0.2, 0.55, 0.3];
  const probsTriggered = [0.9, 0.6, 0.45, 0.5];
  const m = attackMetrics({ target: 1, trueLabels, probsClean, probsTriggered, threshold: 0.5 });
  assert.equal(m.n_triggered, 4);
  assert.equal(m.asr, 0.75);
  close(m.confidence_shift, 0.325);
  assert.equal(m.acc_poison, 0.25);
  assert.equal(m.clean_target_rate, 0.25);
  assert.equal(asr(1, probsTriggered, 0.5), 0.75);
  close(confidenceShift(1, probsClean, probsTriggered), 0.325);
  assert.equal(accPoison(trueLabels, probsTriggered, 0.5), 0.25);
  assert.equal(falseTriggerRate(1, probsClean, 0.5), 0.25);
});

test('attack metrics, target 0', () => {
  // rows are true-label-1; target 0 = predicted when p < 0.5
  //   triggered 0.2, 0.6, 0.5 → only 0.2 < 0.5 → ASR 1/3 (0.5 itself is predicted 1)
  //   clean 0.9, 0.8, 0.4 → 0.4 < 0.5 → clean_target_rate 1/3
  //   p(0|trig) − p(0|clean): (0.8 − 0.1) + (0.4 − 0.2) + (0.5 − 0.6) = 0.8 → /3
  //   acc_poison: 0.6 and 0.5 predicted 1 (correct) → 2/3
  const m = attackMetrics({
    target: 0,
    trueLabels: [1, 1, 1],
    probsClean: [0.9, 0.8, 0.4],
    probsTriggered: [0.2, 0.6, 0.5],
    threshold: 0.5,
  });
  assert.equal(m.n_triggered, 3);
  close(m.asr, 1 / 3);
  close(m.confidence_shift, 0.8 / 3);
  close(m.acc_poison, 2 / 3);
  close(m.clean_target_rate, 1 / 3);
});

test('attack metrics: empty set gives NaN, bad inputs throw', () => {
  const m = attackMetrics({ target: 1, trueLabels: [], probsClean: [], probsTriggered: [], threshold: 0.5 });
  assert.equal(m.n_triggered, 0);
  assert.ok(Number.isNaN(m.asr));
  assert.ok(Number.isNaN(m.confidence_shift));
  assert.ok(Number.isNaN(m.acc_poison));
  assert.ok(Number.isNaN(m.clean_target_rate));
  assert.throws(
    () => attackMetrics({ target: 1, trueLabels: [0, 1], probsClean: [0.1, 0.2], probsTriggered: [0.9, 0.9], threshold: 0.5 }),
    /equal to the target/,
  );
  assert.throws(
    () => attackMetrics({ target: 1, trueLabels: [0, 0], probsClean: [0.1, 0.2], probsTriggered: [0.9], threshold: 0.5 }),
    /length mismatch/,
  );
  assert.throws(() => asr(2 as 0 | 1, [0.5], 0.5), /target/);
});

// ---------------------------------------------------------------------------------------------
// Detection metrics

function detectionCase(): { isPoisoned: Uint8Array; scores: Float64Array; flagged: Uint8Array } {
  // 100 clean rows scored 0, 1, …, 99; 10 poisoned rows scored
  // 200 ×4, 98 (tied with clean 98), 97.5 ×3, 50 (tied with clean 50), 10 (tied with clean 10).
  const poisonScores = [200, 200, 200, 200, 98, 97.5, 97.5, 97.5, 50, 10];
  const n = 110;
  const isPoisoned = new Uint8Array(n);
  const scores = new Float64Array(n);
  for (let i = 0; i < 100; i++) scores[i] = i;
  for (let j = 0; j < 10; j++) {
    scores[100 + j] = poisonScores[j]!;
    isPoisoned[100 + j] = 1;
  }
  // the detector flags score >= 97.5: 8 poisoned + clean 98, 99
  const flagged = new Uint8Array(n);
  for (let i = 0; i < n; i++) flagged[i] = scores[i]! >= 97.5 ? 1 : 0;
  return { isPoisoned, scores, flagged };
}

test('detection: TPR at 1% / 5% FPR with ties, AUROC, AUPRC, flagged precision/recall', () => {
  const { isPoisoned, scores, flagged } = detectionCase();
  // thresholds from the top (n_neg = 100, n_pos = 10):
  //   200: tp4 fp0 (TPR .4, FPR 0)   99: tp4 fp1 (.4, .01)   98: tp5 fp2 (.5, .02) — the tie with
  //   clean 98 means the 98-scored poisoned row cannot be caught without 2 false positives
  //   97.5: tp8 fp2   97: fp3   96: fp4   95: fp5 (FPR .05, TPR .8)   94: fp6 …
  // TPR@1% = 0.4 (not 0.5); TPR@5% = 0.8
  const r = detectionMetrics(isPoisoned, scores, flagged);
  assert.equal(r.applicable, true);
  if (!r.applicable) return;
  assert.equal(r.n, 110);
  assert.equal(r.n_poisoned, 10);
  close(r.tpr_at_fpr_1pct, 0.4);
  close(r.tpr_at_fpr_5pct, 0.8);
  // AUROC: clean rows beaten (+½ per tie) by each poisoned row:
  //   200 → 100 (×4 = 400); 98 → 98 + ½; 97.5 → 98 (×3 = 294); 50 → 50 + ½; 10 → 10 + ½
  //   total 853.5 / (10·100) = 0.8535
  close(r.auroc, 0.8535);
  // AP: 200 (P 1, R .4) → .4; 98 group (tp5 fp2, P 5/7, R .5) → .1·5/7;
  //     97.5 (tp8 fp2, P .8, R .8) → .3·.8 = .24; 50 group (tp9, fp50, P 9/59, R .9) → .1·9/59;
  //     10 group (tp10, fp90, P .1, R 1) → .1·.1 = .01
  //   AP = .65 + 1/14 + 9/590 ≈ 0.73668
  close(r.auprc, 0.65 + 1 / 14 + 9 / 590);
  // flagged: 8 poisoned + 2 clean = 10 → precision 8/10, recall 8/10
  assert.equal(r.flagged, 10);
  close(r.precision, 0.8);
  close(r.recall, 0.8);
});

test('detection: tprAtFpr edge cases', () => {
  // the top-scored row is clean: at FPR 0 nothing can be flagged → TPR 0
  assert.equal(tprAtFpr([0, 1, 0], [3, 2, 1], 0), 0);
  // FPR ≤ 1/2 allows flagging {3, 2} → TPR 1
  assert.equal(tprAtFpr([0, 1, 0], [3, 2, 1], 0.5), 1);
  // no clean rows → NaN
  assert.ok(Number.isNaN(tprAtFpr([1, 1], [1, 2], 0.05)));
});

test('detection: clean run is not applicable', () => {
  const r = detectionMetrics(new Uint8Array(5), [0.1, 0.2, 0.3, 0.4, 0.5], new Uint8Array([0, 0, 0, 1, 1]));
  assert.deepEqual(r, { applicable: false, reason: 'no poisoned rows (clean run)' });
  assert.throws(() => detectionMetrics(new Uint8Array(2), [0.1], new Uint8Array(2)), /length mismatch/);
});
