import * as tf from '@tensorflow/tfjs';
import type { Features } from '../data/features/types.js';
import { rowSize } from '../data/features/types.js';
import type { BuiltModel } from '../models/types.js';
import { deriveRng } from '../engine/rng.js';
import { auroc } from '../metrics/classification.js';
import { UserError } from '../util/errors.js';
import { pruneCheckpoints, writeCheckpoint, type CheckpointPolicy, type CheckpointState } from './checkpoint.js';

export interface TrainConfig {
  epochs: number;
  batch_size: number;
  learning_rate: number;
  /** Stop after this many epochs without a better validation AUROC (0 = never stop early). */
  patience: number;
  /** Loss weight of positive rows; 1 = unweighted. */
  pos_weight: number;
  /** Which per-epoch checkpoints to keep: best_last (default), last, all or none. */
  checkpoints: CheckpointPolicy;
  /**
   * The weights the run ends with: `best` = the epoch with the best validation AUROC (default); `last` = the
   * final epoch, i.e. a fixed training budget as in most backdoor benchmarks (e.g. BackdoorBench).
   */
  select: WeightSelection;
}

export const WEIGHT_SELECTIONS = ['best', 'last'] as const;
export type WeightSelection = (typeof WEIGHT_SELECTIONS)[number];

export const TRAIN_KEYS: (keyof TrainConfig)[] = ['epochs', 'batch_size', 'learning_rate', 'patience', 'pos_weight', 'checkpoints', 'select'];

export interface EpochRecord {
  epoch: number;
  train_loss: number;
  val_loss: number;
  val_auroc: number;
  best_val_auroc: number;
  improved: boolean;
}

export interface TrainResult {
  history: EpochRecord[];
  bestEpoch: number;
  bestValAuroc: number;
  epochsRun: number;
  stoppedEarly: boolean;
}

export interface TrainInputs {
  model: BuiltModel;
  train: Features;
  trainLabels: Uint8Array;
  val: Features;
  valLabels: Uint8Array;
  config: TrainConfig;
  seed: number | string;
  onEpoch?: (record: EpochRecord) => void;
  /** Save the training state after every epoch into `dir`, keeping what `policy` says. */
  checkpoint?: { dir: string; runId: string; policy: CheckpointPolicy };
  /** Continue from a saved state (see checkpoint.ts) instead of starting at epoch 1. */
  resume?: CheckpointState;
}

export function featuresTensor(features: Features, rows?: ArrayLike<number>): tf.Tensor {
  const size = rowSize(features);
  if (!rows) return tf.tensor(features.x, [features.n, ...features.rowShape], 'float32');
  const out = new Float32Array(rows.length * size);
  for (let k = 0; k < rows.length; k++) out.set(features.x.subarray(rows[k] * size, (rows[k] + 1) * size), k * size);
  return tf.tensor(out, [rows.length, ...features.rowShape], 'float32');
}

/** p(y = 1) for every row, in row order, computed in batches without dropout. */
export function predictProba(model: BuiltModel, features: Features, batchSize = 1024): Float32Array {
  const out = new Float32Array(features.n);
  const size = rowSize(features);
  for (let start = 0; start < features.n; start += batchSize) {
    const end = Math.min(features.n, start + batchSize);
    const probs = tf.tidy(() => {
      const x = tf.tensor(features.x.subarray(start * size, end * size), [end - start, ...features.rowShape], 'float32');
      return tf.sigmoid(model.logits(x));
    });
    out.set(probs.dataSync() as Float32Array, start);
    probs.dispose();
  }
  return out;
}

function weightedLoss(labels: tf.Tensor1D, logits: tf.Tensor1D, posWeight: number): tf.Scalar {
  const weights = posWeight === 1 ? undefined : labels.mul(posWeight - 1).add(1);
  return tf.losses.sigmoidCrossEntropy(labels, logits, weights, 0, tf.Reduction.MEAN) as tf.Scalar;
}

function meanLoss(labels: Uint8Array, probs: Float32Array, posWeight: number): number {
  let sum = 0;
  let weight = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = Math.min(1 - 1e-7, Math.max(1e-7, probs[i]));
    const w = labels[i] === 1 ? posWeight : 1;
    sum += -w * (labels[i] === 1 ? Math.log(p) : Math.log(1 - p));
    weight += 1;
  }
  return sum / weight;
}

