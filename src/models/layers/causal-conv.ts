import * as tf from '@tensorflow/tfjs';

import { KernelScope } from './kernels.js';

/**
 * Causal dilated 1-D convolution from kernels every backend implements, as one op with a hand-written
 * gradient, on time-major activations.
 *
 * tfjs's conv1d cannot serve: its gradient refuses dilation > 1, it has no causal padding, and the wasm
 * backend lacks Conv2DBackpropFilter. Output step t of a kernel of size k and dilation d reads input steps
 * t − s_j with s_j = (k−1−j)·d for taps j = 0..k−1 (zero before the start of the sequence).
 *
 * The activations are time-major matrices [T·B, C] (row t·B + b), so "input step t − s for every stay" is
 * one contiguous block of rows: tap j is the matMul x[0 : (T−s_j)·B] · W_j, placed s_j·B rows down. The
 * batch-major alternative (im2col: concatenating k shifted windows on the channel axis, then one matMul)
 * moved the same numbers in 32-float runs, and its concat, split and transposes cost more than the matMuls
 * (measured on wasm: 26 ms per convolution of [256, 24, 32] against ~11 ms this way).
 *
 * Backward: ∂W_j = x[0 : (T−s_j)·B]ᵀ · ∂y[s_j·B :] and ∂bias = 1ᵀ·∂y (all in one matMul), and ∂x sums ∂y[s_j·B :] · W_jᵀ over taps,
 * each placed at the top. The bias is added separately, not through _FusedMatMul: on wasm the fused
 * kernel took 2.0 ms for a [6144, 32]·[32, 32] product that a plain matMul and a broadcast Add do in 1.1.
 *
 * x: [T·B, C]; kernel: [k·C, F], rows grouped by tap j (oldest input first), then input channel; bias: [F].
 * Returns [T·B, F].
 */

type Activation = 'linear' | 'relu';

/** Rows shifted by tap j: s_j · B. */
function tapShift(kernelSize: number, dilation: number, j: number): number {
  return (kernelSize - 1 - j) * dilation;
}

function makeOp(steps: number, kernelSize: number, dilation: number, activation: Activation) {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, kernel, bias] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
    const save = args[3] as tf.GradSaveFunc;
    const [N, C] = x.shape;
    const F = kernel.shape[1];
    const B = N / steps;
    const k = new KernelScope();
    let y: tf.Tensor2D;
    try {
      const taps: tf.TensorInfo[] = [];
      for (let j = 0; j < kernelSize; j++) {
        const s = tapShift(kernelSize, dilation, j);
        if (s >= steps) continue;
        const w = kernelSize === 1 ? kernel : k.slice(kernel, [j * C, 0], [C, F]);
        const product = k.matMul(s === 0 ? x : k.slice(x, [0, 0], [(steps - s) * B, C]), w);
        taps.push(s === 0 ? product : k.pad(product, [[s * B, 0], [0, 0]]));
      }
      const sum = taps.length === 1 ? taps[0] : k.run('AddN', taps);
      const pre = k.add(sum, bias);
      y = k.toTensor(activation === 'relu' ? k.run('Relu', { x: pre }) : pre);
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
          // One matMul for every tap's ∂W_j and ∂bias: the rows of xᵀ shifted right by s_j·B columns, stacked,
          // plus a row of ones. XNNPACK packs the right operand (here ∂y, [T·B, F]) on every call (1.7 ms at
          // [6144, 32]), so a product per tap would pack it k + 1 times.
          const xT = g.transpose(sX, [1, 0]);
          const stacked: tf.TensorInfo[] = [];
          for (let j = 0; j < kernelSize; j++) {
            const s = tapShift(kernelSize, dilation, j);
            if (s === 0) stacked.push(xT);
            else if (s >= steps) stacked.push(g.fill([C, N], 0));
            else stacked.push(g.pad(g.slice(xT, [0, 0], [C, (steps - s) * B]), [[0, 0], [s * B, 0]]));
          }
          stacked.push(g.fill([1, N], 1));
          const dParams = g.matMul(g.concat(stacked, 0), dOut);
          const dKernel = g.slice(dParams, [0, 0], [kernelSize * C, F]);
          const dBias = g.reshape(g.slice(dParams, [kernelSize * C, 0], [1, F]), [F]);
          const dxParts: tf.TensorInfo[] = [];
          for (let j = 0; j < kernelSize; j++) {
            const s = tapShift(kernelSize, dilation, j);
            if (s >= steps) continue;
            const dOutTap = s === 0 ? dOut : g.slice(dOut, [s * B, 0], [(steps - s) * B, F]);
            const w = kernelSize === 1 ? sKernel : g.slice(sKernel, [j * C, 0], [C, F]);
            const dxTap = g.matMul(dOutTap, g.transpose(w, [1, 0]));
            dxParts.push(s === 0 ? dxTap : g.pad(dxTap, [[0, s * B], [0, 0]]));
          }
          const dx = dxParts.length === 1 ? dxParts[0] : g.run('AddN', dxParts);
          return [g.toTensor(dx), g.toTensor(dKernel), g.toTensor(dBias)];
        } finally {
          g.dispose();
        }
      },
    };
  });
}

const ops = new Map<string, ReturnType<typeof makeOp>>();

/** activation(causal dilated convolution of x + bias) on time-major rows: [T·B, C] → [T·B, F]. */
export function causalConv1dTimeMajor(
  x: tf.Tensor2D,
  steps: number,
  kernel: tf.Tensor2D,
  bias: tf.Tensor1D,
  kernelSize: number,
  dilation: number,
  activation: Activation = 'linear',
): tf.Tensor2D {
  if (kernel.shape[0] !== kernelSize * x.shape[1]) throw new Error(`causalConv1d: kernel rows ${kernel.shape[0]} ≠ kernel size ${kernelSize} × channels ${x.shape[1]}`);
  if (x.shape[0] % steps !== 0) throw new Error(`causalConv1d: ${x.shape[0]} rows are not a whole number of ${steps}-step sequences`);
  const key = `${steps}/${kernelSize}/${dilation}/${activation}`;
  let op = ops.get(key);
  if (op === undefined) {
    op = makeOp(steps, kernelSize, dilation, activation);
    ops.set(key, op);
  }
  return op(x, kernel, bias) as tf.Tensor2D;
}

/** [B, T, C] → time-major [T·B, C]. */
export function toTimeMajor(x: tf.Tensor3D): tf.Tensor2D {
  const [B, T, C] = x.shape;
  return tf.reshape(tf.transpose(x, [1, 0, 2]), [T * B, C]);
}

/** Time-major [T·B, F] → [B, T, F]. */
export function fromTimeMajor(x: tf.Tensor2D, steps: number): tf.Tensor3D {
  const [N, F] = x.shape;
  return tf.transpose(tf.reshape(x, [steps, N / steps, F]), [1, 0, 2]);
}

/** The same convolution on batch-major [B, T, C] input, through the time-major op. */
export function causalConv1d(x: tf.Tensor3D, kernel: tf.Tensor2D, bias: tf.Tensor1D, kernelSize: number, dilation: number, activation: Activation = 'linear'): tf.Tensor3D {
  return tf.tidy(() => fromTimeMajor(causalConv1dTimeMajor(toTimeMajor(x), x.shape[1], kernel, bias, kernelSize, dilation, activation), x.shape[1]));
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
