import * as tf from '@tensorflow/tfjs';

import { KernelScope } from './kernels.js';
import { torchActive, torchCausalConv } from '../../engine/torch-ops.js';

/**
 * Causal dilated 1-D convolution from kernels every backend implements, as one op with a hand-written
 * gradient, on time-major activations that may hold only some time steps.
 *
 * tfjs's conv1d cannot serve: its gradient refuses dilation > 1, it has no causal padding, and the wasm
 * backend lacks Conv2DBackpropFilter. Output step t of a kernel of size k and dilation d reads input steps
 * t − s_j with s_j = (k−1−j)·d for taps j = 0..k−1 (zero before the start of the sequence).
 *
 * Activations are time-major matrices [|S|·B, C]: row block m holds step S[m] of every stay. "Input step t − s
 * for every stay" is then a block of whole rows, and a run of consecutive steps one contiguous slice: tap j is
 * the matMul of the gathered input blocks with W_j. The batch-major alternative (im2col: concatenating k shifted
 * windows on the channel axis, then one matMul) moved the same numbers in 32-float runs, and its concat, split
 * and transposes cost more than the matMuls (measured on wasm: 26 ms per convolution of [256, 24, 32] against
 * ~11 ms this way).
 *
 * The step sets let a network compute only the steps its output needs (see tcn.ts `requiredSteps`): with every
 * step in and out, this is the ordinary convolution.
 *
 * Backward: ∂W_j = G_jᵀ · ∂y and ∂bias = 1ᵀ·∂y, all in one matMul of the stacked G_jᵀ (XNNPACK packs the right
 * operand, here ∂y, on every call: 1.7 ms at [6144, 32], so one product per tap would pack it k + 1 times);
 * ∂x adds ∂y · W_jᵀ back into the blocks each tap read. The bias is added separately, not through
 * _FusedMatMul (see KernelScope.matMulBias).
 *
 * x: [|S_in|·B, C]; kernel: [k·C, F], rows grouped by tap j (oldest input first), then input channel; bias: [F].
 * Returns [|S_out|·B, F].
 */

type Activation = 'linear' | 'relu';

/**
 * Consecutive output blocks [outStart, outStart + length) that read input blocks inStart, inStart + stride, …
 * (an arithmetic progression: with last-step pooling the upper blocks compute every 2nd or 4th step).
 */
interface Run {
  outStart: number;
  inStart: number;
  length: number;
  stride: number;
}

/** Which input blocks tap shift s reads for each output step, as runs; steps before the start read zero. */
function tapRuns(inSteps: number[], outSteps: number[], shift: number): Run[] {
  const position = new Map(inSteps.map((t, m) => [t, m]));
  const runs: Run[] = [];
  outSteps.forEach((t, m) => {
    const source = t - shift;
    if (source < 0) return;
    const p = position.get(source);
    if (p === undefined) throw new Error(`causal conv: output step ${t} reads step ${source}, which the input does not hold`);
    const last = runs.at(-1);
    if (last && last.outStart + last.length === m) {
      if (last.length === 1 && p > last.inStart) {
        last.stride = p - last.inStart;
        last.length = 2;
        return;
      }
      if (p === last.inStart + last.stride * last.length) {
        last.length++;
        return;
      }
    }
    runs.push({ outStart: m, inStart: p, length: 1, stride: 1 });
  });
  return runs;
}

/** Input blocks a run spans, from its first to its last (inclusive). */
const span = (run: Run): number => run.stride * (run.length - 1) + 1;

/** Rows [start·B, (start + blocks)·B) of a [rows, width] matrix. */
function blockRows(k: KernelScope, x: tf.TensorInfo, start: number, blocks: number, B: number): tf.TensorInfo {
  const [rows, width] = x.shape;
  if (start === 0 && blocks * B === rows) return x;
  return k.slice(x, [start * B, 0], [blocks * B, width]);
}

/** The row blocks a run reads from x ([blocks·B, width]), as one [length·B, width] matrix. */
function gatherRows(k: KernelScope, x: tf.TensorInfo, run: Run, B: number): tf.TensorInfo {
  if (run.stride === 1) return blockRows(k, x, run.inStart, run.length, B);
  const width = x.shape[1];
  // Pad the spanned region to length × stride blocks, view it as [length, stride·B, width], keep each first block.
  const region = k.pad(blockRows(k, x, run.inStart, span(run), B), [[0, (run.stride - 1) * B], [0, 0]]);
  const firsts = k.slice(k.reshape(region, [run.length, run.stride * B, width]), [0, 0, 0], [run.length, B, width]);
  return k.reshape(firsts, [run.length * B, width]);
}

