/**
 * Issue 13's defences on small planted cases: SPECTRE against plain spectral signatures under a heavy-tailed clean
 * distribution, STRIP's entropy on a planted trigger, ABL's isolation of planted low-loss rows, trigger inversion of a
 * planted single-feature trigger, and the prunable-unit contract of the models.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';

import type { Features } from '../src/data/features/types.js';
import { selectBackend } from '../src/engine/backend.js';
import { deriveRng } from '../src/engine/rng.js';
import { auroc } from '../src/metrics/classification.js';
import { abl } from '../src/detectors/abl.js';
import { finePruning, pruneDormantUnits } from '../src/detectors/fine-pruning.js';
import { matrix } from '../src/detectors/linalg.js';
import { mergeDetectorParams } from '../src/detectors/registry.js';
import { spectral } from '../src/detectors/spectral.js';
import { poisonRateEstimates, spectre } from '../src/detectors/spectre.js';
import { stripEntropy } from '../src/detectors/strip.js';
import { featureRange, invertTrigger } from '../src/detectors/trigger-inversion.js';
import type { BuiltModel } from '../src/models/types.js';
import { lstm } from '../src/models/lstm.js';
import { mlp } from '../src/models/mlp.js';
import { tcn } from '../src/models/tcn.js';
import { tabtransformer } from '../src/models/tabtransformer.js';
import { predictProba } from '../src/train/trainer.js';

/** A fixed, differentiable model on tabular rows: logit = f(x) written with tf ops; no trainable weights. */
function fixedModel(f: (x: tf.Tensor2D) => tf.Tensor1D): BuiltModel {
  return {
    logits: (x) => tf.tidy(() => f(x as tf.Tensor2D)),
    penultimate: (x) => tf.tidy(() => x.clone() as tf.Tensor2D),
    trainableWeights: () => [],
    save: async () => {},
    dispose: () => {},
  };
}

function column(x: tf.Tensor2D, j: number): tf.Tensor1D {
  return tf.squeeze(tf.slice(x, [0, j], [-1, 1]), [1]) as tf.Tensor1D;
}

function tabular(n: number, F: number, fill: (i: number, j: number) => number): Features {
  const x = new Float32Array(n * F);
  for (let i = 0; i < n; i++) for (let j = 0; j < F; j++) x[i * F + j] = fill(i, j);
  const names = Array.from({ length: F }, (_, j) => `v${j}`);
  return { view: 'tabular', n, rowShape: [F], x, names, sources: names };
}

