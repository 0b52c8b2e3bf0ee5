import * as tf from '@tensorflow/tfjs';

import { KernelScope } from './kernels.js';

/**
 * Causal dilated 1-D convolution from kernels every backend implements, as one op with a hand-written
 * gradient.
 *
 * tfjs's conv1d cannot serve: its gradient refuses dilation > 1, it has no causal padding, and the wasm
 * backend lacks Conv2DBackpropFilter. Instead, output step t of a kernel of size k and dilation d reads
 * input steps t − (k−1−j)·d for j = 0..k−1 (zero before the start of the sequence): the input is left-padded
 * with (k−1)·d zero steps, the k shifted windows of length T are concatenated on the channel axis
 * ([B, T, k·C], "im2col"), and one matMul with the [k·C, F] kernel produces all outputs, with the bias and
 * an optional ReLU fused into it.
 *
 * Backward: ∂kernel = colsᵀ·∂y and ∂bias = 1ᵀ·∂y (one matMul each), ∂cols = ∂y·kernelᵀ, and ∂x sums the
 * k tap blocks of ∂cols shifted back by (k−1−j)·d steps. Written out because tfjs's autodiff of the same
 * forward (pad, slices, concat, fused matMul) ran ~2.5× the kernels, cloned each saved tensor, and summed
 * the bias gradient with a Sum over the leading axis, which the wasm backend runs through a transpose.
 *
 * x: [B, T, C]; kernel: [k·C, F], rows grouped by tap j (oldest input first), then input channel;
 * bias: [F]. Returns [B, T, F].
 */

type Activation = 'linear' | 'relu';

function im2col(k: KernelScope, x: tf.TensorInfo, kernelSize: number, dilation: number): tf.TensorInfo {
  const [B, T, C] = x.shape;
  if (kernelSize === 1) return k.reshape(x, [B * T, C]);
  const padded = k.pad(x, [
    [0, 0],
    [(kernelSize - 1) * dilation, 0],
    [0, 0],
  ]);
  const taps: tf.TensorInfo[] = [];
  for (let j = 0; j < kernelSize; j++) taps.push(k.slice(padded, [0, j * dilation, 0], [B, T, C]));
  return k.reshape(k.concat(taps, 2), [B * T, kernelSize * C]);
}

function makeOp(kernelSize: number, dilation: number, activation: Activation) {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, kernel, bias] = args as [tf.Tensor3D, tf.Tensor2D, tf.Tensor1D];
    const save = args[3] as tf.GradSaveFunc;
    const [B, T, C] = x.shape;
    const F = kernel.shape[1];
    const k = new KernelScope();
    let y: tf.Tensor3D;
    let cols: tf.Tensor2D;
    try {
      const c = im2col(k, x, kernelSize, dilation);
      y = k.toTensor(k.reshape(k.matMulBias(c, kernel, bias, activation), [B, T, F]));
      cols = k.toTensor(c === x ? k.reshape(x, [B * T, C]) : c);
    } finally {
      k.dispose();
    }
    save([cols, kernel, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sCols, sKernel, sY] = saved;
        const g = new KernelScope();
        try {
          let dy2 = g.reshape(dy, [B * T, F]);
          if (activation === 'relu') dy2 = g.mul(dy2, g.step(g.reshape(sY, [B * T, F])));
          const dKernel = g.matMul(g.transpose(sCols, [1, 0]), dy2);
          const dBias = g.reshape(g.matMul(g.fill([1, B * T], 1), dy2), [F]);
          const dCols = g.reshape(g.matMul(dy2, g.transpose(sKernel, [1, 0])), [B, T, kernelSize * C]);
          let dx: tf.TensorInfo;
          if (kernelSize === 1) {
            dx = dCols;
          } else {
            const blocks = g.split(dCols, kernelSize, 2);
            // Tap j of output t read input t − s with s = (k−1−j)·d: its gradient goes back s steps.
            dx = blocks[kernelSize - 1];
            for (let j = 0; j < kernelSize - 1; j++) {
              const s = (kernelSize - 1 - j) * dilation;
              if (s >= T) continue;
              const shifted = g.pad(g.slice(blocks[j], [0, s, 0], [B, T - s, C]), [
                [0, 0],
                [0, s],
                [0, 0],
              ]);
              dx = g.add(dx, shifted);
            }
          }
          return [g.toTensor(dx), g.toTensor(dKernel), g.toTensor(dBias)];
        } finally {
          g.dispose();
        }
      },
    };
  });
}

const ops = new Map<string, ReturnType<typeof makeOp>>();

/** activation(causal dilated convolution of x + bias): [B, T, C] → [B, T, F]. */
export function causalConv1d(x: tf.Tensor3D, kernel: tf.Tensor2D, bias: tf.Tensor1D, kernelSize: number, dilation: number, activation: Activation = 'linear'): tf.Tensor3D {
  if (kernel.shape[0] !== kernelSize * x.shape[2]) throw new Error(`causalConv1d: kernel rows ${kernel.shape[0]} ≠ kernel size ${kernelSize} × channels ${x.shape[2]}`);
  const key = `${kernelSize}/${dilation}/${activation}`;
  let op = ops.get(key);
  if (op === undefined) {
    op = makeOp(kernelSize, dilation, activation);
    ops.set(key, op);
  }
  return op(x, kernel, bias) as tf.Tensor3D;
}

/** The same convolution by direct summation over taps (tests only). */
export function causalConv1dReference(x: tf.Tensor3D, kernel: tf.Tensor2D, bias: tf.Tensor1D, kernelSize: number, dilation: number): tf.Tensor3D {
  return tf.tidy(() => {
    const [B, T, C] = x.shape;
    const F = kernel.shape[1];
    const xs = x.arraySync();
    const w = kernel.arraySync();
    const b = bias.arraySync();
    const out = new Float32Array(B * T * F);
    for (let n = 0; n < B; n++) {
      for (let t = 0; t < T; t++) {
        for (let f = 0; f < F; f++) {
          let sum = b[f];
          for (let j = 0; j < kernelSize; j++) {
            const src = t - (kernelSize - 1 - j) * dilation;
            if (src < 0) continue;
            for (let c = 0; c < C; c++) sum += xs[n][src][c] * w[j * C + c][f];
          }
          out[(n * T + t) * F + f] = sum;
        }
      }
    }
    return tf.tensor3d(out, [B, T, F]);
  });
}
