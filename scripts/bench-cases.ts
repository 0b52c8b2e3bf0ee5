/**
 * The benchmark's cases (see bench.ts): the registry's models with their default configs, trained by the trainer's own
 * step on seeded random batches of the dev cohort's shapes, and variants kept for comparison (tf.layers, autodiff).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs';
import { parse as parseYaml } from 'yaml';

import { Rng, deriveIntSeed } from '../src/engine/index.js';
import { FEATURIZERS } from '../src/data/features/index.js';
import { generateSynthetic } from '../src/data/sources/synthetic.js';
import { getModel } from '../src/models/registry.js';
import type { FeatureNames } from '../src/models/types.js';
import { lstmReference } from '../src/models/layers/lstm-op.js';
import { trainingStep } from '../src/train/trainer.js';

export const SEED = 'bench';

export interface BenchRunner {
  /** One full training step; resolves when its loss value is on the host. */
  step(): Promise<number>;
  dispose(): void;
}

export interface BenchCase {
  name: string;
  /** Shapes and training setup, for the report. */
  description: string;
  samplesPerStep: number;
  setup(): BenchRunner;
  /** torch_reference.py arguments for the same architecture and shapes (without --threads). */
  torch?: string[];
  /** false: only on --case (variants of a model kept for comparison, not part of the default table). */
  byDefault?: boolean;
}

/** A fixed pool of seeded random batches, cycled through so data creation stays out of the timing. */
function makeBatches(
  name: string,
  pool: number,
  batch: number,
  features: number,
  positiveRate: number,
): { xs: tf.Tensor2D[]; ys: tf.Tensor2D[] } {
  const rng = new Rng(`${SEED}/${name}/data`);
  const xs: tf.Tensor2D[] = [];
  const ys: tf.Tensor2D[] = [];
  for (let i = 0; i < pool; i++) {
    const x = new Float32Array(batch * features);
    for (let j = 0; j < x.length; j++) x[j] = rng.normal();
    const y = new Float32Array(batch);
    for (let j = 0; j < batch; j++) y[j] = rng.bernoulli(positiveRate) ? 1 : 0;
    xs.push(tf.tensor2d(x, [batch, features]));
    ys.push(tf.tensor2d(y, [batch, 1]));
  }
  return { xs, ys };
}

interface MlpSpec {
  inputs: number;
  hidden: number[];
  batch: number;
}

function buildMlp(name: string, spec: MlpSpec): tf.Sequential {
  const model = tf.sequential();
  spec.hidden.forEach((units, i) => {
    model.add(
      tf.layers.dense({
        units,
        activation: 'relu',
        ...(i === 0 ? { inputShape: [spec.inputs] } : {}),
        kernelInitializer: tf.initializers.glorotUniform({ seed: deriveIntSeed(SEED, name, 'init', i) }),
      }),
    );
  });
  model.add(
    tf.layers.dense({
      units: 1,
      kernelInitializer: tf.initializers.glorotUniform({ seed: deriveIntSeed(SEED, name, 'init', 'out') }),
    }),
  );
  return model;
}

function describeMlp(spec: MlpSpec, how: string): string {
  return `MLP ${[spec.inputs, ...spec.hidden, 1].join('→')} (ReLU, 1 logit), batch ${spec.batch}, Adam, sigmoid cross-entropy, ${how}`;
}

/** Custom loop: optimizer.minimize over model.apply, as a hand-written trainer does it. */
function mlpMinimizeCase(name: string, spec: MlpSpec): BenchCase {
  return {
    name,
    description: describeMlp(spec, 'optimizer.minimize'),
    samplesPerStep: spec.batch,
    torch: ['mlp', '--features', String(spec.inputs), '--hidden', spec.hidden.join(','), '--batch', String(spec.batch)],
    setup() {
      const model = buildMlp(name, spec);
      const optimizer = tf.train.adam(1e-3);
      const { xs, ys } = makeBatches(name, 8, spec.batch, spec.inputs, 0.2);
      let i = 0;
      return {
        async step() {
          const x = xs[i % xs.length]!;
          const y = ys[i % ys.length]!;
          i++;
          const loss = optimizer.minimize(
            () => tf.losses.sigmoidCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
            true,
          );
          if (loss === null) throw new Error('optimizer.minimize returned no loss');
          const value = (await loss.data())[0]!;
          loss.dispose();
          return value;
        },
        dispose() {
          optimizer.dispose();
          model.dispose();
          tf.dispose([...xs, ...ys]);
        },
      };
    },
  };
}

