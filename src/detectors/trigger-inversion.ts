import * as tf from '@tensorflow/tfjs';
import { rowSize, type Features } from '../data/features/types.js';
import type { BuiltModel } from '../models/types.js';
import { validateParams, type ParamSchema } from '../util/plugin.js';
import { need, type Detector, type RawDetectorParams } from './types.js';

/**
 * Trigger reverse-engineering in the manner of Neural Cleanse (Wang et al., IEEE S&P 2019), over the model's inputs:
 * for each class c, find a mask m ∈ [0,1] and a pattern p (each per feature, or per hour × channel for sequences)
 * such that x' = (1 − m)·x + m·p sends clean validation rows of the other class to c, with an L1 penalty on m whose
 * weight is tuned as Neural Cleanse does (raised while the flip succeeds, lowered while it fails). A backdoor is a
 * shortcut: its class needs a much smaller mask. The pattern is bounded to the range the training data spans.
 */
export interface TriggerInversionParams {
  steps: number;
  learning_rate: number;
  lambda: number;
  flip_target: number;
  ratio_cut: number;
}

const WANG = 'Wang et al. 2019, "Neural Cleanse: Identifying and Mitigating Backdoor Attacks in Neural Networks", IEEE S&P';

export const TRIGGER_INVERSION_PARAMS: ParamSchema = {
  steps: { type: 'integer', min: 10, max: 100000, default: 300, description: 'Optimisation steps per class (full batch of validation rows)' },
  learning_rate: { type: 'number', min: 0, minOpen: true, max: 10, default: 0.1, description: 'Adam step size on the mask and pattern logits', citation: WANG },
  lambda: { type: 'number', min: 0, minOpen: true, max: 100, default: 0.001, description: 'Initial weight of the mask L1 penalty (per input cell); tuned during the search', citation: WANG },
  flip_target: { type: 'number', min: 0, minOpen: true, max: 1, default: 0.99, description: 'Share of rows a mask must flip to count (and to raise the penalty)', citation: WANG },
  ratio_cut: {
    type: 'number',
    min: 1,
    max: 1e6,
    default: 2,
    description:
      "With two classes the median-absolute-deviation anomaly index is degenerate; the class whose smallest flipping mask is ratio_cut times smaller than the other's is called backdoored (the pairwise norm comparison of tabular studies)",
  },
};

export interface InvertedTrigger {
  target: 0 | 1;
  /** Per input cell (row-major, like one row of the features). */
  mask: Float32Array;
  pattern: Float32Array;
  /** Σ mask of the smallest mask that reached flip_target, else of the last step. */
  l1: number;
  /** Share of the source rows the returned mask and pattern send to the target. */
  flip_rate: number;
  reached: boolean;
}

export interface InversionOptions {
  steps: number;
  learningRate: number;
  lambda: number;
  flipTarget: number;
  /** Per-cell bounds of the pattern (the training data's range). */
  lower: Float32Array;
  upper: Float32Array;
}

/** Column minima and maxima of the rows, per input cell. */
export function featureRange(features: Features): { lower: Float32Array; upper: Float32Array } {
  const size = rowSize(features);
  const lower = new Float32Array(size).fill(Infinity);
  const upper = new Float32Array(size).fill(-Infinity);
  for (let i = 0; i < features.n; i++) {
    for (let j = 0; j < size; j++) {
      const v = features.x[i * size + j];
      if (v < lower[j]) lower[j] = v;
      if (v > upper[j]) upper[j] = v;
    }
  }
  for (let j = 0; j < size; j++) if (!(upper[j] > lower[j])) upper[j] = lower[j] + 1e-6;
  return { lower, upper };
}

/** Neural-Cleanse search for one target class over the source rows (those whose label is not the target). */
export function invertTrigger(model: BuiltModel, source: Features, target: 0 | 1, opts: InversionOptions): InvertedTrigger {
  const shape = [source.n, ...source.rowShape];
  const x = tf.tensor(source.x, shape, 'float32');
  const lower = tf.tensor(opts.lower, source.rowShape);
  const span = tf.tensor(Float32Array.from(opts.upper, (u, j) => u - opts.lower[j]), source.rowShape);
  const maskLogit = tf.variable(tf.fill(source.rowShape, -2));
  const patternLogit = tf.variable(tf.zeros(source.rowShape));
  const labels = tf.fill([source.n], target);
  const optimizer = tf.train.adam(opts.learningRate);
  let lambda = opts.lambda;
  let best: InvertedTrigger | null = null;
  let last: InvertedTrigger | null = null;
  let streakUp = 0;
  let streakDown = 0;
  const stamp = () => {
    const mask = tf.sigmoid(maskLogit);
    const pattern = tf.add(lower, tf.mul(span, tf.sigmoid(patternLogit)));
    return { mask, pattern, stamped: tf.add(tf.mul(tf.sub(1, mask), x), tf.mul(mask, pattern)) };
  };
  try {
    for (let step = 0; step < opts.steps; step++) {
      const weight = lambda;
      optimizer.minimize(() => {
        const { mask, stamped } = stamp();
        const ce = tf.losses.sigmoidCrossEntropy(labels, model.logits(stamped), undefined, 0, tf.Reduction.MEAN);
        return tf.add(ce, tf.mul(weight, tf.sum(mask))) as tf.Scalar;
      }, false, [maskLogit, patternLogit]);
      const [maskValues, patternValues, logits] = tf.tidy(() => {
        const { mask, pattern, stamped } = stamp();
        return [mask.dataSync() as Float32Array, pattern.dataSync() as Float32Array, model.logits(stamped).dataSync() as Float32Array];
      });
      let flipped = 0;
      for (const l of logits) if (target === 1 ? l >= 0 : l < 0) flipped++;
      let l1 = 0;
      for (const m of maskValues) l1 += m;
      const flipRate = flipped / source.n;
      const reached = flipRate >= opts.flipTarget;
      last = { target, mask: Float32Array.from(maskValues), pattern: Float32Array.from(patternValues), l1, flip_rate: flipRate, reached };
      if (reached && (best === null || l1 < best.l1)) best = last;
      // Neural Cleanse's schedule: after 5 steps in a row on one side of the target, scale λ by 1.5 (up) or 1.5^1.5 (down).
      if (reached) {
        streakUp++;
        streakDown = 0;
      } else {
        streakDown++;
        streakUp = 0;
      }
      if (streakUp >= 5) {
        lambda *= 1.5;
        streakUp = 0;
      } else if (streakDown >= 5) {
        lambda /= 1.5 ** 1.5;
        streakDown = 0;
      }
    }
  } finally {
    tf.dispose([x, lower, span, maskLogit, patternLogit, labels]);
    optimizer.dispose();
  }
  if (!last) throw new Error('invertTrigger: no optimisation step ran');
  return best ?? last;
}

