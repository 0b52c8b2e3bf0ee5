import * as tf from '@tensorflow/tfjs';

import { KernelScope } from './kernels.js';

/**
 * A dense layer, activation(x·W + b) on [rows, in] → [rows, out], as one op with a hand-written gradient.
 *
 * tf.fused.matMul's autodiff sums the bias gradient with a Sum over the leading axis, which the wasm backend
 * runs through a transpose (6 ms for [6144, 96]), and its forward kernel is slower than a plain matMul and
 * an Add (see KernelScope.matMulBias). Here ∂W and ∂b come from one matMul, [xᵀ; 1ᵀ]·∂y, and ∂x = ∂y·Wᵀ.
 */
type Activation = 'linear' | 'relu';

function makeOp(activation: Activation) {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, kernel, bias] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
    const save = args[3] as tf.GradSaveFunc;
    const [rows, inputs] = x.shape;
    const outputs = kernel.shape[1];
    const k = new KernelScope();
    let y: tf.Tensor2D;
    try {
      y = k.toTensor(k.matMulBias(x, kernel, bias, activation));
    } finally {
      k.dispose();
    }
    save([x, kernel, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sX, sKernel, sY] = saved;
        const g = new KernelScope();
        try {
          const dOut = activation === 'relu' ? g.mul(dy, g.step(sY)) : dy;
          const dParams = g.matMul(g.concat([g.transpose(sX, [1, 0]), g.fill([1, rows], 1)], 0), dOut);
          const dKernel = g.slice(dParams, [0, 0], [inputs, outputs]);
          const dBias = g.reshape(g.slice(dParams, [inputs, 0], [1, outputs]), [outputs]);
          const dx = g.matMul(dOut, g.transpose(sKernel, [1, 0]));
          return [g.toTensor(dx), g.toTensor(dKernel), g.toTensor(dBias)];
        } finally {
          g.dispose();
        }
      },
    };
  });
}

const ops = { linear: makeOp('linear'), relu: makeOp('relu') };

/** activation(x·kernel + bias): [rows, in] → [rows, out]. */
export function dense(x: tf.Tensor2D, kernel: tf.Tensor2D, bias: tf.Tensor1D, activation: Activation = 'linear'): tf.Tensor2D {
  if (x.shape[1] !== kernel.shape[0]) throw new Error(`dense: input width ${x.shape[1]} ≠ kernel rows ${kernel.shape[0]}`);
  return ops[activation](x, kernel, bias) as tf.Tensor2D;
}