/**
 * One optimizer step on one batch: the (positive-weighted) sigmoid cross-entropy of the batch's logits, minimized
 * over `weights`. Resolves with the loss once its value is on the host, so no work is left queued.
 */
export async function trainingStep(optimizer: tf.Optimizer, weights: tf.Variable[], batch: () => { labels: tf.Tensor1D; logits: tf.Tensor1D }, posWeight: number): Promise<number> {
  const loss = optimizer.minimize(
    () => {
      const { labels, logits } = batch();
      return weightedLoss(labels, logits, posWeight);
    },
    true,
    weights,
  ) as tf.Scalar;
  const value = (await loss.data())[0];
  loss.dispose();
  return value;
}

interface AdamInternals {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
}

async function captureState(
  epoch: number,
  weights: tf.Variable[],
  bestWeights: tf.Tensor[] | null,
  optimizer: tf.AdamOptimizer,
  progress: { best: number; bestEpoch: number; sinceBest: number; history: EpochRecord[] },
  config: TrainConfig,
  seed: number | string,
): Promise<CheckpointState> {
  const optimizerWeights = await optimizer.getWeights();
  const iterations = (await optimizerWeights[0].tensor.data())[0];
  const moments = optimizerWeights.slice(1);
  const internals = optimizer as unknown as AdamInternals;
  const read = (ts: tf.Tensor[]) => ts.map((t) => t.dataSync() as Float32Array).map((a) => a.slice());
  const shapes = (ts: tf.Tensor[]) => ts.map((t) => t.shape.slice());
  const m = moments.slice(0, weights.length).map((w) => w.tensor);
  const v = moments.slice(weights.length).map((w) => w.tensor);
  const best = bestWeights ?? weights;
  return {
    epoch,
    bestEpoch: progress.bestEpoch,
    bestValAuroc: progress.best,
    epochsSinceBest: progress.sinceBest,
    history: progress.history.slice(),
    optimizer: {
      iterations,
      accBeta1: internals.accBeta1.dataSync()[0],
      accBeta2: internals.accBeta2.dataSync()[0],
      learningRate: config.learning_rate,
    },
    rng: { scheme: 'derived-per-epoch', seed: String(seed), nextEpoch: epoch + 1 },
    tensors: { weights: read(weights), best_weights: read(best), adam_m: read(m), adam_v: read(v) },
    shapes: { weights: shapes(weights), best_weights: shapes(best), adam_m: shapes(m), adam_v: shapes(v) },
  };
}

async function restoreState(state: CheckpointState, weights: tf.Variable[], optimizer: tf.AdamOptimizer): Promise<tf.Tensor[]> {
  const check = (group: keyof CheckpointState['tensors']) => {
    if (state.tensors[group].length !== weights.length) {
      throw new UserError(`checkpoint holds ${state.tensors[group].length} ${group} tensors but the model has ${weights.length}; it belongs to another model config`);
    }
    state.shapes[group].forEach((shape, k) => {
      if (shape.join('x') !== weights[k].shape.join('x')) {
        throw new UserError(`checkpoint tensor ${group}[${k}] has shape [${shape}] but the model expects [${weights[k].shape}]; it belongs to another model config`);
      }
    });
  };
  (['weights', 'best_weights', 'adam_m', 'adam_v'] as const).forEach(check);
  weights.forEach((w, k) => w.assign(tf.tensor(state.tensors.weights[k], w.shape, 'float32')));
  const named = (group: 'adam_m' | 'adam_v', suffix: string) =>
    state.tensors[group].map((values, k) => ({ name: `${weights[k].name}/${suffix}`, tensor: tf.tensor(values, weights[k].shape, 'float32') }));
  await optimizer.setWeights([{ name: 'iter', tensor: tf.scalar(state.optimizer.iterations, 'int32') }, ...named('adam_m', 'm'), ...named('adam_v', 'v')]);
  // setWeights recomputes beta^(t+1) with pow(); training multiplied step by step, which can differ in the last
  // float32 bit, so the saved running values are restored for an exact resume.
  const internals = optimizer as unknown as AdamInternals;
  internals.accBeta1.assign(tf.scalar(state.optimizer.accBeta1, 'float32'));
  internals.accBeta2.assign(tf.scalar(state.optimizer.accBeta2, 'float32'));
  return state.tensors.best_weights.map((values, k) => tf.tensor(values, weights[k].shape, 'float32'));
}