/** tfjs-layers' own step (what model.fit runs per batch). */
function mlpTrainOnBatchCase(name: string, spec: MlpSpec): BenchCase {
  return {
    name,
    description: describeMlp(spec, 'model.trainOnBatch'),
    samplesPerStep: spec.batch,
    setup() {
      const model = buildMlp(name, spec);
      model.compile({
        optimizer: tf.train.adam(1e-3),
        loss: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.losses.sigmoidCrossEntropy(yTrue, yPred),
      });
      const { xs, ys } = makeBatches(name, 8, spec.batch, spec.inputs, 0.2);
      let i = 0;
      return {
        async step() {
          const x = xs[i % xs.length]!;
          const y = ys[i % ys.length]!;
          i++;
          const loss = await model.trainOnBatch(x, y);
          return Array.isArray(loss) ? loss[0]! : loss;
        },
        dispose() {
          model.optimizer.dispose();
          model.dispose();
          tf.dispose([...xs, ...ys]);
        },
      };
    },
  };
}

const MLP: MlpSpec = { inputs: 128, hidden: [256, 128], batch: 256 };

/** Row shapes and feature names of the dev cohort's views, from a small synthetic cohort of the same schema. */
function cohortViews(): { sequence: { shape: number[]; names: FeatureNames }; tabular: { shape: number[]; names: FeatureNames } } {
  const { cohort } = generateSynthetic({ nStays: 64, seed: 'bench' });
  const view = (name: 'sequence' | 'tabular') => {
    const f = FEATURIZERS[name];
    const features = f.transform(f.fit(cohort) as never, cohort);
    return { shape: features.rowShape, names: { names: features.names, sources: features.sources } };
  };
  return { sequence: view('sequence'), tabular: view('tabular') };
}

/** The model section and training batch size of configs/model/<name>.yaml. */
function defaultConfig(name: string): { model: Record<string, unknown>; batch: number } {
  const path = join('configs', 'model', `${name}.yaml`);
  const raw = existsSync(path) ? ((parseYaml(readFileSync(path, 'utf8')) ?? {}) as Record<string, unknown>) : {};
  const { train, ...model } = raw;
  const batch = Number((train as Record<string, unknown> | undefined)?.batch_size ?? 256);
  return { model, batch };
}

/** A seeded pool of random input batches of `shape` and random labels (prevalence 0.125, as the cohort). */
function makeModelBatches(name: string, pool: number, batch: number, shape: number[]): { xs: tf.Tensor[]; ys: tf.Tensor1D[] } {
  const rng = new Rng(`${SEED}/${name}/data`);
  const size = shape.reduce((a, b) => a * b, 1);
  const xs: tf.Tensor[] = [];
  const ys: tf.Tensor1D[] = [];
  for (let i = 0; i < pool; i++) {
    const x = new Float32Array(batch * size);
    for (let j = 0; j < x.length; j++) x[j] = rng.normal();
    xs.push(tf.tensor(x, [batch, ...shape]));
    ys.push(tf.tensor1d(Float32Array.from({ length: batch }, () => (rng.bernoulli(0.125) ? 1 : 0))));
  }
  return { xs, ys };
}

/** The trainer's own step (src/train/trainer.ts trainingStep, unweighted), cycling through the prepared batches. */
function trainerStep(logits: (x: tf.Tensor, dropoutSeed: number) => tf.Tensor, weights: tf.Variable[], optimizer: tf.Optimizer, xs: tf.Tensor[], ys: tf.Tensor1D[]): () => Promise<number> {
  let i = 0;
  return async () => {
    const x = xs[i % xs.length]!;
    const y = ys[i % ys.length]!;
    i++;
    return trainingStep(optimizer, weights, () => ({ labels: y, logits: logits(x, i) as tf.Tensor1D }), 1);
  };
}

const VIEWS = cohortViews();

