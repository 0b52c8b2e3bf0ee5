import * as tf from '@tensorflow/tfjs';

import { torchActive, torchDropoutMask } from '../../engine/torch-ops.js';

/**
 * Inverted dropout whose mask is drawn in plain JS from a small seeded generator and uploaded as one
 * tensor: out = x ⊙ mask, mask ∈ {0, 1/(1 − rate)}.
 *
 * tf.dropout draws through tf.randomUniform (seedrandom's alea, one call per element): 4.7 ms for a
 * [256, 24, 32] mask here. This draws two 16-bit uniforms per mulberry32 output and keeps an element
 * when its uniform is below round(65536·(1 − rate)), without a branch (an unpredictable branch per element
 * doubled the cost): 1.5 ms for the same mask. The keep probability is exact to 1/65536. The mask depends
 * only on (seed, shape), so a training step is reproducible on every backend.
 */
export function dropout<T extends tf.Tensor>(x: T, rate: number, seed: number): T {
  if (rate <= 0) return x;
  if (torchActive()) return tf.tidy(() => tf.mul(x, torchDropoutMask(x.shape, rate, seed | 0))) as T;
  const n = x.size;
  const mask = new Float32Array(n);
  const keep = 1 - rate;
  const scale = 1 / keep;
  const threshold = Math.round(keep * 65536);
  // mulberry32 (Tommy Ettinger, public domain): 32-bit state, passes PractRand to 2^32 outputs.
  let state = (seed ^ 0x9e3779b9) | 0;
  for (let i = 0; i < n; i += 2) {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    t ^= t >>> 14;
    // (u − threshold) >>> 31 is 1 exactly when u < threshold (both below 2^16).
    mask[i] = (((t & 0xffff) - threshold) >>> 31) * scale;
    if (i + 1 < n) mask[i + 1] = (((t >>> 16) - threshold) >>> 31) * scale;
  }
  return tf.tidy(() => tf.mul(x, tf.tensor(mask, x.shape, 'float32'))) as T;
}
