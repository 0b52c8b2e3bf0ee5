import * as tf from '@tensorflow/tfjs';
import { rowSize, type Features } from '../data/features/types.js';
import { deriveRng, deriveIntSeed } from '../engine/rng.js';
import type { BuiltModel } from '../models/types.js';
import { predictProba } from '../train/trainer.js';
import { validateParams, type ParamSchema } from '../util/plugin.js';
import { need, type Detector, type RawDetectorParams } from './types.js';

/**
 * Anti-backdoor learning (Li, Lyu, Koren, Lyu, Li & Ma, NeurIPS 2021), isolation step: backdoored rows are learnt
 * much faster than clean ones, so training a fresh model with the local gradient ascent (LGA) loss
 * sign(L − γ)·L on each batch's mean loss L, which holds the batch loss near γ while the shortcut's rows still
 * fall far below it, then taking the
 * lowest-loss rows isolates them. Row score = minus the loss after isolation training. The unlearning step (gradient
 * ascent on the isolated rows) changes the model and lives with the experiments (repair).
 */
export interface AblParams {
  gamma: number;
  isolation_rate: number;
  isolation_epochs: number;
  unlearning_epochs: number;
  unlearning_learning_rate: number;
}

const LI = 'Li et al. 2021, "Anti-Backdoor Learning: Training Clean Models on Poisoned Data", NeurIPS';

export const ABL_PARAMS: ParamSchema = {
  gamma: { type: 'number', min: 0, minOpen: true, max: 10, default: 0.5, description: 'LGA loss threshold γ (nats): rows below it are pushed back up to it', citation: `${LI} (γ = 0.5)` },
  isolation_rate: { type: 'number', min: 0, minOpen: true, max: 0.5, default: 0.01, description: 'Share of the training rows isolated (lowest loss)', citation: `${LI} (p = 1%)` },
  isolation_epochs: { type: 'integer', min: 1, max: 1000, default: 20, unit: 'epochs', description: 'LGA training before isolation (T_te)', citation: `${LI} (T_te = 20)` },
  unlearning_epochs: { type: 'integer', min: 0, max: 1000, default: 20, unit: 'epochs', description: 'Gradient-ascent passes over the isolated rows', citation: `${LI} (T_u = 20)` },
  unlearning_learning_rate: { type: 'number', min: 0, minOpen: true, max: 1, default: 0.0005, description: 'Step size of unlearning', citation: `${LI} (learning rate 0.0005 for unlearning)` },
};

function batchTensor(features: Features, rows: ArrayLike<number>): tf.Tensor {
  const size = rowSize(features);
  const out = new Float32Array(rows.length * size);
  for (let k = 0; k < rows.length; k++) out.set(features.x.subarray(rows[k] * size, (rows[k] + 1) * size), k * size);
  return tf.tensor(out, [rows.length, ...features.rowShape], 'float32');
}

function rowLosses(labels: tf.Tensor1D, logits: tf.Tensor1D): tf.Tensor1D {
  // Per-row sigmoid cross-entropy, stable form: max(z, 0) − z·y + log(1 + e^−|z|).
  return tf.add(tf.sub(tf.relu(logits), tf.mul(logits, labels)), tf.log1p(tf.exp(tf.neg(tf.abs(logits))))) as tf.Tensor1D;
}

export interface EpochOptions {
  batchSize: number;
  learningRate: number;
  seed: number | string;
  purpose: string;
}

/**
 * Passes over `rows` minimising `objective(per-row losses of the batch)`; mini-batches shuffled from the seed.
 * LGA uses sign(L − γ)·L of the batch mean L; unlearning uses −L (gradient ascent).
 */