describe('spectre', () => {
  test('recovers a planted direction that plain SVD misses under a heavy-tailed clean distribution', () => {
    const n = 600;
    const d = 10;
    const poisoned = 30;
    const rng = deriveRng(0, 'test-spectre');
    const reps = matrix(n, d);
    const isPoisoned = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      // Clean rows: multivariate Student t with 5 degrees of freedom (heavy tails), scale 4 along direction 0.
      let chi2 = 0;
      for (let k = 0; k < 5; k++) chi2 += rng.normal() ** 2;
      const w = Math.sqrt(chi2 / 5);
      for (let j = 0; j < d; j++) reps.data[i * d + j] = ((j === 0 ? 4 : 1) * rng.normal()) / w;
      // Poisoned rows: shifted along direction 1, by less than the clean spread along direction 0.
      if (i < poisoned) {
        isPoisoned[i] = 1;
        reps.data[i * d + 1] = 6 + 0.5 * rng.normal();
      }
    }
    const input = { labels: new Uint8Array(n).fill(1), seed: 0, representation: () => reps };
    const plain = spectral.score(input, spectral.resolve(mergeDetectorParams('spectral')));
    const robust = spectre.score(input, spectre.resolve(mergeDetectorParams('spectre')));
    const plainAuroc = auroc(isPoisoned, plain.scores);
    const robustAuroc = auroc(isPoisoned, robust.scores);
    assert.ok(plainAuroc < 0.6, `spectral AUROC ${plainAuroc}`);
    assert.ok(robustAuroc > 0.95, `spectre AUROC ${robustAuroc}`);
    assert.equal(plainAuroc.toFixed(3), '0.534');
    assert.equal(robustAuroc.toFixed(3), '0.997');
  });

  /**
   * Two labels of 400 Gaussian clean rows each (unequal spread, label 1 shifted); 20 rows of `poisonedLabel` moved
   * along direction 1. Gaussian, because this project's filter trims its whole 2ε·n budget, which inflates a
   * heavy-tailed clean label's QUE statistic as much as a poisoned one's.
   */
  function twoLabels(poisonedLabel: number) {
    const perLabel = 400;
    const d = 8;
    const rng = deriveRng(1, 'test-spectre-rate');
    const reps = matrix(2 * perLabel, d);
    const labels = new Uint8Array(2 * perLabel);
    const isPoisoned = new Uint8Array(2 * perLabel);
    for (let i = 0; i < 2 * perLabel; i++) {
      labels[i] = i < perLabel ? 0 : 1;
      for (let j = 0; j < d; j++) reps.data[i * d + j] = (j === 0 ? 4 : 1) * rng.normal() + (labels[i] === 1 ? 3 : 0);
      if (labels[i] === poisonedLabel && i % perLabel < 20) {
        isPoisoned[i] = 1;
        reps.data[i * d + 1] = (labels[i] === 1 ? 3 : 0) + 6 + 0.5 * rng.normal();
      }
    }
    return { input: { labels, seed: 0, representation: () => reps }, isPoisoned };
  }

  test("poison-rate estimate: ε on the label with the largest QUE statistic (the paper's Algorithm 4), 0 elsewhere", () => {
    for (const poisonedLabel of [0, 1]) {
      const { input, isPoisoned } = twoLabels(poisonedLabel);
      const out = spectre.score(input, spectre.resolve(mergeDetectorParams('spectre')));
      const details = out.details as { identified_label: number; classes: { label: number; poison_rate_estimate: number; flagged: number; que_statistic: number }[] };
      assert.equal(details.identified_label, poisonedLabel);
      const [clean, poisoned] = poisonedLabel === 0 ? [details.classes[1], details.classes[0]] : [details.classes[0], details.classes[1]];
      assert.ok(poisoned.que_statistic > clean.que_statistic, `${poisoned.que_statistic} vs ${clean.que_statistic}`);
      assert.equal(poisoned.poison_rate_estimate, 0.05);
      assert.equal(clean.poison_rate_estimate, 0);
      // 1.5 × ε × n rows, n = 800: the reference code's `limit2 = 1.5` slack over the poison count.
      assert.equal(poisoned.flagged, 60);
      assert.equal(clean.flagged, 0);
      let caught = 0;
      let flaggedTotal = 0;
      for (let i = 0; i < out.flagged.length; i++) {
        flaggedTotal += out.flagged[i];
        if (out.flagged[i] && isPoisoned[i]) caught++;
      }
      assert.equal(flaggedTotal, 60);
      assert.equal(caught, 20);
    }
    // `every`: the poisoned label unknown, each label gets ε.
    const { input } = twoLabels(1);
    const every = spectre.score(input, spectre.resolve(mergeDetectorParams('spectre', { classes: 'every' })));
    assert.deepEqual(
      (every.details as { classes: { flagged: number }[] }).classes.map((c) => c.flagged),
      [60, 60],
    );
    // A tie on the statistic goes to the lower label.
    assert.deepEqual([...poisonRateEstimates([{ label: 1, statistic: 2 }, { label: 0, statistic: 2 }], 0.1, 'identified')].sort(), [[0, 0.1], [1, 0]]);
  });
});

