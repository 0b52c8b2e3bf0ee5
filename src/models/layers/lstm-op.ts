import * as tf from '@tensorflow/tfjs';

import { KernelScope } from './kernels.js';
import { torchActive, torchLstm } from '../../engine/torch-ops.js';

/**
 * One LSTM layer over a whole sequence as a single differentiable op with a hand-written backward pass
 * (backpropagation through time), run on backend kernels directly (see kernels.ts).
 *
 * Layout: x is batch-major [B, T, C]; weights wx [C, 4H], wh [H, 4H], b [4H], gates in the Keras order
 * i, f, g (cell candidate), o. Gates use the logistic sigmoid, candidate and cell output tanh
 * (Hochreiter & Schmidhuber 1997 with the forget gate of Gers et al. 2000), as PyTorch's nn.LSTM and Keras
 * with `recurrent_activation='sigmoid'` do. Output: every hidden state [B, T, H], or only the last [B, H].
 *
 * Speed (tfjs wasm backend, measured on this machine):
 * - The x-projection of all steps is one matMul; a step is one matMul plus elementwise kernels, and the
 *   backward pass does one matMul per step, deferring the weight and bias gradients to matMuls over all
 *   steps at once (see `backward` for their orientation).
 * - tanh is computed as 2·σ(2x) − 1: the wasm Tanh kernel took 33 ns per element against 2.5 for Sigmoid.
 *   The g-columns of the weights are doubled on the way in, so one sigmoid covers all four gates' 4H
 *   pre-activations, and the cell is carried doubled (c2 = 2c) so its tanh is one sigmoid as well.
 * - Kernels are called directly (kernels.ts), not through tf ops: a step is a dozen small kernels.
 * - tfjs's autodiff of the same computation written with tf ops (`lstmReference`) trained at about the
 *   speed of tf.layers.lstm; scripts/bench.ts times all three (cases lstm, lstm-autodiff, lstm-layers).
 */

/** Per-backend constant vectors, built once per (backend, hidden size). */
const constants = new Map<string, Record<'m' | 'mA' | 'bA' | 'mP' | 'one' | 'two', tf.Tensor>>();

function gateVector(hidden: number, values: [number, number, number, number]): tf.Tensor1D {
  const v = new Float32Array(4 * hidden);
  values.forEach((value, gate) => v.fill(value, gate * hidden, (gate + 1) * hidden));
  return tf.tensor1d(v);
}

function constantsFor(hidden: number) {
  const key = `${tf.getBackend()}/${hidden}`;
  let c = constants.get(key);
  if (c === undefined) {
    c = tf.tidy(() => ({
      // Pre-activation scale: doubles the candidate's columns so that σ(2z) gives tanh(z) = 2σ(2z) − 1.
      m: tf.keep(gateVector(hidden, [1, 1, 2, 1])),
      // a = σ·mA − bA turns the four sigmoids into i, f, 2g, o.
      mA: tf.keep(gateVector(hidden, [1, 1, 4, 1])),
      bA: tf.keep(gateVector(hidden, [0, 0, 2, 0])),
      // Backward factors per gate: ∂c/∂i = g = (2g)/2, ∂c/∂f = c₋₁ = (2c₋₁)/2, ∂c/∂(σ_g) = 2i, ∂h/∂o = tanh(c).
      mP: tf.keep(gateVector(hidden, [0.5, 0.5, 2, 1])),
      one: tf.keep(tf.scalar(1)),
      two: tf.keep(tf.scalar(2)),
    }));
    constants.set(key, c);
  }
  return c;
}

function tapeIsRecording(): boolean {
  // Inside an op the engine's own isTapeOn() is false, so read the gradient depth: it is > 0 only while
  // tf.grads / optimizer.minimize record a forward pass. Without it the training-only products are skipped.
  const state = (tf.engine() as unknown as { state?: { gradientDepth?: number } }).state;
  return state?.gradientDepth === undefined ? true : state.gradientDepth > 0;
}

interface Forward {
  value: tf.Tensor;
  saved: tf.Tensor[];
}

