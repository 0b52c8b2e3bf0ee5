/**
 * The sequence and tabular models beyond the MLP: custom ops against references (values and gradients,
 * finite differences), batch independence, save → load, flat tensor counts while training, config checks,
 * and the wasm slice/concat kernel replacements against the cpu backend.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { Rng, deriveRng, selectBackend } from '../src/engine/index.js';
import type { Features } from '../src/data/features/types.js';
import { getModel } from '../src/models/registry.js';
import type { BuiltModel, FeatureNames, ModelSpec } from '../src/models/types.js';
import { lstmLayer, lstmReference } from '../src/models/layers/lstm-op.js';
import { allSteps, causalConv1d, causalConv1dReference, causalConvSteps, selectSteps, toTimeMajor } from '../src/models/layers/causal-conv.js';
import { dense } from '../src/models/layers/dense.js';
import { layerNorm, layerNormReference } from '../src/models/layers/layer-norm.js';
import { dropout } from '../src/models/layers/dropout.js';
import { receptiveField, requiredSteps } from '../src/models/tcn.js';
import { hasAttention, type TabTransformer } from '../src/models/tabtransformer.js';
import { trainModel } from '../src/train/trainer.js';
import { listCheckpoints, readCheckpoint } from '../src/train/checkpoint.js';
import { UserError } from '../src/util/errors.js';
import { tempDir } from './helpers.js';

function randn(rng: Rng, n: number, sd = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal(0, sd);
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, what: string): void {
  const d = maxAbsDiff(actual, expected);
  assert.ok(d <= atol, `${what}: max |difference| ${d.toExponential(2)} > ${atol}`);
}

/** Gradient of a scalar function against central differences at `probes` coordinates of each input. */
function finiteDifferenceCheck(f: (...xs: tf.Tensor[]) => tf.Scalar, inputs: tf.Tensor[], what: string, probes = 12, eps = 1e-2): void {
  const analytic = tf.grads((...xs: tf.Tensor[]) => f(...xs))(inputs).map((g) => g.dataSync().slice());
  const rng = new Rng(`fd/${what}`);
  inputs.forEach((input, k) => {
    const base = input.dataSync().slice();
    const picks = rng.sample(Array.from(base.keys()), Math.min(probes, base.length));
    for (const i of picks) {
      const at = (delta: number): number => {
        const v = base.slice();
        v[i] += delta;
        return tf.tidy(() => {
          const args = inputs.map((t, j) => (j === k ? tf.tensor(v, t.shape) : t));
          return f(...args).dataSync()[0];
        });
      };
      const numeric = (at(eps) - at(-eps)) / (2 * eps);
      const g = analytic[k][i];
      const tol = 5e-3 + 2e-2 * Math.abs(numeric);
      assert.ok(Math.abs(g - numeric) <= tol, `${what}: input ${k} element ${i}: analytic ${g}, numeric ${numeric}`);
    }
  });
}

const T = 6;
const V = 3;
const SEQ_SHAPE = [T, 2 * V];
const TAB_SOURCES = ['hr', 'hr', 'hr', 'sbp', 'sbp', 'sbp', 'age', 'age', 'sex'];
const TAB_FEATURES: FeatureNames = { names: TAB_SOURCES.map((s, j) => `${s}_${j}`), sources: TAB_SOURCES };

/** Tiny configs, so every test runs in well under a second per model. */
const TINY: Record<string, { raw: Record<string, unknown>; shape: number[] }> = {
  mlp: { raw: { hidden_units: [8], dropout: 0.2 }, shape: [TAB_SOURCES.length] },
  lstm: { raw: { hidden_units: 5, layers: 2, dropout: 0.2 }, shape: SEQ_SHAPE },
  tcn: { raw: { filters: 4, dilations: [1, 2], dropout: 0.2 }, shape: SEQ_SHAPE },
  tabtransformer: { raw: { d_token: 8, heads: 2, blocks: 2, ffn_hidden: 8 }, shape: [TAB_SOURCES.length] },
};
const NEW_MODELS = ['lstm', 'tcn', 'tabtransformer'];