/** The same blocks as columns of xᵀ ([width, blocks·B]): a [width, length·B] matrix. */
function gatherColumns(k: KernelScope, xT: tf.TensorInfo, run: Run, B: number): tf.TensorInfo {
  const [width, cols] = xT.shape;
  if (run.stride === 1) return run.inStart === 0 && run.length * B === cols ? xT : k.slice(xT, [0, run.inStart * B], [width, run.length * B]);
  const region = k.pad(k.slice(xT, [0, run.inStart * B], [width, span(run) * B]), [[0, 0], [0, (run.stride - 1) * B]]);
  const firsts = k.slice(k.reshape(region, [width, run.length, run.stride * B]), [0, 0, 0], [width, run.length, B]);
  return k.reshape(firsts, [width, run.length * B]);
}

/** The inverse of gatherRows: rows [length·B, width] placed at the run's blocks, zero between them (span(run) blocks). */
function scatterRows(k: KernelScope, rows: tf.TensorInfo, run: Run, B: number): tf.TensorInfo {
  if (run.stride === 1) return rows;
  const width = rows.shape[1];
  const spread = k.pad(k.reshape(rows, [run.length, B, width]), [[0, 0], [0, (run.stride - 1) * B], [0, 0]]);
  return k.slice(k.reshape(spread, [run.length * run.stride * B, width]), [0, 0], [span(run) * B, width]);
}

/** Stacks row blocks (and zero blocks, given as counts) into one [blocks·B, width] matrix. */
function stackRows(k: KernelScope, pieces: (tf.TensorInfo | number)[], B: number, width: number): tf.TensorInfo {
  const parts = pieces.filter((p) => p !== 0).map((p) => (typeof p === 'number' ? k.fill([p * B, width], 0) : p));
  return parts.length === 1 ? parts[0] : k.concat(parts, 0);
}

function makeOp(inSteps: number[], outSteps: number[], kernelSize: number, dilation: number, activation: Activation) {
  const taps = Array.from({ length: kernelSize }, (_, j) => ({ j, runs: tapRuns(inSteps, outSteps, (kernelSize - 1 - j) * dilation) }));
  const nOut = outSteps.length;
  const nIn = inSteps.length;

  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, kernel, bias] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
    const save = args[3] as tf.GradSaveFunc;
    const [rows, C] = x.shape;
    const F = kernel.shape[1];
    const B = rows / nIn;
    const k = new KernelScope();
    let y: tf.Tensor2D;
    try {
      const products: tf.TensorInfo[] = [];
      for (const { j, runs } of taps) {
        if (runs.length === 0) continue;
        const w = kernelSize === 1 ? kernel : k.slice(kernel, [j * C, 0], [C, F]);
        // Output blocks before the first run read only zeros (steps before the start): they are left out of the
        // product and its result padded instead. Runs are consecutive in the output after that.
        const lead = runs[0].outStart;
        const product = k.matMul(stackRows(k, runs.map((run) => gatherRows(k, x, run, B)), B, C), w);
        products.push(lead > 0 ? k.pad(product, [[lead * B, 0], [0, 0]]) : product);
      }
      const sum = products.length === 0 ? k.fill([nOut * B, F], 0) : products.length === 1 ? products[0] : k.run('AddN', products);
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
          // [G_0ᵀ; …; G_{k−1}ᵀ; 1ᵀ] · ∂y, where G_jᵀ gathers column blocks of xᵀ (zero for the leading blocks).
          const xT = g.transpose(sX, [1, 0]);
          const stacked: tf.TensorInfo[] = [];
          for (const { runs } of taps) {
            const lead = runs.length === 0 ? nOut : runs[0].outStart;
            const pieces = runs.map((run) => gatherColumns(g, xT, run, B));
            if (lead > 0) pieces.unshift(g.fill([C, lead * B], 0));
            stacked.push(pieces.length === 1 ? pieces[0] : g.concat(pieces, 1));
          }
          stacked.push(g.fill([1, nOut * B], 1));
          const dParams = g.matMul(g.concat(stacked, 0), dOut);
          const dKernel = g.slice(dParams, [0, 0], [kernelSize * C, F]);
          const dBias = g.reshape(g.slice(dParams, [kernelSize * C, 0], [1, F]), [F]);
          const dxParts: tf.TensorInfo[] = [];
          for (const { j, runs } of taps) {
            if (runs.length === 0) continue;
            const w = kernelSize === 1 ? sKernel : g.slice(sKernel, [j * C, 0], [C, F]);
            const lead = runs[0].outStart;
            // ∂y · W_jᵀ for every output block that read something, then each run's rows back to its input blocks.
            const dRead = g.matMul(blockRows(g, dOut, lead, nOut - lead, B), g.transpose(w, [1, 0]));
            const pieces: (tf.TensorInfo | number)[] = [];
            let at = 0;
            for (const run of runs) {
              if (run.inStart > at) pieces.push(run.inStart - at);
              pieces.push(scatterRows(g, runs.length === 1 ? dRead : blockRows(g, dRead, run.outStart - lead, run.length, B), run, B));
              at = run.inStart + span(run);
            }
            if (at < nIn) pieces.push(nIn - at);
            dxParts.push(stackRows(g, pieces, B, C));
          }
          const dx = dxParts.length === 0 ? g.fill([nIn * B, C], 0) : dxParts.length === 1 ? dxParts[0] : g.run('AddN', dxParts);
          return [g.toTensor(dx), g.toTensor(dKernel), g.toTensor(dBias)];
        } finally {
          g.dispose();
        }
      },
    };
  });
}