function forward(x: tf.Tensor3D, wx: tf.Tensor2D, wh: tf.Tensor2D, b: tf.Tensor1D, returnSequences: boolean, training: boolean): Forward {
  const [B, T, C] = x.shape;
  const H = wh.shape[0];
  const G = 4 * H;
  const cst = constantsFor(H);
  const k = new KernelScope();
  try {
    const wxs = k.mul(wx, cst.m);
    const whs = k.mul(wh, cst.m);
    const xp = k.reshape(k.matMulBias(k.reshape(x, [B * T, C]), wxs, k.mul(b, cst.m)), [B, T, G]);
    const zeros = training ? k.fill([B, H], 0) : null;
    const hs: tf.TensorInfo[] = [];
    const Ks: tf.TensorInfo[] = [];
    const Fs: tf.TensorInfo[] = [];
    const Ps: tf.TensorInfo[] = [];
    let h: tf.TensorInfo | null = null;
    let c2: tf.TensorInfo | null = null;
    for (let t = 0; t < T; t++) {
      const xt = k.reshape(k.slice(xp, [0, t, 0], [B, 1, G]), [B, G]);
      const z = h === null ? xt : k.add(xt, k.matMul(h, whs));
      const s = k.sigmoid(z);
      const [i, f, g2, o] = k.split(k.sub(k.mul(s, cst.mA), cst.bA), 4, 1);
      const ig = k.mul(i, g2);
      const c2Prev: tf.TensorInfo | null = c2;
      c2 = c2Prev === null ? ig : k.add(k.mul(f, c2Prev), ig);
      const tc = k.sub(k.mul(k.sigmoid(c2), cst.two), cst.one);
      h = k.mul(o, tc);
      hs.push(k.reshape(h, [B, 1, H]));
      if (training) {
        // K = ∂h/∂c = o·(1 − tanh²c); P = ∂a/∂z′ times the per-gate factors of `mP` (see backward).
        Ks.push(k.mul(o, k.sub(cst.one, k.square(tc))));
        Fs.push(f);
        const sd = k.mul(k.sub(s, k.square(s)), cst.mP);
        Ps.push(k.mul(k.concat([g2, c2Prev ?? zeros!, i, tc], 1), sd));
      }
    }
    const all = k.concat(hs, 1);
    const value = k.toTensor(returnSequences ? all : h!);
    if (!training) return { value, saved: [] };
    // A second handle on the hidden states (reshape shares the buffer): the first one went out as `value`.
    const saved = [wxs, whs, k.reshape(all, [B, T, H]), k.concat(Ks, 0), k.concat(Fs, 0), k.concat(Ps, 0)].map((t) => k.toTensor(t));
    return { value, saved };
  } finally {
    k.dispose();
  }
}