function buildTiny(name: string, seed: number | string = 7, overrides: Record<string, unknown> = {}): { spec: ModelSpec<any>; model: BuiltModel } {
  const spec = getModel(name);
  const { raw, shape } = TINY[name];
  const config = spec.resolveConfig({ ...raw, ...overrides });
  return { spec, model: spec.build(shape, config, seed, spec.view === 'tabular' ? TAB_FEATURES : undefined) };
}

function logitsOf(model: BuiltModel, x: Float32Array, shape: number[]): Float32Array {
  return tf.tidy(() => model.logits(tf.tensor(x, shape)).dataSync() as Float32Array);
}

describe('fused LSTM op', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    for (const returnSequences of [true, false]) {
      it(`matches the autodiff reference in value and gradients (${backend}, ${returnSequences ? 'all states' : 'last state'})`, async () => {
        await selectBackend(backend);
        const rng = new Rng('lstm-op');
        const [B, Tt, C, H] = [3, 5, 4, 6];
        const x = tf.tensor3d(randn(rng, B * Tt * C), [B, Tt, C]);
        const wx = tf.tensor2d(randn(rng, C * 4 * H, 0.5), [C, 4 * H]);
        const wh = tf.tensor2d(randn(rng, H * 4 * H, 0.5), [H, 4 * H]);
        const b = tf.tensor1d(randn(rng, 4 * H, 0.5));
        const w = tf.tensor(randn(rng, B * (returnSequences ? Tt : 1) * H), returnSequences ? [B, Tt, H] : [B, H]);
        const run = (fn: typeof lstmLayer) => {
          const grads = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(fn(a[0] as tf.Tensor3D, a[1] as tf.Tensor2D, a[2] as tf.Tensor2D, a[3] as tf.Tensor1D, returnSequences), w)));
          return [fn(x, wx, wh, b, returnSequences), ...grads([x, wx, wh, b])].map((t) => t.dataSync().slice());
        };
        const fused = run(lstmLayer);
        const reference = run(lstmReference);
        ['output', 'dx', 'dwx', 'dwh', 'db'].forEach((what, i) => assertClose(fused[i], reference[i], 1e-5, what));
        tf.dispose([x, wx, wh, b, w]);
      });
    }
  }

  it('has the finite-difference gradient (cpu)', async () => {
    await selectBackend('cpu');
    const rng = new Rng('lstm-fd');
    const [B, Tt, C, H] = [2, 4, 3, 3];
    const x = tf.tensor3d(randn(rng, B * Tt * C), [B, Tt, C]);
    const wx = tf.tensor2d(randn(rng, C * 4 * H, 0.5), [C, 4 * H]);
    const wh = tf.tensor2d(randn(rng, H * 4 * H, 0.5), [H, 4 * H]);
    const b = tf.tensor1d(randn(rng, 4 * H, 0.5));
    const r = tf.tensor3d(randn(rng, B * Tt * H), [B, Tt, H]);
    finiteDifferenceCheck((...a) => tf.sum(tf.mul(lstmLayer(a[0] as tf.Tensor3D, a[1] as tf.Tensor2D, a[2] as tf.Tensor2D, a[3] as tf.Tensor1D, true), r)), [x, wx, wh, b], 'lstm');
    tf.dispose([x, wx, wh, b, r]);
  });
});