const ops = new Map<string, ReturnType<typeof makeOp>>();

/** Steps 0 … T−1. */
export function allSteps(steps: number): number[] {
  return Array.from({ length: steps }, (_, t) => t);
}

/**
 * activation(causal dilated convolution of x + bias) on time-major rows: x holds steps `inSteps` ([|S_in|·B, C]),
 * the result steps `outSteps` ([|S_out|·B, F]). Both sorted ascending; every step an output reads must be held.
 */
export function causalConvSteps(
  x: tf.Tensor2D,
  inSteps: number[],
  outSteps: number[],
  kernel: tf.Tensor2D,
  bias: tf.Tensor1D,
  kernelSize: number,
  dilation: number,
  activation: Activation = 'linear',
): tf.Tensor2D {
  if (kernel.shape[0] !== kernelSize * x.shape[1]) throw new Error(`causalConv1d: kernel rows ${kernel.shape[0]} ≠ kernel size ${kernelSize} × channels ${x.shape[1]}`);
  if (x.shape[0] % inSteps.length !== 0) throw new Error(`causalConv1d: ${x.shape[0]} rows are not a whole number of ${inSteps.length}-step blocks`);
  if (torchActive()) return torchCausalConv(x, inSteps, outSteps, kernel, bias, kernelSize, dilation, activation);
  const key = `${inSteps.join(',')}/${outSteps.join(',')}/${kernelSize}/${dilation}/${activation}`;
  let op = ops.get(key);
  if (op === undefined) {
    op = makeOp(inSteps, outSteps, kernelSize, dilation, activation);
    ops.set(key, op);
  }
  return op(x, kernel, bias) as tf.Tensor2D;
}

/** The row blocks of `outSteps` from time-major x holding `inSteps` (a gather with autodiff). */
export function selectSteps(x: tf.Tensor2D, inSteps: number[], outSteps: number[]): tf.Tensor2D {
  if (inSteps.length === outSteps.length) return x;
  const B = x.shape[0] / inSteps.length;
  const position = new Map(inSteps.map((t, m) => [t, m]));
  const runs: { start: number; length: number }[] = [];
  for (const t of outSteps) {
    const p = position.get(t);
    if (p === undefined) throw new Error(`selectSteps: step ${t} is not held`);
    const last = runs.at(-1);
    if (last && last.start + last.length === p) last.length++;
    else runs.push({ start: p, length: 1 });
  }
  const parts = runs.map((r) => tf.slice(x, [r.start * B, 0], [r.length * B, x.shape[1]]));
  return (parts.length === 1 ? parts[0] : tf.concat(parts, 0)) as tf.Tensor2D;
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
  const steps = allSteps(x.shape[1]);
  return tf.tidy(() => fromTimeMajor(causalConvSteps(toTimeMajor(x), steps, steps, kernel, bias, kernelSize, dilation, activation), x.shape[1]));
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