/** One of the registry's models with its default config. */
function registryModelCase(
  caseName: string,
  modelName: string,
  describe: (config: any, shape: number[], batch: number) => string,
  torch: (config: any, shape: number[], batch: number) => string[],
  overrides: Record<string, unknown> = {},
): BenchCase {
  const spec = getModel(modelName);
  const { model: raw, batch } = defaultConfig(modelName);
  const config = spec.resolveConfig({ ...raw, ...overrides });
  const view = VIEWS[spec.view as 'sequence' | 'tabular'];
  return {
    name: caseName,
    description: `${describe(config, view.shape, batch)}, batch ${batch}, Adam, sigmoid cross-entropy, optimizer.minimize (configs/model/${modelName}.yaml${Object.keys(overrides).length > 0 ? ` with ${JSON.stringify(overrides)}` : ''})`,
    samplesPerStep: batch,
    torch: torch(config, view.shape, batch),
    setup() {
      const model = spec.build(view.shape, config, SEED, view.names);
      const optimizer = tf.train.adam(1e-3);
      const { xs, ys } = makeModelBatches(caseName, 4, batch, view.shape);
      return {
        step: trainerStep((x, seed) => model.logits(x, seed), model.trainableWeights(), optimizer, xs, ys),
        dispose() {
          optimizer.dispose();
          model.dispose();
          tf.dispose([...xs, ...ys]);
        },
      };
    },
  };
}

const MLP_CASE = registryModelCase(
  'mlp',
  'mlp',
  (c, shape) => `MLP ${[shape[0], ...c.hidden_units, 1].join('→')} (${c.activation}, dropout ${c.dropout})`,
  (c, shape, batch) => ['mlp', '--features', String(shape[0]), '--hidden', c.hidden_units.join(','), '--dropout', String(c.dropout), '--batch', String(batch)],
);

const seqShape = (shape: number[]) => `${shape[0]} steps × ${shape[1]} channels`;

const LSTM_CASE = registryModelCase(
  'lstm',
  'lstm',
  (c, shape) => `LSTM ${seqShape(shape)} → ${c.layers}×${c.hidden_units} units, ${c.pooling} state → 1 logit, fused cell`,
  (c, shape, batch) => ['lstm', '--seq-len', String(shape[0]), '--channels', String(shape[1]), '--hidden', String(c.hidden_units), '--batch', String(batch)],
);

/** The same LSTM with tfjs autodiff through a step loop of tf ops (the fused op's reference). */
function lstmAutodiffCase(): BenchCase {
  const spec = getModel('lstm');
  const { model: raw, batch } = defaultConfig('lstm');
  const c = spec.resolveConfig(raw) as { hidden_units: number };
  const shape = VIEWS.sequence.shape;
  const H = c.hidden_units;
  return {
    name: 'lstm-autodiff',
    description: `LSTM ${seqShape(shape)} → ${H} units, last state → 1 logit, step loop of tf ops with autodiff, batch ${batch}`,
    samplesPerStep: batch,
    setup() {
      const init = (k: string, shp: number[], sd: number) => tf.variable(tf.randomNormal(shp, 0, sd, 'float32', deriveIntSeed(SEED, 'lstm-autodiff', k)));
      const wx = init('wx', [shape[1]!, 4 * H], 0.1);
      const wh = init('wh', [H, 4 * H], 0.1);
      const b = tf.variable(tf.zeros([4 * H]));
      const wo = init('wo', [H, 1], 0.1);
      const optimizer = tf.train.adam(1e-3);
      const { xs, ys } = makeModelBatches('lstm-autodiff', 4, batch, shape);
      const logits = (x: tf.Tensor) => tf.matMul(lstmReference(x as tf.Tensor3D, wx as tf.Tensor2D, wh as tf.Tensor2D, b as tf.Tensor1D, false) as tf.Tensor2D, wo).reshape([-1]);
      return {
        step: trainerStep(logits, [wx, wh, b, wo], optimizer, xs, ys),
        dispose() {
          optimizer.dispose();
          tf.dispose([wx, wh, b, wo, ...xs, ...ys]);
        },
      };
    },
  };
}