describe('dense op', () => {
  it('equals x·W + b and its ReLU, with the finite-difference gradient (cpu) and autodiff\'s (cpu, wasm)', async () => {
    const rng = new Rng('dense');
    const [rows, inputs, outputs] = [5, 4, 3];
    for (const backend of ['cpu', 'wasm'] as const) {
      await selectBackend(backend);
      const x = tf.tensor2d(randn(rng, rows * inputs), [rows, inputs]);
      const w = tf.tensor2d(randn(rng, inputs * outputs, 0.5), [inputs, outputs]);
      const b = tf.tensor1d(randn(rng, outputs, 0.5));
      const expected = tf.tidy(() => tf.add(tf.matMul(x, w), b));
      assertClose(dense(x, w, b).dataSync(), expected.dataSync(), 1e-5, `${backend} linear`);
      assertClose(dense(x, w, b, 'relu').dataSync(), tf.relu(expected).dataSync(), 1e-5, `${backend} relu`);
      const r = tf.tensor2d(randn(rng, rows * outputs), [rows, outputs]);
      if (backend === 'cpu') finiteDifferenceCheck((...a) => tf.sum(tf.mul(tf.sin(dense(a[0] as tf.Tensor2D, a[1] as tf.Tensor2D, a[2] as tf.Tensor1D)), r)), [x, w, b], 'dense');
      // With the ReLU, the hand-written gradients equal autodiff of the plain ops.
      const gradsOf = (useDense: boolean) =>
        tf.grads((xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
          tf.sum(tf.mul(useDense ? dense(xx as tf.Tensor2D, ww as tf.Tensor2D, bb as tf.Tensor1D, 'relu') : tf.relu(tf.add(tf.matMul(xx, ww), bb)), r)),
        )([x, w, b]);
      const mine = gradsOf(true);
      const reference = gradsOf(false);
      mine.forEach((g, i) => assertClose(g.dataSync(), reference[i].dataSync(), 1e-5, `${backend} relu gradient ${i}`));
      tf.dispose([...mine, ...reference]);
      tf.dispose([x, w, b, expected, r]);
    }
  });
});

describe('causal dilated convolution', () => {
  const [B, Tt, C, F, k, d] = [2, 7, 3, 4, 3, 2];
  const make = (seed: string) => {
    const rng = new Rng(seed);
    return {
      x: tf.tensor3d(randn(rng, B * Tt * C), [B, Tt, C]),
      w: tf.tensor2d(randn(rng, k * C * F, 0.5), [k * C, F]),
      b: tf.tensor1d(randn(rng, F, 0.5)),
    };
  };

  it('equals direct summation over taps, on cpu and wasm', async () => {
    for (const backend of ['cpu', 'wasm'] as const) {
      await selectBackend(backend);
      const { x, w, b } = make('conv-values');
      assertClose(causalConv1d(x, w, b, k, d).dataSync(), causalConv1dReference(x, w, b, k, d).dataSync(), 1e-5, backend);
      tf.dispose([x, w, b]);
    }
  });

  it('is causal: outputs up to t do not depend on inputs after t', async () => {
    await selectBackend('wasm');
    const { x, w, b } = make('conv-causal');
    const t0 = 3;
    const changed = tf.tidy(() => {
      const v = x.arraySync();
      for (const row of v) for (let t = t0 + 1; t < Tt; t++) row[t] = row[t].map((z) => z + 5);
      return tf.tensor3d(v);
    });
    const a = causalConv1d(x, w, b, k, d).slice([0, 0, 0], [B, t0 + 1, F]).dataSync();
    const c = causalConv1d(changed, w, b, k, d).slice([0, 0, 0], [B, t0 + 1, F]).dataSync();
    assertClose(a, c, 0, 'prefix');
    tf.dispose([x, w, b, changed]);
  });

  it('has the finite-difference gradient in input, kernel and bias (cpu)', async () => {
    await selectBackend('cpu');
    const { x, w, b } = make('conv-fd');
    const r = tf.tensor3d(randn(new Rng('conv-fd-r'), B * Tt * F), [B, Tt, F]);
    // A nonlinearity after the (linear) convolution, so that the check also tests the chain through it.
    finiteDifferenceCheck((...a) => tf.sum(tf.mul(tf.sin(causalConv1d(a[0] as tf.Tensor3D, a[1] as tf.Tensor2D, a[2] as tf.Tensor1D, k, d)), r)), [x, w, b], 'causal conv');
    // With the fused ReLU (probes are unlikely to sit within ε of a kink: pre-activations are O(1)).
    finiteDifferenceCheck((...a) => tf.sum(tf.mul(causalConv1d(a[0] as tf.Tensor3D, a[1] as tf.Tensor2D, a[2] as tf.Tensor1D, k, d, 'relu'), r)), [x, w, b], 'causal conv relu', 12, 1e-3);
    tf.dispose([x, w, b, r]);
  });

  it('computes only the requested steps, exactly, with the finite-difference gradient (cpu)', async () => {
    // T = 9, kernel 3, dilation 2: outputs at steps 4 and 8 read steps {0, 2, 4} and {4, 6, 8}.
    const T9 = 9;
    const inSteps = [0, 2, 4, 6, 8];
    const outSteps = [4, 8];
    const rng = new Rng('conv-steps');
    const full = tf.tensor3d(randn(rng, B * T9 * C), [B, T9, C]);
    const w = tf.tensor2d(randn(rng, k * C * F, 0.5), [k * C, F]);
    const b = tf.tensor1d(randn(rng, F, 0.5));
    for (const backend of ['cpu', 'wasm'] as const) {
      await selectBackend(backend);
      const expected = tf.tidy(() => selectSteps(toTimeMajor(causalConv1dReference(full, w, b, k, d)), allSteps(T9), outSteps).dataSync().slice());
      const got = tf.tidy(() => causalConvSteps(selectSteps(toTimeMajor(full), allSteps(T9), inSteps), inSteps, outSteps, w, b, k, d).dataSync().slice());
      assertClose(got, expected, 1e-5, `${backend} steps`);
    }
    await selectBackend('cpu');
    const x = tf.tidy(() => selectSteps(toTimeMajor(full), allSteps(T9), inSteps));
    const r = tf.tensor2d(randn(new Rng('conv-steps-r'), outSteps.length * B * F), [outSteps.length * B, F]);
    finiteDifferenceCheck((...a) => tf.sum(tf.mul(tf.sin(causalConvSteps(a[0] as tf.Tensor2D, inSteps, outSteps, a[1] as tf.Tensor2D, a[2] as tf.Tensor1D, k, d)), r)), [x, w, b], 'causal conv steps');
    assert.throws(() => causalConvSteps(x, [0, 2, 4, 6, 7], [8], w, b, k, d), /reads step 6|reads step 8/);
    tf.dispose([full, w, b, x, r]);
  });

  it('fused ReLU equals ReLU of the convolution, and kernel size 1 is a dense layer per step', async () => {
    await selectBackend('wasm');
    const { x, w, b } = make('conv-relu');
    assertClose(causalConv1d(x, w, b, k, d, 'relu').dataSync(), tf.relu(causalConv1dReference(x, w, b, k, d)).dataSync(), 1e-5, 'relu');
    const w1 = tf.tensor2d(randn(new Rng('conv-k1'), C * F), [C, F]);
    assertClose(causalConv1d(x, w1, b, 1, 1).dataSync(), causalConv1dReference(x, w1, b, 1, 1).dataSync(), 1e-5, 'k=1');
    tf.dispose([x, w, b, w1]);
  });

  it('reports the receptive field of Bai et al.', () => {
    assert.equal(receptiveField({ kernel_size: 3, dilations: [1, 2, 4] }), 29);
  });
});

describe('layer normalization', () => {
  it('matches the autodiff reference and finite differences', async () => {
    for (const backend of ['cpu', 'wasm'] as const) {
      await selectBackend(backend);
      const rng = new Rng('ln');
      const x = tf.tensor3d(randn(rng, 2 * 3 * 5, 2), [2, 3, 5]);
      const g = tf.tensor1d(randn(rng, 5));
      const bt = tf.tensor1d(randn(rng, 5));
      const r = tf.tensor3d(randn(rng, 30), [2, 3, 5]);
      const loss = (fn: typeof layerNorm) => (...a: tf.Tensor[]) => tf.sum(tf.mul(tf.square(fn(a[0], a[1] as tf.Tensor1D, a[2] as tf.Tensor1D)), r)) as tf.Scalar;
      const ours = tf.grads(loss(layerNorm))([x, g, bt]).map((t) => t.dataSync().slice());
      const ref = tf.grads(loss(layerNormReference))([x, g, bt]).map((t) => t.dataSync().slice());
      assertClose(layerNorm(x, g, bt).dataSync(), layerNormReference(x, g, bt).dataSync(), 1e-5, `${backend} value`);
      ['dx', 'dgamma', 'dbeta'].forEach((what, i) => assertClose(ours[i], ref[i], 1e-4, `${backend} ${what}`));
      if (backend === 'cpu') finiteDifferenceCheck(loss(layerNorm), [x, g, bt], 'layer norm');
      tf.dispose([x, g, bt, r]);
    }
  });
});

describe('dropout', () => {
  it('keeps 1 − rate of the elements, scaled by 1/(1 − rate), the same for the same seed', async () => {
    await selectBackend('wasm');
    const x = tf.ones([101, 99]);
    const a = dropout(x, 0.3, 11).dataSync();
    const b = dropout(x, 0.3, 11).dataSync();
    const c = dropout(x, 0.3, 12).dataSync();
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    const kept = a.filter((v) => v !== 0);
    assert.ok(kept.every((v) => Math.abs(v - 1 / 0.7) < 1e-6));
    // 9999 Bernoulli(0.7) draws: sd of the share is 0.0046.
    assert.ok(Math.abs(kept.length / a.length - 0.7) < 0.02, `kept ${kept.length / a.length}`);
    assert.equal(dropout(x, 0, 11), x);
    x.dispose();
  });
});

describe('models', () => {
  for (const name of ['mlp', ...NEW_MODELS]) {
    it(`${name}: a row's prediction does not depend on the other rows of its batch`, async () => {
      await selectBackend('wasm');
      const { model } = buildTiny(name);
      const { shape } = TINY[name];
      const size = shape.reduce((a, b) => a * b, 1);
      const rng = new Rng(`batch/${name}`);
      const batch = randn(rng, 9 * size);
      const row = batch.slice(4 * size, 5 * size);
      const alone = logitsOf(model, row, [1, ...shape]);
      const inBatch = logitsOf(model, batch, [9, ...shape]);
      assert.ok(Math.abs(alone[0] - inBatch[4]) <= 1e-5, `alone ${alone[0]} vs in batch ${inBatch[4]}`);
      model.dispose();
    });
  }

  for (const name of NEW_MODELS) {
    it(`${name}: save → load gives identical predictions; model.json is TF.js-style`, async () => {
      await selectBackend('wasm');
      const { spec, model } = buildTiny(name);
      const { shape } = TINY[name];
      const x = randn(new Rng(`save/${name}`), 5 * shape.reduce((a, b) => a * b, 1));
      const dir = tempDir(`model-${name}`);
      await model.save(dir);
      const loaded = await spec.load(dir, spec.resolveConfig(TINY[name].raw));
      assert.deepEqual(logitsOf(loaded, x, [5, ...shape]), logitsOf(model, x, [5, ...shape]));
      assert.deepEqual(loaded.trainableWeights().map((w) => w.shape), model.trainableWeights().map((w) => w.shape));
      const { readFile } = await import('node:fs/promises');
      const json = JSON.parse(await readFile(`${dir}/model.json`, 'utf8'));
      assert.equal(json.modelTopology.name, name);
      assert.deepEqual(json.weightsManifest[0].paths, ['weights.bin']);
      const bytes = (await readFile(`${dir}/weights.bin`)).byteLength;
      assert.equal(bytes, 4 * model.trainableWeights().reduce((a, w) => a + w.size, 0));
      model.dispose();
      loaded.dispose();
    });

    it(`${name}: initial weights follow the seed; dropout follows the step's seed`, async () => {
      await selectBackend('wasm');
      const { shape } = TINY[name];
      const x = tf.tensor(randn(new Rng(`seed/${name}`), 4 * shape.reduce((a, b) => a * b, 1)), [4, ...shape]);
      const a = buildTiny(name, 1).model;
      const b = buildTiny(name, 1).model;
      const c = buildTiny(name, 2).model;
      const out = (m: BuiltModel, seed?: number) => tf.tidy(() => m.logits(x, seed).dataSync().slice());
      assert.deepEqual(out(a), out(b));
      assert.notDeepEqual(out(a), out(c));
      assert.deepEqual(out(a, 5), out(b, 5));
      assert.notDeepEqual(out(a, 5), out(a, 6));
      assert.notDeepEqual(out(a, 5), out(a));
      [a, b, c].forEach((m) => m.dispose());
      x.dispose();
    });

    it(`${name}: tf.memory().numTensors stays flat across training epochs`, async () => {
      await selectBackend('wasm');
      const { model } = buildTiny(name);
      const { shape } = TINY[name];
      const rng = deriveRng('memory', name);
      const features = (n: number): Features => ({
        view: getModel(name).view,
        n,
        rowShape: shape,
        x: randn(rng, n * shape.reduce((a, b) => a * b, 1)),
        names: getModel(name).view === 'tabular' ? TAB_FEATURES.names : [],
        sources: getModel(name).view === 'tabular' ? TAB_FEATURES.sources : [],
      });
      const labels = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1 : 0));
      const counts: number[] = [];
      // Buffers the backend holds, including any a fused op created outside the engine and failed to free.
      const buffers: number[] = [];
      await trainModel({
        model,
        train: features(40),
        trainLabels: labels(40),
        val: features(12),
        valLabels: labels(12),
        config: { epochs: 3, batch_size: 16, learning_rate: 0.01, patience: 0, pos_weight: 1, checkpoints: 'none', select: 'best' },
        seed: 3,
        onEpoch: () => {
          counts.push(tf.memory().numTensors);
          buffers.push((tf.backend() as unknown as { numDataIds(): number }).numDataIds());
        },
      });
      assert.equal(counts.length, 3);
      assert.equal(counts[2], counts[0], `numTensors after each epoch: ${counts.join(', ')}`);
      assert.equal(buffers[2], buffers[0], `backend buffers after each epoch: ${buffers.join(', ')}`);
      model.dispose();
    });
  }

  it('train.select keeps the best validation epoch\'s weights or the last epoch\'s', async () => {
    await selectBackend('wasm');
    const { shape } = TINY.mlp;
    const rng = deriveRng('select');
    const features = (n: number): Features => ({ view: 'tabular', n, rowShape: shape, x: randn(rng, n * shape[0]), names: TAB_FEATURES.names, sources: TAB_FEATURES.sources });
    const train = features(60);
    const val = features(30);
    // Labels unrelated to the features: validation AUROC wanders, so the best epoch is rarely the last.
    const labels = (n: number, salt: number) => Uint8Array.from({ length: n }, (_, i) => ((i * 7 + salt) % 3 === 0 ? 1 : 0));
    for (const select of ['best', 'last'] as const) {
      const { model } = buildTiny('mlp', 11);
      const dir = tempDir(`select-${select}`);
      const result = await trainModel({
        model,
        train,
        trainLabels: labels(60, 1),
        val,
        valLabels: labels(30, 0),
        config: { epochs: 8, batch_size: 16, learning_rate: 0.2, patience: 0, pos_weight: 1, checkpoints: 'last', select },
        seed: 5,
        checkpoint: { dir, runId: 'select-test', policy: 'last' },
      });
      assert.ok(result.bestEpoch < 8, `best epoch ${result.bestEpoch} should precede the last for this test to mean anything`);
      const [last] = await listCheckpoints(dir);
      const state = await readCheckpoint(last.path);
      const expected = select === 'best' ? state.tensors.best_weights : state.tensors.weights;
      const other = select === 'best' ? state.tensors.weights : state.tensors.best_weights;
      model.trainableWeights().forEach((w, k) => {
        assert.deepEqual(w.dataSync(), expected[k], `${select}: weight ${k}`);
      });
      assert.ok(model.trainableWeights().some((w, k) => !w.dataSync().every((v, i) => v === other[k][i])), `${select}: differs from the other selection`);
      model.dispose();
    }
  });

  it('tcn computes only the steps its last-step output reads, and the result is exact', async () => {
    const plan = requiredSteps(24, { kernel_size: 3, dilations: [1, 2, 4], pooling: 'last' });
    assert.deepEqual(plan.out.map((s) => s.length), [12, 5, 1]);
    assert.deepEqual(plan.mid.map((s) => s.length), [24, 11, 3]);
    assert.deepEqual(plan.out[2], [23]);
    assert.deepEqual(plan.mid[2], [15, 19, 23]);
    assert.deepEqual(requiredSteps(24, { kernel_size: 3, dilations: [1, 2, 4], pooling: 'mean' }).out[2].length, 24);
    await selectBackend('wasm');
    const { model } = buildTiny('tcn', 3, { dilations: [1, 2, 4] });
    const x = tf.tensor(randn(new Rng('tcn-prune'), 3 * SEQ_SHAPE[0] * SEQ_SHAPE[1]), [3, ...SEQ_SHAPE]);
    const pruned = tf.tidy(() => model.penultimate(x).dataSync().slice());
    const every = tf.tidy(() => (model as unknown as { representAllSteps(x: tf.Tensor): tf.Tensor }).representAllSteps(x).dataSync().slice());
    assertClose(pruned, every, 1e-5, 'pruned vs every step');
    model.dispose();
    x.dispose();
  });

  it('lstm and tcn pool the last step or the mean, as configured', async () => {
    await selectBackend('wasm');
    for (const name of ['lstm', 'tcn']) {
      const x = randn(new Rng(`pool/${name}`), 3 * T * 2 * V);
      const last = buildTiny(name, 1, { pooling: 'last' }).model;
      const mean = buildTiny(name, 1, { pooling: 'mean' }).model;
      const pl = tf.tidy(() => last.penultimate(tf.tensor(x, [3, ...SEQ_SHAPE])).dataSync().slice());
      const pm = tf.tidy(() => mean.penultimate(tf.tensor(x, [3, ...SEQ_SHAPE])).dataSync().slice());
      assert.notDeepEqual(pl, pm);
      last.dispose();
      mean.dispose();
    }
  });

  it('tabtransformer: attention maps per block are [batch, heads, tokens, tokens] with rows summing to 1', async () => {
    await selectBackend('wasm');
    const built = buildTiny('tabtransformer').model;
    assert.ok(hasAttention(built));
    const lstmModel = buildTiny('lstm').model;
    assert.ok(!hasAttention(lstmModel));
    lstmModel.dispose();
    const model = built as unknown as TabTransformer;
    const x = tf.tensor2d(randn(new Rng('attention'), 3 * TAB_SOURCES.length), [3, TAB_SOURCES.length]);
    const maps = model.attention(x);
    assert.deepEqual(model.tokenNames(), ['[CLS]', 'hr', 'sbp', 'age', 'sex']);
    assert.equal(maps.length, 2);
    for (const m of maps) {
      assert.deepEqual(m.shape, [3, 2, 5, 5]);
      assertClose(tf.sum(m, -1).dataSync(), new Float32Array(3 * 2 * 5).fill(1), 1e-5, 'row sums');
    }
    // The training path asks only the CLS query in the last block; its CLS output equals the full computation's.
    const encode = (model as unknown as { encode(x: tf.Tensor2D, seed: undefined, full: boolean): { cls: tf.Tensor2D } }).encode.bind(model);
    const full = tf.tidy(() => encode(x, undefined, true).cls.dataSync().slice());
    const clsOnly = tf.tidy(() => encode(x, undefined, false).cls.dataSync().slice());
    assertClose(clsOnly, full, 1e-5, 'CLS-only last block');
    tf.dispose(maps);
    x.dispose();
    model.dispose();
  });

  it('tabtransformer: feature tokenizer gives one token per column', async () => {
    await selectBackend('wasm');
    const { model } = buildTiny('tabtransformer', 1, { tokenizer: 'feature' });
    assert.equal((model as unknown as TabTransformer).tokenNames().length, TAB_SOURCES.length + 1);
    model.dispose();
  });

  it('config errors are one-line UserErrors naming the key', () => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['lstm', { hidden: 3 }, /^model: unknown lstm parameter "hidden"; valid: hidden_units, layers, pooling, dropout$/],
      ['lstm', { pooling: 'max' }, /^model\.pooling: bad value "max"; valid: last, mean$/],
      ['tcn', { dilations: [1, 0] }, /^model\.dilations\[1\]: bad value 0; valid: an integer in \[1, ∞\)$/],
      ['tcn', { weight_norm: 'yes' }, /^model\.weight_norm: bad value "yes"; valid: true or false$/],
      ['tabtransformer', { d_token: 30, heads: 4 }, /d_token \(30\) must be divisible by model\.heads \(4\)/],
      ['tabtransformer', { tokenizer: 'column' }, /^model\.tokenizer: bad value "column"; valid: variable, feature$/],
    ];
    for (const [name, raw, re] of cases) {
      assert.throws(() => getModel(name).resolveConfig(raw), (err: Error) => err instanceof UserError && re.test(err.message) && !err.message.includes('\n'));
    }
  });
});