/** How closely each row matches a recovered trigger: minus the mask-weighted mean squared distance to the pattern. */
export function triggerMatchScores(features: Features, trigger: Pick<InvertedTrigger, 'mask' | 'pattern'>): Float32Array {
  const size = rowSize(features);
  let total = 0;
  for (const m of trigger.mask) total += m;
  const out = new Float32Array(features.n);
  for (let i = 0; i < features.n; i++) {
    let s = 0;
    for (let j = 0; j < size; j++) s += trigger.mask[j] * (features.x[i * size + j] - trigger.pattern[j]) ** 2;
    out[i] = total > 0 ? -s / total : 0;
  }
  return out;
}

/** The largest mask cells, row-major index with the hour and the channel (tabular: hour 0). */
export function topCells(trigger: InvertedTrigger, rowShape: number[], k: number): { index: number; hour: number; feature: number; mask: number; pattern: number }[] {
  const channels = rowShape.length === 2 ? rowShape[1] : rowShape[0];
  return Array.from(trigger.mask, (m, index) => ({ index, m }))
    .sort((a, b) => b.m - a.m || a.index - b.index)
    .slice(0, k)
    .map(({ index, m }) => ({ index, hour: Math.floor(index / channels), feature: index % channels, mask: m, pattern: trigger.pattern[index] }));
}

export const triggerInversion: Detector<TriggerInversionParams> = {
  name: 'trigger_inversion',
  description: 'Neural-Cleanse-style trigger reverse engineering (Wang et al. 2019) over the model inputs; rows scored by closeness to the smaller-mask class trigger',
  params: TRIGGER_INVERSION_PARAMS,
  resolve(raw: RawDetectorParams): TriggerInversionParams {
    return validateParams('trigger_inversion', TRIGGER_INVERSION_PARAMS, raw, { owner: 'trigger_inversion' }) as unknown as TriggerInversionParams;
  },
  score(input, params) {
    const features = need(input.features, 'model input features', 'trigger_inversion');
    const model = need(input.model, 'the trained model', 'trigger_inversion');
    const validation = need(input.validation, 'the clean validation split', 'trigger_inversion');
    const range = featureRange(features);
    const size = rowSize(features);
    const triggers = ([0, 1] as const).map((target) => {
      const rows: number[] = [];
      validation.labels.forEach((y, i) => y !== target && rows.push(i));
      const x = new Float32Array(rows.length * size);
      rows.forEach((r, k) => x.set(validation.features.x.subarray(r * size, (r + 1) * size), k * size));
      const source: Features = { ...validation.features, n: rows.length, x };
      return invertTrigger(model, source, target, { steps: params.steps, learningRate: params.learning_rate, lambda: params.lambda, flipTarget: params.flip_target, ...range });
    });
    const [t0, t1] = triggers;
    const suspect = t1.l1 <= t0.l1 ? t1 : t0;
    const other = suspect === t1 ? t0 : t1;
    const ratio = suspect.l1 > 0 ? other.l1 / suspect.l1 : Infinity;
    const backdoored = suspect.reached && ratio >= params.ratio_cut;
    const scores = triggerMatchScores(features, suspect);
    const flagged = new Uint8Array(features.n);
    const describe = (t: InvertedTrigger) => ({
      target: t.target,
      mask_l1: t.l1,
      flip_rate: t.flip_rate,
      reached_flip_target: t.reached,
      mask: Array.from(t.mask),
      pattern: Array.from(t.pattern),
      top_cells: topCells(t, features.rowShape, 10),
    });
    return {
      scores,
      flagged,
      details: { suspected_class: suspect.target, l1_ratio: Number.isFinite(ratio) ? ratio : null, backdoor_detected: backdoored, classes: triggers.map(describe) },
    };
  },
};
