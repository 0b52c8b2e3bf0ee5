import * as tf from '@tensorflow/tfjs';
import { rowSize, type Features } from '../data/features/types.js';
import type { BuiltModel } from '../models/types.js';

/**
 * Integrated gradients (Sundararajan, Taly & Yan 2017): IG_j(x) = (x_j − x'_j) ∫₀¹ ∂f(x' + α(x − x'))/∂x_j dα,
 * f = the model's logit and x' a baseline. The integral is a quadrature over `steps` intervals of the straight
 * path; completeness (Σ_j IG_j = f(x) − f(x')) holds up to the quadrature error, which the result reports.
 */
export type IgRule = 'trapezoid' | 'midpoint';

export interface IgOptions {
  steps: number;
  rule: IgRule;
  /** Upper bound on floats in one interpolation batch (rows × path points × row size), to bound memory. */
  maxBatchFloats?: number;
}

export interface IgResult {
  /** n × rowSize, row-major, in the layout of the inputs. */
  attributions: Float32Array;
  /** f(x) per row. */
  logits: Float32Array;
  /** f(x'). */
  baselineLogit: number;
}

/** Path points α_k and quadrature weights w_k, Σ w_k = 1. */
export function quadrature(steps: number, rule: IgRule): { alphas: Float32Array; weights: Float32Array } {
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`integrated gradients: steps must be a positive integer, got ${steps}`);
  if (rule === 'midpoint') {
    return {
      alphas: Float32Array.from({ length: steps }, (_, k) => (k + 0.5) / steps),
      weights: new Float32Array(steps).fill(1 / steps),
    };
  }
  const weights = new Float32Array(steps + 1).fill(1 / steps);
  weights[0] = weights[steps] = 1 / (2 * steps);
  return { alphas: Float32Array.from({ length: steps + 1 }, (_, k) => k / steps), weights };
}

/** The per-position mean over the rows: the "average training row" baseline. */
export function meanRow(features: Pick<Features, 'n' | 'rowShape' | 'x'>): Float32Array {
  const size = rowSize(features);
  const sum = new Float64Array(size);
  for (let i = 0; i < features.n; i++) for (let j = 0; j < size; j++) sum[j] += features.x[i * size + j];
  return Float32Array.from(sum, (s) => (features.n > 0 ? s / features.n : 0));
}

export function integratedGradients(model: BuiltModel, inputs: Pick<Features, 'n' | 'rowShape' | 'x'>, baseline: Float32Array, options: IgOptions): IgResult {
  const size = rowSize(inputs);
  if (baseline.length !== size) throw new Error(`integrated gradients: baseline has ${baseline.length} values, rows have ${size}`);
  const { alphas, weights } = quadrature(options.steps, options.rule);
  const points = alphas.length;
  let batchRows = Math.max(1, Math.floor((options.maxBatchFloats ?? 2 ** 21) / (points * size)));
  if (model.gradientBatchRows !== undefined) batchRows = Math.max(1, Math.min(batchRows, Math.floor(model.gradientBatchRows / points)));
  const attributions = new Float32Array(inputs.n * size);
  const logits = new Float32Array(inputs.n);
  const gradOfSum = tf.grad((x: tf.Tensor) => model.logits(x).sum());
  const baselineLogit = tf.tidy(() => model.logits(tf.tensor(baseline, [1, ...inputs.rowShape])).dataSync()[0]);
  for (let start = 0; start < inputs.n; start += batchRows) {
    const end = Math.min(inputs.n, start + batchRows);
    const b = end - start;
    const [ig, fx] = tf.tidy(() => {
      const x = tf.tensor2d(inputs.x.subarray(start * size, end * size), [b, size]);
      const base = tf.tensor2d(baseline, [1, size]);
      const diff = x.sub(base);
      // [b, points, size]: row r at path point k is x' + α_k (x_r − x').
      const path = base.reshape([1, 1, size]).add(tf.tensor3d(alphas, [1, points, 1]).mul(diff.reshape([b, 1, size])));
      const grads = gradOfSum(path.reshape([b * points, ...inputs.rowShape])).reshape([b, points, size]);
      const avgGrad = grads.mul(tf.tensor3d(weights, [1, points, 1])).sum(1);
      return [avgGrad.mul(diff), model.logits(x.reshape([b, ...inputs.rowShape]))];
    });
    attributions.set(ig.dataSync() as Float32Array, start * size);
    logits.set(fx.dataSync() as Float32Array, start);
    ig.dispose();
    fx.dispose();
  }
  return { attributions, logits, baselineLogit };
}

/**
 * Completeness check per row: |Σ_j IG_j − (f(x) − f(x'))| / max(|f(x) − f(x')|, floor). The floor keeps rows
 * that sit next to the baseline (Δf ≈ 0) from dominating with a meaningless ratio.
 */
export function completenessErrors(result: IgResult, size: number, floor = 1e-3): Float64Array {
  const n = result.logits.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let j = 0; j < size; j++) sum += result.attributions[i * size + j];
    const delta = result.logits[i] - result.baselineLogit;
    out[i] = Math.abs(sum - delta) / Math.max(Math.abs(delta), floor);
  }
  return out;
}

/**
 * |IG| per named feature, n × F: a tabular row's features one to one; a sequence row's [T, C] elements summed
 * over time per channel, so both views report against the featurizer's `names`.
 */
export function absAttributionPerFeature(attributions: Float32Array, n: number, rowShape: number[]): { values: Float64Array; features: number } {
  const size = rowShape.reduce((a, b) => a * b, 1);
  const features = rowShape[rowShape.length - 1];
  const values = new Float64Array(n * features);
  for (let i = 0; i < n; i++) {
    for (let e = 0; e < size; e++) values[i * features + (e % features)] += Math.abs(attributions[i * size + e]);
  }
  return { values, features };
}