describe('sequence models join the statics before the output layer', () => {
  // Rows of [T, 2V + K]: the last K = 3 channels carry the statics, the same at every hour.
  const K = 3;
  const shape = [T, 2 * V + K];
  const features: FeatureNames = { names: Array.from({ length: shape[1] }, (_, c) => `c${c}`), sources: Array.from({ length: shape[1] }, (_, c) => `c${c}`), staticChannels: K };
  for (const name of ['lstm', 'tcn']) {
    it(`${name}: the representation is the sequence part plus the statics, which move the logit; save → load keeps them`, async () => {
      await selectBackend('wasm');
      const spec = getModel(name);
      const config = spec.resolveConfig(TINY[name].raw);
      const model = spec.build(shape, config, 5, features);
      const size = T * shape[1];
      const x = randn(new Rng(`statics/${name}`), 2 * size);
      // Statics constant over hours within each row.
      for (let i = 0; i < 2; i++) for (let t = 1; t < T; t++) for (let k = 0; k < K; k++) x[i * size + t * shape[1] + 2 * V + k] = x[i * size + 2 * V + k];
      const rep = tf.tidy(() => model.penultimate(tf.tensor(x, [2, ...shape])));
      const units = name === 'lstm' ? 5 : 4;
      assert.deepEqual(rep.shape, [2, units + K]);
      const repValues = rep.dataSync().slice();
      rep.dispose();
      for (let i = 0; i < 2; i++) for (let k = 0; k < K; k++) assert.ok(Math.abs(repValues[i * (units + K) + units + k] - x[i * size + 2 * V + k]) < 1e-6);
      // The output layer reads the statics: change one static, the logit moves; the sequence part of the representation does not.
      const changed = x.slice();
      for (let t = 0; t < T; t++) changed[t * shape[1] + 2 * V] += 2;
      const before = logitsOf(model, x, [2, ...shape]);
      const after = logitsOf(model, changed, [2, ...shape]);
      assert.ok(Math.abs(after[0] - before[0]) > 1e-4, `${after[0]} vs ${before[0]}`);
      assert.equal(after[1], before[1]);
      const seqPart = (input: Float32Array) => tf.tidy(() => model.penultimate(tf.tensor(input, [2, ...shape])).slice([0, 0], [1, units]).dataSync().slice());
      assert.deepEqual(seqPart(changed), seqPart(x));
      const dir = tempDir(`statics-${name}`);
      await model.save(dir);
      const loaded = await spec.load(dir, config);
      assert.deepEqual(logitsOf(loaded, x, [2, ...shape]), before);
      loaded.dispose();
      model.dispose();
      assert.throws(() => spec.build(shape, config, 5, { ...features, staticChannels: shape[1] }), /static channels do not fit/);
    });
  }
});