function backward(dy: tf.Tensor, x: tf.Tensor3D, saved: tf.Tensor[], returnSequences: boolean): tf.Tensor[] {
  const [wxs, whs, all, Kall, Fall, Pall] = saved;
  const [B, T, C] = x.shape;
  const H = whs.shape[0];
  const G = 4 * H;
  const cst = constantsFor(H);
  const k = new KernelScope();
  try {
    // Untransposed operands throughout: transposed matMuls leave XNNPACK's fast path on wasm (wasm-matmul.ts).
    const whsT = k.transpose(whs, [1, 0]);
    const dzs: tf.TensorInfo[] = new Array(T);
    let dzNext: tf.TensorInfo | null = null;
    let dcNext: tf.TensorInfo | null = null;
    for (let t = T - 1; t >= 0; t--) {
      const dyT = returnSequences ? k.reshape(k.slice(dy, [0, t, 0], [B, 1, H]), [B, H]) : t === T - 1 ? dy : null;
      const dRec = dzNext === null ? null : k.matMul(dzNext, whsT);
      const dh = dRec === null ? dyT! : dyT === null ? dRec : k.add(dyT, dRec);
      let dc = k.mul(dh, k.slice(Kall, [t * B, 0], [B, H]));
      if (dcNext !== null) dc = k.add(dc, dcNext);
      const dz = k.mul(k.concat([dc, dc, dc, dh], 1), k.slice(Pall, [t * B, 0], [B, G]));
      dzs[t] = k.reshape(dz, [B, 1, G]);
      if (t > 0) dcNext = k.mul(dc, k.slice(Fall, [t * B, 0], [B, H]));
      dzNext = dz;
    }
    const dZ = k.reshape(k.concat(dzs, 1), [B * T, G]);
    // Weight gradients as ∂wᵀ = ∂Zᵀ·X: XNNPACK packs a matMul's right operand, and packing the fresh
    // [B·T, 4H] ∂Z cost more than transposing it (38 ms against 11 ms at [6144, 256]); X, H₋₁ and a ones
    // column pack cheaply.
    const dZT = k.transpose(dZ, [1, 0]);
    const hPrev = k.concat([k.fill([B, 1, H], 0), k.slice(all, [0, 0, 0], [B, T - 1, H])], 1);
    // The forward pass used m-scaled weights: ∂L/∂w = m ⊙ ∂L/∂(m ⊙ w).
    const dWx = k.mul(k.transpose(k.matMul(dZT, k.reshape(x, [B * T, C])), [1, 0]), cst.m);
    const dWh = k.mul(k.transpose(k.matMul(dZT, k.reshape(hPrev, [B * T, H])), [1, 0]), cst.m);
    const db = k.mul(k.reshape(k.matMul(dZT, k.fill([B * T, 1], 1)), [G]), cst.m);
    const dx = k.reshape(k.matMul(dZ, k.transpose(wxs, [1, 0])), [B, T, C]);
    return [dx, dWx, dWh, db].map((t) => k.toTensor(t));
  } finally {
    k.dispose();
  }
}

function makeOp(returnSequences: boolean) {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, wx, wh, b] = args as [tf.Tensor3D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
    const save = args[4] as tf.GradSaveFunc;
    const fw = forward(x, wx, wh, b, returnSequences, tapeIsRecording());
    // `save` keeps tensors only while a tape records; otherwise the (empty) list is dropped.
    save([x, ...fw.saved]);
    return {
      value: fw.value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => backward(dy, saved[0] as tf.Tensor3D, saved.slice(1), returnSequences),
    };
  });
}

const sequenceOp = makeOp(true);
const lastOp = makeOp(false);

/**
 * One LSTM layer: x [B, T, C] → all hidden states [B, T, H] (`returnSequences`) or the last one [B, H].
 * Differentiable in x, wx, wh and b.
 */
export function lstmLayer(x: tf.Tensor3D, wx: tf.Tensor2D, wh: tf.Tensor2D, b: tf.Tensor1D, returnSequences: boolean): tf.Tensor {
  if (torchActive()) return torchLstm(x, wx, wh, b, returnSequences);
  return (returnSequences ? sequenceOp : lastOp)(x, wx, wh, b);
}

/**
 * The textbook computation with ordinary tf ops (tanh and sigmoid kernels, autodiff gradients): the
 * reference the fused op is tested against, and the `lstm-autodiff` bench case.
 */
export function lstmReference(x: tf.Tensor3D, wx: tf.Tensor2D, wh: tf.Tensor2D, b: tf.Tensor1D, returnSequences: boolean): tf.Tensor {
  return tf.tidy(() => {
    const [B, T, C] = x.shape;
    const H = wh.shape[0];
    const xp = tf.add(tf.matMul(x.reshape([B * T, C]), wx), b).reshape([B, T, 4 * H]);
    const steps = tf.unstack(xp, 1) as tf.Tensor2D[];
    let h: tf.Tensor2D = tf.zeros([B, H]);
    let c: tf.Tensor2D = tf.zeros([B, H]);
    const hs: tf.Tensor2D[] = [];
    for (let t = 0; t < T; t++) {
      const z = tf.add(steps[t], tf.matMul(h, wh));
      const [zi, zf, zg, zo] = tf.split(z, 4, 1);
      c = tf.add(tf.mul(tf.sigmoid(zf), c), tf.mul(tf.sigmoid(zi), tf.tanh(zg))) as tf.Tensor2D;
      h = tf.mul(tf.sigmoid(zo), tf.tanh(c)) as tf.Tensor2D;
      hs.push(h);
    }
    return returnSequences ? tf.stack(hs, 1) : h;
  });
}
