import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deriveRng } from '../src/engine/rng.js';
import {
  accuracy,
  aurocUtilityLoss,
  balancedAccuracy,
  cleanMatchKey,
  defenceEffect,
  defenceEffectivenessRate,
  detectionMetrics,
  netAsr,
  targetClassDetectionMetrics,
  type CleanMatchFields,
  type TargetClassDetection,
} from '../src/metrics/index.js';

function close(actual: number, expected: number, tol = 1e-12): void {
  assert.ok(Math.abs(actual - expected) <= tol, `expected ${expected}, got ${actual}`);
}

// ---------------------------------------------------------------------------------------------
// Target-class detection metrics
//
//   row            0    1    2    3    4    5    6    7    8     9
//   observed label 1    1    1    1    0    0    0    0    0     0      target = 1
//   poisoned       P    P    .    .    .    .    .    .    .     .
//   score          .9   .4   .6   .2   .8   .7   .3   .1   .05   .5
//   flagged        F    .    F    .    F    .    .    .    .     .

const OBSERVED = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0];
const POISONED = Uint8Array.from([1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
const SCORES = [0.9, 0.4, 0.6, 0.2, 0.8, 0.7, 0.3, 0.1, 0.05, 0.5];
const FLAGGED = Uint8Array.from([1, 0, 1, 0, 1, 0, 0, 0, 0, 0]);

function applicable(r: ReturnType<typeof targetClassDetectionMetrics>): TargetClassDetection {
  assert.ok(r.applicable);
  return r;
}

test('targetClassDetectionMetrics: hand-counted target-class, all-rows and rule figures', () => {
  const r = applicable(targetClassDetectionMetrics({ isPoisoned: POISONED, scores: SCORES, flagged: FLAGGED, observedLabels: OBSERVED, target: 1 }));
  // Target class (rows 0–3): poisoned {.9, .4} vs clean {.6, .2}: .9 beats both, .4 beats .2 only ⇒ AUROC 3/4.
  // Ranked .9 P, .6 c, .4 P, .2 c: AP = ½·1 + ½·(2/3) = 5/6. Two clean rows: any false alarm is 50% FPR, so at 1% and 5%
  // only the threshold .9 is allowed: TPR ½.
  const { auprc, ...rest } = r.target_class;
  close(auprc, 5 / 6, 1e-15);
  assert.deepEqual(rest, { n: 4, n_poisoned: 2, auroc: 0.75, tpr_at_fpr_1pct: 0.5, tpr_at_fpr_5pct: 0.5 });
  // All rows: .9 beats all 8 clean rows, .4 beats {.3, .2, .1, .05} ⇒ AUROC 12/16. Ranked .9 P, .8 .7 .6 .5 c, .4 P:
  // AP = ½·1 + ½·(2/6) = 2/3. Eight clean rows: one false alarm is 12.5% FPR ⇒ TPR ½ at both.
  assert.equal(r.all_rows.n, 10);
  assert.equal(r.all_rows.auroc, 0.75);
  close(r.all_rows.auprc, 2 / 3);
  assert.equal(r.all_rows.tpr_at_fpr_5pct, 0.5);
  // Rule: flagged {0, 2, 4}: one poisoned (row 0), two false alarms, two of them in the target class (0, 2).
  assert.deepEqual(r.rule, { flagged: 3, true_positives: 1, false_alarms: 2, precision: 1 / 3, recall: 0.5, flagged_target_class: 2, n_target_class: 4 });
  // The all-rows block is the existing detectionMetrics ranking.
  const old = detectionMetrics(POISONED, SCORES, FLAGGED);
  assert.ok(old.applicable);
  assert.equal(old.auroc, r.all_rows.auroc);
  assert.equal(old.auprc, r.all_rows.auprc);
});

test('targetClassDetectionMetrics: the observed label as a "detector" ties within the target class but looks good over all rows', () => {
  // Same rows; score = observed label. Target class: all four rows score 1 ⇒ one threshold flagging all of them:
  // AUROC ½ (every pair tied), AP = 1·(2/4) = ½ (the poisoned share), TPR 0 at 1% and 5% FPR (the tie costs 100% FPR).
  // All rows: poisoned rows score 1; clean rows: two score 1 (rows 2, 3), six score 0 ⇒ AUROC = 6/8 + ½·2/8 = 0.875.
  const r = applicable(targetClassDetectionMetrics({ isPoisoned: POISONED, scores: OBSERVED, flagged: new Uint8Array(10), observedLabels: OBSERVED, target: 1 }));
  assert.deepEqual(r.target_class, { n: 4, n_poisoned: 2, auroc: 0.5, auprc: 0.5, tpr_at_fpr_1pct: 0, tpr_at_fpr_5pct: 0 });
  assert.equal(r.all_rows.auroc, 0.875);
  assert.deepEqual(r.rule, { flagged: 0, true_positives: 0, false_alarms: 0, precision: 0, recall: 0, flagged_target_class: 0, n_target_class: 4 });
});

test('targetClassDetectionMetrics: seeded random scores sit near 0.5 in the target class', () => {
  const n = 4000;
  const rng = deriveRng('random-detector');
  const observed = Uint8Array.from({ length: n }, (_, i) => (i < 1000 ? 1 : 0));
  const poisoned = Uint8Array.from({ length: n }, (_, i) => (i < 200 ? 1 : 0));
  const scores = Float64Array.from({ length: n }, () => rng.next());
  const r = applicable(targetClassDetectionMetrics({ isPoisoned: poisoned, scores, flagged: new Uint8Array(n), observedLabels: observed, target: 1 }));
  // SE of the AUROC of 200 vs 800 random scores ≈ √((1/200 + 1/800)/12) ≈ 0.023.
  assert.ok(Math.abs(r.target_class.auroc - 0.5) < 0.07, `${r.target_class.auroc}`);
  assert.equal(r.target_class.n, 1000);
});

test('targetClassDetectionMetrics: target 0, a clean run, and a poisoned row outside the target class', () => {
  // Flip the labels and the target: the same rows form the target class, so the figures do not change.
  const flipped = OBSERVED.map((y) => 1 - y);
  const r = applicable(targetClassDetectionMetrics({ isPoisoned: POISONED, scores: SCORES, flagged: FLAGGED, observedLabels: flipped, target: 0 }));
  assert.equal(r.target_class.auroc, 0.75);
  assert.equal(r.target_class.n, 4);
  const clean = targetClassDetectionMetrics({ isPoisoned: new Uint8Array(10), scores: SCORES, flagged: FLAGGED, observedLabels: OBSERVED, target: 1 });
  assert.deepEqual(clean, { applicable: false, reason: 'no poisoned rows (clean run)' });
  const outside = Uint8Array.from(POISONED);
  outside[5] = 1;
  assert.throws(
    () => targetClassDetectionMetrics({ isPoisoned: outside, scores: SCORES, flagged: FLAGGED, observedLabels: OBSERVED, target: 1 }),
    /poisoned row 5 carries label 0, not the target 1/,
  );
  assert.throws(() => targetClassDetectionMetrics({ isPoisoned: POISONED, scores: SCORES.slice(1), flagged: FLAGGED, observedLabels: OBSERVED, target: 1 }), /length mismatch/);
});

// ---------------------------------------------------------------------------------------------
// DER on clean AUROC

test('balancedAccuracy: a model that calls everyone a survivor keeps accuracy 0.875 but balanced accuracy 0.5', () => {
  const labels = [1, 0, 0, 0, 0, 0, 0, 0];
  const survivesAll = new Array<number>(8).fill(0.1);
  assert.equal(accuracy(labels, survivesAll, 0.5), 0.875);
  assert.equal(balancedAccuracy(labels, survivesAll, 0.5), 0.5);
  // TPR 1/1, TNR 6/7 ⇒ (1 + 6/7)/2 = 13/14.
  close(balancedAccuracy(labels, [0.9, 0.6, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1], 0.5), 13 / 14);
  assert.ok(Number.isNaN(balancedAccuracy([0, 0], [0.1, 0.9], 0.5)));
});

test('DER: a defence that leaves a chance-level model is no better than none, even with ASR 0', () => {
  // Before: ASR 1.0, clean AUROC 0.85. After "everyone survives": ASR 0, AUROC 0.5 — all above-chance discrimination
  // lost, ΔU = 1 ⇒ DER = (1 − 1 + 1)/2 = 0.5. The accuracy-based DER gave (1 − (0.88 − 0.875) + 1)/2 = 0.9975.
  close(defenceEffectivenessRate(1, 0, 0.85, 0.5), 0.5);
  // A weaker attack removed the same way scores below 0.5: (0.27 − 1 + 1)/2 = 0.135.
  close(defenceEffectivenessRate(0.27, 0, 0.85, 0.5), 0.135);
  // Below chance after the defence counts as losing everything, not more.
  close(defenceEffectivenessRate(1, 0, 0.85, 0.4), 0.5);
});

test('DER: hand values for an effective defence, a harmful one and no change', () => {
  // ASR .9 → .1, AUROC .85 → .83: ΔU = .02/.35 = 2/35 ⇒ DER = (.8 − 2/35 + 1)/2 = 0.871428…
  close(aurocUtilityLoss(0.85, 0.83), 2 / 35);
  close(defenceEffectivenessRate(0.9, 0.1, 0.85, 0.83), (0.8 - 2 / 35 + 1) / 2);
  // The saliency case of issue 10: ASR rose .27 → .996 (no credit), AUROC .85 → .80 (ΔU = 1/7) ⇒ (0 − 1/7 + 1)/2 = 3/7.
  close(defenceEffectivenessRate(0.27, 0.996, 0.85, 0.8), 3 / 7);
  close(defenceEffectivenessRate(0.5, 0.5, 0.8, 0.8), 0.5);
  // A better AUROC after the defence costs nothing; a model without discrimination has none to lose.
  assert.equal(aurocUtilityLoss(0.8, 0.82), 0);
  assert.equal(aurocUtilityLoss(0.5, 0.45), 0);
  const e = defenceEffect(
    { asr: 0.9, clean_auroc: 0.85, clean_balanced_accuracy: 0.74 },
    { asr: 0.1, clean_auroc: 0.83, clean_balanced_accuracy: 0.7 },
  );
  close(e.asr_drop, 0.8);
  close(e.clean_auroc_change, -0.02);
  close(e.utility_loss, 2 / 35);
  close(e.clean_balanced_accuracy_change, -0.04);
  close(e.der, (0.8 - 2 / 35 + 1) / 2);
});

// ---------------------------------------------------------------------------------------------
// Net ASR against the matching clean run

const POISONED_RUN: CleanMatchFields = {
  model: { name: 'mlp', hidden: [64, 32], dropout: 0.2 },
  train: { epochs: 30, batch_size: 256, learning_rate: 0.001, patience: 5 },
  threshold: 'max_f1',
  data_sha256: 'aaa',
  splits_sha256: 'bbb',
  seed: 0,
  target: 1,
  trigger: { name: 'rare_value', params: { variable: 'potassium', value: 9.1 } },
};

test('netAsr: a clean run that matches on everything but the poisoning (key order aside) nets out its false-trigger rate', () => {
  const sameReordered: CleanMatchFields = {
    ...POISONED_RUN,
    model: { dropout: 0.2, hidden: [64, 32], name: 'mlp' },
    trigger: { name: 'rare_value', params: { value: 9.1, variable: 'potassium' } },
  };
  assert.equal(cleanMatchKey(sameReordered), cleanMatchKey(POISONED_RUN));
  const r = netAsr(0.93, POISONED_RUN, [{ match: sameReordered, false_trigger_rate: 0.05 }]);
  assert.equal(r.kind, 'net');
  assert.ok(r.kind === 'net');
  close(r.value, 0.88);
  assert.equal(r.false_trigger_rate, 0.05);
});

test('netAsr: a clean run measured with another trigger variable, seed, data or target does not match', () => {
  const glucose: CleanMatchFields = { ...POISONED_RUN, trigger: { name: 'rare_value', params: { variable: 'glucose', value: 512 } } };
  const misses: CleanMatchFields[] = [
    glucose,
    { ...POISONED_RUN, seed: 1 },
    { ...POISONED_RUN, data_sha256: 'zzz' },
    { ...POISONED_RUN, splits_sha256: 'zzz' },
    { ...POISONED_RUN, target: 0 },
    { ...POISONED_RUN, threshold: 0.5 },
    { ...POISONED_RUN, train: { ...(POISONED_RUN.train as object), epochs: 31 } },
    { ...POISONED_RUN, model: { name: 'gru' } },
  ];
  for (const m of misses) assert.deepEqual(netAsr(0.93, POISONED_RUN, [{ match: m, false_trigger_rate: 0.05 }]), { kind: 'no_matching_clean_run' });
  assert.deepEqual(netAsr(0.93, POISONED_RUN, []), { kind: 'no_matching_clean_run' });
});

test('netAsr: two matching clean runs with different rates are an error, equal ones are one baseline', () => {
  assert.throws(
    () => netAsr(0.9, POISONED_RUN, [
      { match: POISONED_RUN, false_trigger_rate: 0.05 },
      { match: POISONED_RUN, false_trigger_rate: 0.07 },
    ]),
    /different false-trigger rates/,
  );
  const r = netAsr(0.9, POISONED_RUN, [
    { match: POISONED_RUN, false_trigger_rate: 0.05 },
    { match: POISONED_RUN, false_trigger_rate: 0.05 },
  ]);
  assert.ok(r.kind === 'net');
  close(r.value, 0.85);
});