export function trainWith(model: BuiltModel, features: Features, labels: Uint8Array, rows: number[], epochs: number, opts: EpochOptions, objective: (losses: tf.Tensor1D) => tf.Scalar): void {
  const optimizer = tf.train.adam(opts.learningRate);
  const rng = deriveRng(opts.seed, opts.purpose);
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = rng.permutation(rows.length);
      for (let start = 0; start < rows.length; start += opts.batchSize) {
        const batch = Array.from(order.subarray(start, Math.min(rows.length, start + opts.batchSize)), (k) => rows[k]);
        const dropoutSeed = deriveIntSeed(opts.seed, opts.purpose, epoch, start);
        const loss = optimizer.minimize(
          () => {
            const x = batchTensor(features, batch);
            const y = tf.tensor1d(batch.map((r) => labels[r]), 'float32');
            return objective(rowLosses(y, model.logits(x, dropoutSeed)));
          },
          true,
          model.trainableWeights(),
        );
        loss?.dispose();
      }
    }
  } finally {
    optimizer.dispose();
  }
}

/**
 * The LGA objective sign(L − γ)·L of Li et al. 2021 (eq. 3), on the batch's mean loss L as in their reference code:
 * once the batch fits below γ the gradient turns to ascent, so the clean rows cannot be fitted further while the
 * rows of a shortcut still reach a loss near 0 inside batches whose mean sits at γ.
 */
export function lgaObjective(gamma: number): (losses: tf.Tensor1D) => tf.Scalar {
  return (losses) => {
    const mean = tf.mean(losses);
    return tf.mul(tf.sign(tf.sub(mean, gamma)), mean) as tf.Scalar;
  };
}

/** Gradient ascent on the rows' mean loss (Li et al. 2021, eq. 4): the unlearning objective. */
export function unlearningObjective(losses: tf.Tensor1D): tf.Scalar {
  return tf.neg(tf.mean(losses)) as tf.Scalar;
}

/** Per-row cross-entropy of the model's predictions (no dropout). */
export function perRowLoss(model: BuiltModel, features: Features, labels: Uint8Array): Float64Array {
  const probs = predictProba(model, features);
  return Float64Array.from(probs, (p, i) => {
    const q = Math.min(1 - 1e-7, Math.max(1e-7, p));
    return labels[i] === 1 ? -Math.log(q) : -Math.log(1 - q);
  });
}

/** The `share` of rows with the lowest loss (ties by row order). */
export function lowestLossRows(losses: ArrayLike<number>, share: number): Uint8Array {
  const n = losses.length;
  const k = Math.max(1, Math.floor(share * n));
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => losses[a] - losses[b] || a - b);
  const out = new Uint8Array(n);
  for (let r = 0; r < Math.min(k, n); r++) out[order[r]] = 1;
  return out;
}

export const abl: Detector<AblParams> = {
  name: 'abl',
  description: 'Anti-backdoor learning (Li et al. 2021), isolation: a fresh model trained with the LGA loss; the lowest-loss rows are isolated',
  params: ABL_PARAMS,
  resolve(raw: RawDetectorParams): AblParams {
    return validateParams('abl', ABL_PARAMS, raw, { owner: 'abl' }) as unknown as AblParams;
  },
  score(input, params) {
    const features = need(input.features, 'model input features', 'abl');
    const training = need(input.training, 'a fresh model and the training settings', 'abl');
    if (features.n !== input.labels.length) throw new Error(`abl: ${features.n} feature rows for ${input.labels.length} labels`);
    const model = training.build();
    try {
      const rows = Array.from({ length: features.n }, (_, i) => i);
      const opts = { batchSize: training.batchSize, learningRate: training.learningRate, seed: input.seed, purpose: 'abl-isolation' };
      trainWith(model, features, input.labels, rows, params.isolation_epochs, opts, lgaObjective(params.gamma));
      const losses = perRowLoss(model, features, input.labels);
      const flagged = lowestLossRows(losses, params.isolation_rate);
      let isolated = 0;
      for (const f of flagged) isolated += f;
      return { scores: Float32Array.from(losses, (l) => -l), flagged, details: { isolated, gamma: params.gamma, isolation_epochs: params.isolation_epochs } };
    } finally {
      model.dispose();
    }
  },
};

