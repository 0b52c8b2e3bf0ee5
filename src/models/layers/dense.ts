import * as tf from '@tensorflow/tfjs';

import { causalConvSteps } from './causal-conv.js';
import { dropout as applyDropout } from './dropout.js';
import { torchActive, torchDense } from '../../engine/torch-ops.js';

const ONE_STEP = [0];

/**
 * A dense layer, activation(x·W + b) on [rows, in] → [rows, out], as one op with a hand-written gradient.
 *
 * tf.fused.matMul's autodiff sums the bias gradient with a Sum over the leading axis, which the wasm backend
 * runs through a transpose (6 ms for [6144, 96]), and its forward kernel is slower than a plain matMul and
 * an Add (see KernelScope.matMulBias). A dense layer is a kernel-size-1 convolution over a single time step
 * (every row one "stay"), so it shares that op's gradient: ∂W and ∂b from one matMul, [xᵀ; 1ᵀ]·∂y, and ∂x = ∂y·Wᵀ.
 * With `dropout`, dropout.ts's inverted dropout follows the activation (on torch, inside the same native kernel).
 */
export function dense(
  x: tf.Tensor2D,
  kernel: tf.Tensor2D,
  bias: tf.Tensor1D,
  activation: 'linear' | 'relu' = 'linear',
  dropout?: { rate: number; seed: number },
): tf.Tensor2D {
  if (x.shape[1] !== kernel.shape[0]) throw new Error(`dense: input width ${x.shape[1]} ≠ kernel rows ${kernel.shape[0]}`);
  if (torchActive()) return torchDense(x, kernel, bias, activation, dropout);
  const y = causalConvSteps(x, ONE_STEP, ONE_STEP, kernel, bias, 1, 1, activation);
  return dropout === undefined ? y : applyDropout(y, dropout.rate, dropout.seed);
}