/** tf.layers.lstm (sigmoid gates, as the fused op) with a dense head. */
function lstmLayersCase(): BenchCase {
  const spec = getModel('lstm');
  const { model: raw, batch } = defaultConfig('lstm');
  const c = spec.resolveConfig(raw) as { hidden_units: number };
  const shape = VIEWS.sequence.shape;
  return {
    name: 'lstm-layers',
    description: `tf.layers.lstm ${seqShape(shape)} → ${c.hidden_units} units (recurrentActivation sigmoid), last state → 1 logit, batch ${batch}`,
    samplesPerStep: batch,
    setup() {
      const model = tf.sequential({
        layers: [
          tf.layers.lstm({
            units: c.hidden_units,
            recurrentActivation: 'sigmoid',
            inputShape: shape,
            kernelInitializer: tf.initializers.glorotUniform({ seed: deriveIntSeed(SEED, 'lstm-layers', 'kernel') }),
            recurrentInitializer: tf.initializers.glorotUniform({ seed: deriveIntSeed(SEED, 'lstm-layers', 'recurrent') }),
          }),
          tf.layers.dense({ units: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: deriveIntSeed(SEED, 'lstm-layers', 'out') }) }),
        ],
      });
      const optimizer = tf.train.adam(1e-3);
      const { xs, ys } = makeModelBatches('lstm-layers', 4, batch, shape);
      const weights = model.trainableWeights.map((w) => w.read() as tf.Variable);
      return {
        step: trainerStep((x) => (model.apply(x, { training: true }) as tf.Tensor).reshape([-1]), weights, optimizer, xs, ys),
        dispose() {
          optimizer.dispose();
          model.dispose();
          tf.dispose([...xs, ...ys]);
        },
      };
    },
  };
}

const describeTcn = (c: any, shape: number[]) =>
  `TCN ${seqShape(shape)} → ${c.dilations.length} blocks × ${c.filters} filters (kernel ${c.kernel_size}, dilations ${c.dilations.join(',')}${c.weight_norm ? ', weight norm' : ''}, dropout ${c.dropout}), ${c.pooling} step${c.pooling === 'last' ? ' (wasm computes only the steps it reads, torch every step)' : 's'} → 1 logit`;
const tcnReference = (c: any, shape: number[], batch: number) => [
  'tcn', '--seq-len', String(shape[0]), '--channels', String(shape[1]), '--filters', String(c.filters),
  '--kernel', String(c.kernel_size), '--dilations', c.dilations.join(','), '--batch', String(batch),
];
const TCN_CASE = registryModelCase('tcn', 'tcn', describeTcn, tcnReference);
// Mean pooling reads every step, so every step is computed, as the PyTorch reference (which mean-pools) does.
const TCN_EVERY_STEP_CASE = registryModelCase('tcn-every-step', 'tcn', describeTcn, tcnReference, { pooling: 'mean' });
// The reference's own architecture: torch_reference.py's TCN has neither weight normalization nor dropout, which the
// project's TCN has by default; this case times the same work on both sides.
const TCN_AS_REFERENCE_CASE = registryModelCase('tcn-as-reference', 'tcn', describeTcn, tcnReference, { pooling: 'mean', weight_norm: false, dropout: 0 });

const TABTRANSFORMER_CASE = registryModelCase(
  'tabtransformer',
  'tabtransformer',
  (c, shape) => {
    const tokens = c.tokenizer === 'variable' ? new Set(VIEWS.tabular.names.sources).size : shape[0];
    return `FT-Transformer ${shape[0]} features → ${tokens} ${c.tokenizer} tokens + CLS, d=${c.d_token}, ${c.heads} heads, ${c.blocks} blocks, FFN ${c.ffn_hidden}`;
  },
  // The reference tokenizes one token per feature: it is given as many features as this model has tokens.
  (c, shape, batch) => [
    'transformer', '--features', String(c.tokenizer === 'variable' ? new Set(VIEWS.tabular.names.sources).size : shape[0]),
    '--d-model', String(c.d_token), '--heads', String(c.heads), '--layers', String(c.blocks), '--ff', String(c.ffn_hidden), '--batch', String(batch),
  ],
);

export const CASES: BenchCase[] = [
  MLP_CASE,
  { ...mlpMinimizeCase('mlp-layers', MLP), byDefault: false },
  { ...mlpTrainOnBatchCase('mlp-trainOnBatch', MLP), byDefault: false },
  LSTM_CASE,
  { ...lstmAutodiffCase(), byDefault: false },
  { ...lstmLayersCase(), byDefault: false },
  TCN_CASE,
  TCN_EVERY_STEP_CASE,
  TCN_AS_REFERENCE_CASE,
  TABTRANSFORMER_CASE,
];