/**
 * Mini-batch Adam with early stopping on validation AUROC. The model ends with the weights `config.select` names:
 * those of the epoch with the best validation AUROC (`best`, copied back at the end) or the last epoch's (`last`).
 * Shuffling and dropout draw from streams derived from the seed and the epoch number, so any epoch's randomness
 * is reproducible on its own. With `checkpoint`, the full training state is saved after every epoch (before the
 * epoch is reported), and `resume` continues from such a state exactly.
 */
export async function trainModel(inputs: TrainInputs): Promise<TrainResult> {
  const { model, train, trainLabels, val, valLabels, config, seed } = inputs;
  if (train.n === 0) throw new UserError('the training split is empty');
  const weights = model.trainableWeights();
  const optimizer = tf.train.adam(config.learning_rate);
  const xTrain = featuresTensor(train);
  const yTrain = tf.tensor1d(Float32Array.from(trainLabels), 'float32');
  const progress = { best: -Infinity, bestEpoch: 0, sinceBest: 0, history: [] as EpochRecord[] };
  let bestWeights: tf.Tensor[] | null = null;
  let stoppedEarly = false;
  let firstEpoch = 1;
  try {
    if (inputs.resume) {
      const state = inputs.resume;
      bestWeights = await restoreState(state, weights, optimizer);
      progress.best = state.bestValAuroc ?? -Infinity;
      progress.bestEpoch = state.bestEpoch;
      progress.sinceBest = state.epochsSinceBest;
      progress.history = state.history.slice();
      firstEpoch = state.epoch + 1;
      stoppedEarly = config.patience > 0 && progress.sinceBest >= config.patience;
    }
    for (let epoch = firstEpoch; epoch <= config.epochs && !stoppedEarly; epoch++) {
      const order = deriveRng(seed, 'shuffle', epoch).permutation(train.n);
      const dropoutRng = deriveRng(seed, 'dropout', epoch);
      let lossSum = 0;
      let batches = 0;
      for (let start = 0; start < train.n; start += config.batch_size) {
        const idx = tf.tensor1d(order.subarray(start, Math.min(train.n, start + config.batch_size)), 'int32');
        const dropoutSeed = dropoutRng.int(2 ** 30);
        lossSum += await trainingStep(
          optimizer,
          weights,
          () => {
            const xb = tf.gather(xTrain, idx);
            const labels = tf.gather(yTrain, idx) as tf.Tensor1D;
            return { labels, logits: model.logits(xb, dropoutSeed) as tf.Tensor1D };
          },
          config.pos_weight,
        );
        batches++;
        idx.dispose();
      }
      const valProbs = predictProba(model, val);
      const valAuroc = auroc(valLabels, valProbs);
      const improved = valAuroc > progress.best;
      if (improved) {
        progress.best = valAuroc;
        progress.bestEpoch = epoch;
        progress.sinceBest = 0;
        bestWeights?.forEach((t) => t.dispose());
        bestWeights = weights.map((w) => w.clone());
      } else {
        progress.sinceBest++;
      }
      const record: EpochRecord = {
        epoch,
        train_loss: lossSum / batches,
        val_loss: meanLoss(valLabels, valProbs, config.pos_weight),
        val_auroc: valAuroc,
        best_val_auroc: progress.best,
        improved,
      };
      progress.history.push(record);
      if (config.patience > 0 && progress.sinceBest >= config.patience) stoppedEarly = true;
      if (inputs.checkpoint && inputs.checkpoint.policy !== 'none') {
        const state = await captureState(epoch, weights, bestWeights, optimizer, progress, config, seed);
        await writeCheckpoint(inputs.checkpoint.dir, inputs.checkpoint.runId, state);
        await pruneCheckpoints(inputs.checkpoint.dir, inputs.checkpoint.policy, epoch, progress.bestEpoch);
      }
      inputs.onEpoch?.(record);
    }
    if (bestWeights && config.select !== 'last') weights.forEach((w, k) => w.assign(bestWeights![k]));
  } finally {
    bestWeights?.forEach((t) => t.dispose());
    xTrain.dispose();
    yTrain.dispose();
    optimizer.dispose();
  }
  return { history: progress.history, bestEpoch: progress.bestEpoch, bestValAuroc: progress.best, epochsRun: progress.history.length, stoppedEarly };
}
