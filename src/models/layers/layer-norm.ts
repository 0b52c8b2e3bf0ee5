import * as tf from '@tensorflow/tfjs';

import { KernelScope } from './kernels.js';
import { torchActive, torchLayerNorm } from '../../engine/torch-ops.js';

/**
 * Layer normalization over the last axis (Ba et al. 2016) with a hand-written gradient.
 *
 * tf.layers.layerNormalization's gradient on 3-D input went through tfjs's generic broadcasting gradients
 * and issued on the order of 10^5 tiny ops per training step. Here the forward pass is five kernels on the
 * [rows, d] matrix and the backward pass a fixed dozen, whatever the batch size:
 *   x̂ = (x − μ) / σ,  y = γ ⊙ x̂ + β
 *   ∂x = (ĝ − mean(ĝ) − x̂ ⊙ mean(ĝ ⊙ x̂)) / σ  with ĝ = γ ⊙ ∂y  (means over the normalized axis)
 *   ∂γ = Σ_rows ∂y ⊙ x̂,  ∂β = Σ_rows ∂y
 * The row sums are ones-vector matMuls: the wasm Sum over the leading axis transposes its input first.
 */
const layerNormOp = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, gamma, beta] = args as [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
  const save = args[3] as tf.GradSaveFunc;
  const shape = x.shape;
  const d = shape[shape.length - 1];
  const rows = x.size / d;
  const eps = 1e-5;
  const { y, xhat, invStd } = tf.tidy(() => {
    const x2 = x.reshape([rows, d]);
    const mean = tf.mean(x2, 1, true);
    const centered = tf.sub(x2, mean);
    const variance = tf.mean(tf.square(centered), 1, true);
    const invStd = tf.rsqrt(tf.add(variance, eps));
    const xhat = tf.mul(centered, invStd);
    const y = tf.add(tf.mul(xhat, gamma), beta).reshape(shape);
    return { y, xhat, invStd };
  });
  save([xhat, invStd, gamma]);
  return {
    value: y,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sxhat, sinvStd, sgamma] = saved;
      const dy2 = dy.reshape([rows, d]);
      const g = tf.mul(dy2, sgamma);
      const meanG = tf.mean(g, 1, true);
      const meanGX = tf.mean(tf.mul(g, sxhat), 1, true);
      const dx = tf.mul(tf.sub(tf.sub(g, meanG), tf.mul(sxhat, meanGX)), sinvStd).reshape(shape);
      const k = new KernelScope();
      try {
        const ones = k.fill([1, rows], 1);
        const both = k.matMul(ones, k.concat([k.mul(dy2, sxhat), dy2], 1));
        const [dGamma, dBeta] = k.split(k.reshape(both, [2 * d]), 2, 0);
        return [dx, k.toTensor(dGamma), k.toTensor(dBeta)];
      } finally {
        k.dispose();
      }
    },
  };
});

/** Layer normalization of x over its last axis with gain γ and shift β (both [d]). */
export function layerNorm<T extends tf.Tensor>(x: T, gamma: tf.Tensor1D, beta: tf.Tensor1D): T {
  if (torchActive()) return torchLayerNorm(x, gamma, beta);
  return layerNormOp(x, gamma, beta) as T;
}

/** The same with ordinary ops and autodiff (tests). */
export function layerNormReference<T extends tf.Tensor>(x: T, gamma: tf.Tensor1D, beta: tf.Tensor1D): T {
  return tf.tidy(() => {
    const mean = tf.mean(x, -1, true);
    const variance = tf.mean(tf.square(tf.sub(x, mean)), -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), gamma), beta) as T;
  });
}