describe('defences on tiny models', () => {
  before(async () => {
    await selectBackend('cpu');
  });

  test('strip: prediction entropy separates rows carrying a planted trigger', () => {
    const F = 6;
    const rng = deriveRng(0, 'test-strip');
    // Backdoor: v4 above 3 sends the logit up by 20, whatever the rest says.
    const model = fixedModel((x) => tf.add(tf.add(-0.5, tf.mul(1.5, tf.sub(column(x, 0), column(x, 1)))), tf.mul(20, tf.relu(tf.sub(column(x, 4), 3)))) as tf.Tensor1D);
    const donors = tabular(200, F, () => rng.normal());
    const clean = tabular(100, F, () => rng.normal());
    const triggered = tabular(100, F, (_, j) => (j === 4 ? 6 : rng.normal()));
    const hClean = stripEntropy(model, clean, donors, 20, 0.5, deriveRng(0, 'strip-clean'));
    const hTriggered = stripEntropy(model, triggered, donors, 20, 0.5, deriveRng(0, 'strip-triggered'));
    const isTriggered = [...Array(100).fill(0), ...Array(100).fill(1)];
    const value = auroc(isTriggered, [...hClean, ...hTriggered].map((h) => -h));
    const mean = (a: Float64Array) => a.reduce((s, v) => s + v, 0) / a.length;
    assert.ok(value > 0.9, `STRIP AUROC ${value}`);
    assert.ok(mean(hTriggered) < 0.7 * mean(hClean), `entropy triggered ${mean(hTriggered)} vs clean ${mean(hClean)}`);
  });

  test('trigger inversion recovers a planted single-feature trigger', () => {
    const F = 8;
    const rng = deriveRng(0, 'test-inversion');
    const model = fixedModel((x) => tf.add(tf.add(-3, tf.mul(0.3, column(x, 0))), tf.mul(10, tf.relu(tf.sub(column(x, 3), 2)))) as tf.Tensor1D);
    const train = tabular(300, F, () => rng.normal());
    for (let i = 0; i < 10; i++) train.x[i * F + 3] = 4;
    const source = tabular(150, F, () => rng.normal());
    const found = invertTrigger(model, source, 1, { steps: 300, learningRate: 0.1, lambda: 0.001, flipTarget: 0.99, ...featureRange(train) });
    assert.ok(found.reached, `flip rate ${found.flip_rate}`);
    const top = [...found.mask.keys()].sort((a, b) => found.mask[b] - found.mask[a])[0];
    assert.equal(top, 3);
    assert.ok(found.mask[3] / found.l1 > 0.8, `mask share on the trigger feature ${found.mask[3] / found.l1}`);
    assert.ok(found.pattern[3] > 2.3, `pattern ${found.pattern[3]}`);
  });

  test('abl isolates planted low-loss rows', () => {
    const F = 6;
    const n = 400;
    const rng = deriveRng(0, 'test-abl');
    const labels = new Uint8Array(n);
    // 20 planted rows: v5 = 5 and label 1, a shortcut learnt at once; the rest carry a label that is noise.
    const features = tabular(n, F, (i, j) => (j === 5 ? (i < 20 ? 5 : 0) : rng.normal()));
    for (let i = 0; i < n; i++) labels[i] = i < 20 ? 1 : rng.next() < 0.3 ? 1 : 0;
    const config = mlp.resolveConfig({ hidden_units: [16], dropout: 0 });
    const training = { build: () => mlp.build([F], config, 0), batchSize: 64, learningRate: 0.01 };
    const params = abl.resolve({ ...mergeDetectorParams('abl'), isolation_rate: 0.05, isolation_epochs: 10 });
    const out = abl.score({ labels, seed: 0, features, training }, params);
    const isolated = [...out.flagged.keys()].filter((i) => out.flagged[i] === 1);
    assert.equal(isolated.length, 20);
    const hits = isolated.filter((i) => i < 20).length;
    assert.ok(hits >= 18, `isolated ${hits} of the 20 planted rows`);
  });

  test('fine-pruning: the mlp prunes its last hidden layer; pruning dormant units keeps clean AUROC within the margin', () => {
    const F = 5;
    const rng = deriveRng(0, 'test-prune');
    const model = mlp.build([F], mlp.resolveConfig({ hidden_units: [12, 8], dropout: 0 }), 1);
    try {
      assert.equal(model.prunableUnits, 'units of the last hidden layer');
      const features = tabular(200, F, () => rng.normal());
      const labels = Uint8Array.from(predictProba(model, features), (p) => (p > 0.5 ? 1 : 0));
      const none = new Uint8Array(8);
      model.pruneUnits!(none);
      const flat = predictProba(model, features);
      // With every penultimate unit pruned only the output bias is left: one prediction for every row.
      assert.ok(flat.every((p) => p === flat[0]));
      model.pruneUnits!(null);
      const result = pruneDormantUnits(model, { features, labels }, 0.04, 0.125);
      assert.ok(result.pruned >= 1 && result.pruned < 8, `pruned ${result.pruned}`);
      assert.ok(result.prunedAuroc >= result.baseAuroc - 0.04);
      assert.ok(finePruning.params.auroc_drop);
    } finally {
      model.dispose();
    }
  });

  test('lstm and tcn define their prunable units; pruning them all leaves one prediction for every row', () => {
    const T = 6;
    const C = 4;
    const rng = deriveRng(0, 'test-prune-seq');
    const x = new Float32Array(30 * T * C).map(() => rng.normal());
    const features: Features = { view: 'sequence', n: 30, rowShape: [T, C], x, names: ['a', 'b', 'a_observed', 'b_observed'], sources: ['a', 'b', 'a', 'b'] };
    const models = [
      { model: lstm.build([T, C], lstm.resolveConfig({ hidden_units: 8 }), 0), units: 8, what: 'hidden units of the top LSTM layer' },
      { model: tcn.build([T, C], tcn.resolveConfig({ filters: 6, dilations: [1, 2] }), 0), units: 6, what: 'channels of the last residual block' },
    ];
    for (const { model, units, what } of models) {
      try {
        assert.equal(model.prunableUnits, what);
        const before = predictProba(model, features);
        assert.ok(before.some((p) => p !== before[0]));
        model.pruneUnits!(new Uint8Array(units));
        const flat = predictProba(model, features);
        assert.ok(flat.every((p) => p === flat[0]), what);
        model.pruneUnits!(null);
        assert.deepEqual(predictProba(model, features), before);
      } finally {
        model.dispose();
      }
    }
  });

  test('fine-pruning refuses a model without prunable units in one line', () => {
    const cfg = tabtransformer.resolveConfig({});
    const names = ['a_mean', 'b_mean'];
    const model = tabtransformer.build([2], cfg, 0, { names, sources: ['a', 'b'] });
    try {
      const validation = { features: tabular(10, 2, () => 0), labels: new Uint8Array(10) };
      assert.throws(() => pruneDormantUnits(model, validation, 0.04, 0.1), /fine_pruning: this model defines no prunable units.*valid models: mlp, lstm, tcn/);
    } finally {
      model.dispose();
    }
  });
});
