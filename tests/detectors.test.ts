/**
 * Poisoning detectors on small synthetic inputs fed through the DetectionInput seam (no training), integrated
 * gradients' completeness on a real MLP, and detection on a tiny clean run (not applicable, no crash).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { parquetReadObjects } from 'hyparquet';

import { deriveRng } from '../src/engine/rng.js';
import { selectBackend } from '../src/engine/backend.js';
import { setupData } from '../src/data/setup.js';
import type { Features } from '../src/data/features/types.js';
import { resolveRunConfig } from '../src/experiments/config.js';
import { executeRun, type RunResult } from '../src/experiments/run.js';
import { loadDataset } from '../src/experiments/dataset.js';
import { prepareRun } from '../src/experiments/prepare.js';
import { mlp } from '../src/models/mlp.js';
import { activationClustering } from '../src/detectors/activation-clustering.js';
import { completenessErrors, integratedGradients, meanRow } from '../src/detectors/integrated-gradients.js';
import { matrix, symmetricEigen } from '../src/detectors/linalg.js';
import { outlier } from '../src/detectors/outlier.js';
import { mergeDetectorParams } from '../src/detectors/registry.js';
import { spectral } from '../src/detectors/spectral.js';
import { saliency } from '../src/detectors/saliency.js';
import { detectorNames } from '../src/detectors/registry.js';
import { detectionSummaryColumnNames, detectionSummaryColumns } from '../src/runs/summary.js';
import { runDetection } from '../src/experiments/detection.js';
import type { DetectionInput } from '../src/detectors/types.js';
import type { TargetClassDetection } from '../src/metrics/detection.js';
import { UserError } from '../src/util/errors.js';
import { tempDir } from './helpers.js';

function gaussianRows(n: number, d: number, seed: string, shift: (i: number) => number[] | null = () => null): number[] {
  const rng = deriveRng(seed);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = shift(i);
    for (let j = 0; j < d; j++) out.push(rng.normal() + (s ? s[j] : 0));
  }
  return out;
}

function ranked(scores: Float32Array, rows: number[]): number[] {
  return [...rows].sort((a, b) => scores[b] - scores[a] || a - b);
}

describe('linear algebra', () => {
  test('the Jacobi eigen-decomposition satisfies A v = λ v, with eigenvalues largest first', () => {
    const d = 7;
    const rng = deriveRng('eigen');
    const b = Array.from({ length: d * d }, () => rng.normal());
    const a = new Float64Array(d * d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) for (let k = 0; k < d; k++) a[i * d + j] += b[i * d + k] * b[j * d + k];
    const { values, vectors } = symmetricEigen(a, d);
    for (let k = 0; k < d; k++) {
      if (k > 0) assert.ok(values[k] <= values[k - 1]);
      for (let i = 0; i < d; i++) {
        let av = 0;
        for (let j = 0; j < d; j++) av += a[i * d + j] * vectors[j * d + k];
        assert.ok(Math.abs(av - values[k] * vectors[i * d + k]) < 1e-9, `eigenpair ${k}, row ${i}`);
      }
    }
  });
});

describe('spectral signatures', () => {
  const d = 12;
  const n = 300;
  const planted = new Set([5, 40, 77, 120, 151, 199, 230, 260, 281, 299, 13, 66, 90, 175, 211]);
  // Label 1 rows carry a planted shift along one direction; label 0 rows (every 3rd row) are clean noise.
  const labels = Uint8Array.from({ length: n }, (_, i) => (i % 3 === 0 && !planted.has(i) ? 0 : 1));
  const direction = Array.from({ length: d }, (_, j) => (j < 3 ? 4 : 0));
  const reps = matrix(n, d, gaussianRows(n, d, 'spectral', (i) => (planted.has(i) ? direction : null)));
  const input: DetectionInput = { labels, seed: 0, configuredRate: 0.05, representation: () => reps };

  test('ranks the planted rows first within their class, and flags the top 1.5·ε·n of each class', () => {
    const class1 = [...labels.keys()].filter((i) => labels[i] === 1);
    const class0 = n - class1.length;
    const flaggedIn = (flags: Uint8Array, label: number) => [...flags.keys()].filter((i) => flags[i] === 1 && labels[i] === label);
    // ε as a share of the training split (the paper's count of poisoned rows): 1.5·0.05·300 = 22 rows per class.
    const out = spectral.score(input, spectral.resolve(mergeDetectorParams('spectral', { epsilon: 0.05 })));
    assert.deepEqual(new Set(ranked(out.scores, class1).slice(0, planted.size)), planted);
    assert.equal(flaggedIn(out.flagged, 1).length, Math.floor(1.5 * 0.05 * n));
    assert.equal(flaggedIn(out.flagged, 0).length, Math.floor(1.5 * 0.05 * n));
    for (const i of planted) assert.equal(out.flagged[i], 1);
    // ε as a share of each class.
    const perClass = spectral.score(input, spectral.resolve(mergeDetectorParams('spectral', { epsilon: 0.05, epsilon_scope: 'class' })));
    assert.equal(flaggedIn(perClass.flagged, 1).length, Math.floor(1.5 * 0.05 * class1.length));
    assert.equal(flaggedIn(perClass.flagged, 0).length, Math.floor(1.5 * 0.05 * class0));
    assert.ok(flaggedIn(perClass.flagged, 1).every((i) => planted.has(i)));
  });

  test('epsilon: `run` takes the configured rate; absent, the schema default 0.05; a bad value is one line', () => {
    const byRun = spectral.score({ ...input, configuredRate: 0.1 }, spectral.resolve(mergeDetectorParams('spectral', { epsilon: 'run' })));
    assert.equal(byRun.details.epsilon_used, 0.1);
    assert.equal(spectral.resolve({ removal_factor: 1.5, epsilon_scope: 'training_set', normalize: 'none' }).epsilon, 0.05);
    assert.throws(
      () => spectral.resolve(mergeDetectorParams('spectral', { epsilon: 'half' })),
      (e: unknown) => e instanceof UserError && e.message === 'spectral.epsilon: bad value "half"; valid: a number in [0, 0.5], or run',
    );
  });
});

describe('activation clustering', () => {
  const d = 16;
  const n = 400;
  const params = activationClustering.resolve(mergeDetectorParams('activation_clustering'));

  test('flags nothing on well-separated clean classes (one Gaussian blob per class)', () => {
    const labels = Uint8Array.from({ length: n }, (_, i) => i % 2);
    const offset = Array.from({ length: d }, () => 10);
    const reps = matrix(n, d, gaussianRows(n, d, 'ac-clean', (i) => (i % 2 === 1 ? offset : null)));
    const out = activationClustering.score({ labels, seed: 0, representation: () => reps }, params);
    assert.equal(out.flagged.reduce((a, b) => a + b, 0), 0);
    for (const c of out.details.classes as { relative_size: number; flagged: boolean }[]) {
      assert.equal(c.flagged, false);
      assert.ok(c.relative_size >= 0.35, `relative size ${c.relative_size}`);
    }
  });

  test('flags a small separate cluster inside a class, and only that cluster', () => {
    const labels = new Uint8Array(n).fill(1);
    const planted = (i: number) => i % 10 === 3; // 10% of the class
    const shift = Array.from({ length: d }, (_, j) => (j < 4 ? 6 : 0));
    const reps = matrix(n, d, gaussianRows(n, d, 'ac-poison', (i) => (planted(i) ? shift : null)));
    const out = activationClustering.score({ labels, seed: 0, representation: () => reps }, params);
    for (let i = 0; i < n; i++) assert.equal(out.flagged[i], planted(i) ? 1 : 0, `row ${i}`);
  });
});

describe('outlier baseline', () => {
  test('flags a planted 9999 row and nothing else', () => {
    const n = 200;
    const F = 5;
    const x = Float32Array.from(gaussianRows(n, F, 'outlier'));
    x[17 * F + 2] = 9999;
    const features: Features = { view: 'tabular', n, rowShape: [F], x, names: ['a', 'b', 'c', 'd', 'e'], sources: ['a', 'b', 'c', 'd', 'e'] };
    const out = outlier.score({ labels: new Uint8Array(n), seed: 0, features }, outlier.resolve(mergeDetectorParams('outlier')));
    assert.deepEqual([...out.flagged.keys()].filter((i) => out.flagged[i] === 1), [17]);
    assert.deepEqual(out.details.flagged_by_feature, { c: 1 });
  });
});

describe('integrated gradients', () => {
  before(async () => {
    await selectBackend('auto');
  });

  test('completeness: attributions sum to f(x) − f(baseline) within 1e-3 (relative) with 64 steps on an MLP', () => {
    const F = 8;
    const n = 24;
    const model = mlp.build([F], mlp.resolveConfig({ hidden_units: [16, 8], activation: 'tanh', dropout: 0 }), 3);
    try {
      const inputs = { n, rowShape: [F], x: Float32Array.from(gaussianRows(n, F, 'ig')) };
      const baseline = meanRow(inputs);
      const tensorsBefore = tf.memory().numTensors;
      for (const rule of ['trapezoid', 'midpoint'] as const) {
        const ig = integratedGradients(model, inputs, baseline, { steps: 64, rule });
        const direct = tf.tidy(() => model.logits(tf.tensor2d(inputs.x, [n, F])).dataSync());
        for (let i = 0; i < n; i++) assert.ok(Math.abs(ig.logits[i] - direct[i]) < 1e-5);
        const errors = completenessErrors(ig, F);
        for (let i = 0; i < n; i++) {
          if (Math.abs(ig.logits[i] - ig.baselineLogit) < 0.05) continue; // a relative check needs a real difference
          assert.ok(errors[i] <= 1e-3, `${rule} row ${i}: relative completeness error ${errors[i]}`);
        }
      }
      assert.equal(tf.memory().numTensors, tensorsBefore, 'integrated gradients leaks no tensors');
    } finally {
      model.dispose();
    }
  });

  test('the saliency detector singles out rows whose decision rests on one feature', () => {
    // A linear "model" on 10 features, f(x) = x·w: IG_j = (x_j − x̄_j) w_j exactly; rows 0..4 carry a huge value
    // on feature 7, so nearly all their attribution sits there.
    const F = 10;
    const n = 120;
    const x = Float32Array.from(gaussianRows(n, F, 'saliency'));
    for (let i = 0; i < 5; i++) x[i * F + 7] = 25;
    const w = tf.tensor2d(Array.from({ length: F }, () => 1), [F, 1]);
    const model = {
      logits: (t: tf.Tensor) => tf.tidy(() => t.matMul(w).reshape([-1]) as tf.Tensor1D),
      penultimate: (t: tf.Tensor) => t as tf.Tensor2D,
      trainableWeights: () => [],
      save: async () => {},
      dispose: () => w.dispose(),
    };
    try {
      const features: Features = { view: 'tabular', n, rowShape: [F], x, names: [], sources: [] };
      const out = saliency.score({ labels: new Uint8Array(n), seed: 0, features, model }, saliency.resolve(mergeDetectorParams('saliency', { top_k: 1 })));
      assert.deepEqual(new Set(ranked(out.scores, [...Array(n).keys()]).slice(0, 5)), new Set([0, 1, 2, 3, 4]));
      for (let i = 0; i < 5; i++) assert.equal(out.flagged[i], 1);
    } finally {
      model.dispose();
    }
  });
});

describe('detection on tiny runs', () => {
  const work = tempDir('detect');
  const dataDir = join(work, 'data');
  const data = { path: join(dataDir, 'dev', 'dev.parquet'), splits: join(dataDir, 'splits', 'splits.json') };
  const small = { model: { hidden_units: [16, 8] }, train: { epochs: 2 }, evaluation: { clean_run_triggers: ['rare_value'] } };
  let clean: RunResult;
  let poisoned: RunResult;

  before(async () => {
    await setupData({ dataDir, nStays: 1200, devSize: 600, hours: 24, seed: 7 });
    clean = await executeRun(resolveRunConfig({ overrides: { data, ...small } }), { runsDir: join(work, 'runs') });
    poisoned = await executeRun(resolveRunConfig({ overrides: { data, ...small, trigger: { name: 'rare_value' }, poison: { rate: 0.05 } } }), { runsDir: join(work, 'runs') });
  });

  test('on a poisoned run: metrics against the true rows, per-row scores in Parquet, attribution on the trigger features', async () => {
    const result = await runDetection(poisoned.dir, { methods: ['outlier', 'saliency'] });
    const nPoisoned = poisoned.metrics.data.n_poisoned;
    for (const r of result.results) {
      assert.equal(r.metrics.applicable, true);
      const buf = readFileSync(join(poisoned.dir, 'detection', `${r.method}_scores.parquet`));
      const rows = await parquetReadObjects({ file: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer });
      assert.equal(rows.length, poisoned.metrics.data.n_train);
      assert.deepEqual(Object.keys(rows[0]), ['row', 'stay_id', 'score', 'flagged', 'poisoned']);
      assert.equal(rows.filter((row) => row.poisoned).length, nPoisoned);
      assert.equal(rows.filter((row) => row.flagged).length, r.flagged);
    }
    // A glucose value far above the training split's 99.9th percentile is exactly what a range check catches. Within
    // the target class (0.885 here) it meets the deaths' own extreme values, which over all rows are diluted by survivors.
    const out = result.results.find((r) => r.method === 'outlier')!.metrics as TargetClassDetection;
    assert.ok(out.all_rows.auroc > 0.95 && out.rule.recall === 1, `outlier all-rows AUROC ${out.all_rows.auroc}, recall ${out.rule.recall}`);
    assert.ok(out.target_class.auroc > 0.85 && out.target_class.auroc < out.all_rows.auroc, `outlier target-class AUROC ${out.target_class.auroc}`);
    const att = JSON.parse(readFileSync(join(poisoned.dir, 'detection', 'saliency_attribution.json'), 'utf8'));
    assert.deepEqual(att.touched_features, ['glucose_mean', 'glucose_min', 'glucose_max', 'glucose_last', 'glucose_count', 'glucose_missing']);
    assert.equal(att.clean.mean_abs_ig.length, att.features.length);
    assert.ok(att.triggered.tar > 0 && att.triggered.tar <= 1 && att.clean.tar > 0 && att.clean.tar <= 1);
  });

  test('reports "not applicable", still writes its files, and the defence has no ASR or DER', async () => {
    const result = await runDetection(clean.dir, { methods: ['spectral', 'outlier', 'saliency'], defend: true });
    for (const r of result.results) {
      assert.equal(r.metrics.applicable, false);
      assert.match((r.metrics as { reason: string }).reason, /clean run/);
      for (const f of r.files) assert.ok(existsSync(join(clean.dir, 'detection', f)), f);
      assert.equal(r.defence!.before.asr, null);
      assert.equal(r.defence!.effect.der, null);
    }
    const report = JSON.parse(readFileSync(join(clean.dir, 'detection', 'spectral.json'), 'utf8'));
    assert.equal(report.metrics.applicable, false);
    assert.ok(report.flagged > 0); // the explicit ε = 0.05 still flags 7.5% of each class: false alarms
    const columns = await detectionSummaryColumns(clean.dir, detectorNames());
    assert.deepEqual(Object.keys(columns), detectionSummaryColumnNames(detectorNames()));
    assert.equal(columns.det_spectral_auroc, null);
    assert.equal(columns.det_spectral_flagged, report.flagged);
    assert.equal(columns.det_activation_clustering_flagged, null);
    assert.equal(columns.att_tar_triggered, null);
    const att = JSON.parse(readFileSync(join(clean.dir, 'detection', 'saliency_attribution.json'), 'utf8'));
    assert.equal(att.triggered, null);
    assert.equal(columns.def_outlier_asr_before, null);
  });

  test('prepareRun drops rows after poisoning and before fitting the featurizer', async () => {
    const config = resolveRunConfig({ overrides: { data, trigger: { name: 'rare_value' }, poison: { rate: 0.05 } } });
    const dataset = await loadDataset(config.data.path, config.data.splits);
    const full = prepareRun(config, dataset);
    const drop = new Uint8Array(dataset.train.n);
    const poisoned = Array.from(full.poisoned.poisonedIndices);
    const cleanRow = [...drop.keys()].find((i) => !poisoned.includes(i))!;
    drop[poisoned[0]] = 1;
    drop[cleanRow] = 1;
    const dropped = prepareRun(config, dataset, undefined, { dropTrainRows: drop });
    assert.equal(dropped.trainFeatures.n, dataset.train.n - 2);
    assert.equal(dropped.poisoned.poisonedIndices.length, poisoned.length - 1);
    assert.deepEqual(Array.from(dropped.keptTrainRows!).filter((i) => drop[i] === 1), []);
    for (const k of dropped.poisoned.poisonedIndices) assert.ok(poisoned.includes(dropped.keptTrainRows![k]));
    assert.equal(full.keptTrainRows, undefined);
    assert.notDeepEqual(dropped.featurizerState, full.featurizerState);
  });
});