describe('wasm Slice/SplitV/Unpack/Concat replacements', () => {
  it('agree with the cpu backend', async () => {
    const rng = new Rng('slice-kernels');
    const f = randn(rng, 4 * 5 * 6 * 3);
    const ints = Int32Array.from(f, (v) => Math.round(v * 10));
    const cases = (x: tf.Tensor4D, y: tf.Tensor4D): tf.Tensor[] => [
      tf.slice(x, [1, 0, 2, 0], [2, 5, 3, 3]),
      tf.slice(x, [0, 1, 0, 1], [4, 3, 6, 2]),
      tf.slice(x, [2, 0, 0, 0], [1, 5, 6, 3]),
      tf.slice(x, [1, 2, 3, 1], [3, 2, 2, 1]),
      ...tf.split(x, [2, 4], 2),
      ...tf.split(x, 5, 1),
      ...tf.unstack(x, 3),
      tf.concat([x, y], 0),
      tf.concat([x, y, x], 2),
      tf.concat([x, y], 3),
      tf.greater(tf.slice(x, [0, 1, 0, 0], [4, 2, 6, 3]), 0),
      tf.concat([tf.greater(x, 0), tf.less(y, 0)], 2),
    ];
    const results: Record<string, (Float32Array | Int32Array | Uint8Array)[]> = {};
    for (const backend of ['cpu', 'wasm'] as const) {
      await selectBackend(backend);
      results[backend] = tf.tidy(() => {
        const xf = tf.tensor4d(f, [4, 5, 6, 3]);
        const xi = tf.tensor4d(ints, [4, 5, 6, 3], 'int32');
        return [...cases(xf, tf.neg(xf)), ...cases(xi, tf.neg(xi))].map((t) => t.dataSync().slice() as Float32Array);
      });
    }
    results.cpu.forEach((expected, i) => assert.deepEqual(results.wasm[i], expected, `case ${i}`));
  });
});
