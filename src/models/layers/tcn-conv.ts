import * as tf from '@tensorflow/tfjs';

import { allSteps, causalConvSteps } from './causal-conv.js';
import { dropout } from './dropout.js';
import { torchActive, torchTcnConv, type TcnConvOptions } from '../../engine/torch-ops.js';

export type { TcnConvOptions };

/** Weight normalization (Salimans & Kingma 2016) of a [rows, F] kernel: w = g · v / ‖v‖ per output channel. */
export function weightNorm(v: tf.Tensor2D, g: tf.Tensor1D): tf.Tensor2D {
  const norm = tf.sqrt(tf.sum(tf.square(v), 0));
  return tf.mul(v, tf.div(g, norm)) as tf.Tensor2D;
}

/**
 * The TCN's convolution on channels-first activations x [B, C, T], the layout the TCN keeps on the torch backend:
 * dropout(activation(causal dilated conv(x, w) + b)) → [B, F, T], with w = v, or weightNorm(v, g) when g is given.
 * v holds the kernel as causal-conv.ts does ([k·C, F], rows by tap, oldest input first, then channel).
 *
 * The dropout mask is the one the time-major TCN draws (dropout.ts over [|S|·B, F] for the steps S it computes),
 * applied to those steps only, so both layouts train alike from one seed; other steps are not masked (no output
 * the model uses reads them). With a residual r [B, F, T] the result is the residual block's output relu(y + r).
 *
 * On torch this is one native kernel each way. Elsewhere it is composed from the time-major op (the reference the
 * native kernel's values and gradients are checked against).
 */
export function tcnConv(x: tf.Tensor3D, v: tf.Tensor2D, g: tf.Tensor1D | null, b: tf.Tensor1D, options: TcnConvOptions, residual?: tf.Tensor3D): tf.Tensor3D {
  const { kernelSize, dilation, activation } = options;
  if (v.shape[0] !== kernelSize * x.shape[1]) throw new Error(`tcnConv: kernel rows ${v.shape[0]} ≠ kernel size ${kernelSize} × channels ${x.shape[1]}`);
  if (torchActive()) return torchTcnConv(x, v, g, b, options, residual);
  return tf.tidy(() => {
    const [B, C, T] = x.shape;
    const F = v.shape[1];
    const steps = allSteps(T);
    const timeMajor = tf.reshape(tf.transpose(x, [2, 0, 1]), [T * B, C]) as tf.Tensor2D;
    let y = causalConvSteps(timeMajor, steps, steps, g ? weightNorm(v, g) : v, b, kernelSize, dilation, activation);
    const drop = options.dropout;
    if (drop !== undefined && drop.rate > 0) {
      const drawn = dropout(tf.ones([drop.steps.length * B, F]), drop.rate, drop.seed);
      const position = new Map(drop.steps.map((t, m) => [t, m]));
      const blocks = steps.map((t) => {
        const m = position.get(t);
        return m === undefined ? tf.ones([B, F]) : tf.slice(drawn, [m * B, 0], [B, F]);
      });
      y = tf.mul(y, tf.concat(blocks, 0));
    }
    const out = tf.transpose(tf.reshape(y, [T, B, F]), [1, 2, 0]) as tf.Tensor3D;
    return residual ? (tf.relu(tf.add(out, residual)) as tf.Tensor3D) : out;
  });
}
