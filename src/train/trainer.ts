import * as tf from '@tensorflow/tfjs';
import type { Features } from '../data/features/types.js';
import { rowSize } from '../data/features/types.js';
import type { BuiltModel } from '../models/types.js';
import { deriveRng } from '../engine/rng.js';
import { auroc } from '../metrics/classification.js';
import { UserError } from '../util/errors.js';

export interface TrainConfig {
  epochs: number;
  batch_size: number;
  learning_rate: number;
  /** Stop after this many epochs without a better validation AUROC (0 = never stop early). */
  patience: number;
  /** Loss weight of positive rows; 1 = unweighted. */
  pos_weight: number;
}

export const TRAIN_KEYS: (keyof TrainConfig)[] = ['epochs', 'batch_size', 'learning_rate', 'patience', 'pos_weight'];

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
 * Mini-batch Adam with early stopping on validation AUROC; the best epoch's weights are restored at the end.
 * Shuffling and dropout draw from streams derived from the seed and the epoch number, so any epoch's
 * randomness is reproducible on its own.
 */
export async function trainModel(inputs: TrainInputs): Promise<TrainResult> {
  const { model, train, trainLabels, val, valLabels, config, seed } = inputs;
  if (train.n === 0) throw new UserError('the training split is empty');
  const weights = model.trainableWeights();
  const optimizer = tf.train.adam(config.learning_rate);
  const xTrain = featuresTensor(train);
  const yTrain = tf.tensor1d(Float32Array.from(trainLabels), 'float32');
  const history: EpochRecord[] = [];
  let best = -Infinity;
  let bestEpoch = 0;
  let bestWeights: tf.Tensor[] | null = null;
  let sinceBest = 0;
  let stoppedEarly = false;
  try {
    for (let epoch = 1; epoch <= config.epochs; epoch++) {
      const order = deriveRng(seed, 'shuffle', epoch).permutation(train.n);
      const dropoutRng = deriveRng(seed, 'dropout', epoch);
      let lossSum = 0;
      let batches = 0;
      for (let start = 0; start < train.n; start += config.batch_size) {
        const idx = tf.tensor1d(order.subarray(start, Math.min(train.n, start + config.batch_size)), 'int32');
        const dropoutSeed = dropoutRng.int(2 ** 30);
        const loss = optimizer.minimize(
          () => {
            const xb = tf.gather(xTrain, idx);
            const yb = tf.gather(yTrain, idx) as tf.Tensor1D;
            return weightedLoss(yb, model.logits(xb, dropoutSeed), config.pos_weight);
          },
          true,
          weights,
        ) as tf.Scalar;
        lossSum += (await loss.data())[0];
        batches++;
        loss.dispose();
        idx.dispose();
      }
      const valProbs = predictProba(model, val);
      const valAuroc = auroc(valLabels, valProbs);
      const improved = valAuroc > best;
      if (improved) {
        best = valAuroc;
        bestEpoch = epoch;
        sinceBest = 0;
        bestWeights?.forEach((t) => t.dispose());
        bestWeights = weights.map((w) => w.clone());
      } else {
        sinceBest++;
      }
      const record: EpochRecord = {
        epoch,
        train_loss: lossSum / batches,
        val_loss: meanLoss(valLabels, valProbs, config.pos_weight),
        val_auroc: valAuroc,
        best_val_auroc: best,
        improved,
      };
      history.push(record);
      inputs.onEpoch?.(record);
      if (config.patience > 0 && sinceBest >= config.patience) {
        stoppedEarly = true;
        break;
      }
    }
    if (bestWeights) weights.forEach((w, k) => w.assign(bestWeights![k]));
  } finally {
    bestWeights?.forEach((t) => t.dispose());
    xTrain.dispose();
    yTrain.dispose();
    optimizer.dispose();
  }
  return { history, bestEpoch, bestValAuroc: best, epochsRun: history.length, stoppedEarly };
}
