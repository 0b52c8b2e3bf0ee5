import * as tf from '@tensorflow/tfjs';

/**
 * One LSTM layer over a whole sequence as a single differentiable op with a hand-written backward pass
 * (backpropagation through time).
 *
 * Layout: x is time-major [T, B, C]; weights are wx [C, 4H], wh [H, 4H], b [4H] with the gates in the
 * Keras order i, f, g (cell candidate), o; the output is every hidden state, [T, B, H]. Gates use the
 * logistic sigmoid, the candidate and the cell output tanh (Hochreiter & Schmidhuber 1997 with the forget
 * gate of Gers et al. 2000), as PyTorch and Keras with `recurrent_activation='sigmoid'` do.
 *
 * Why hand-written: tfjs's autodiff of a step loop records every slice, activation and product of every
 * step on the tape and replays each gradient as separate kernels; on the wasm backend the per-kernel cost,
 * not the arithmetic, dominates at these sizes. Here the x-projection of all steps is one matMul, a step
 * is one matMul plus one sigmoid over all four gates, and the backward pass does one matMul per step,
 * deferring the weight gradients to three matMuls over all steps at once.
 *
 * The sigmoid covers the candidate too: tanh(z) = 2·σ(2z) − 1, so the g-columns of the weights are
 * doubled on the way in (`GATE_SCALE`) and σ of all 4H pre-activations is one kernel.
 */

function gateScale(hidden: number): tf.Tensor1D {
  const m = new Float32Array(4 * hidden).fill(1);
  m.fill(2, 2 * hidden, 3 * hidden);
  return tf.tensor1d(m);
}

interface StepState {
  /** σ of all four gates' scaled pre-activations, [B, 4H]. */
  s: tf.Tensor2D;
  i: tf.Tensor2D;
  f: tf.Tensor2D;
  g: tf.Tensor2D;
  o: tf.Tensor2D;
  c: tf.Tensor2D;
  tc: tf.Tensor2D;
  h: tf.Tensor2D;
}

function forward(x: tf.Tensor3D, wx: tf.Tensor2D, wh: tf.Tensor2D, b: tf.Tensor1D, keepSteps: boolean) {
  const [T, B, C] = x.shape;
  const H = wh.shape[0];
  const m = gateScale(H);
  const wxs = wx.mul(m) as tf.Tensor2D;
  const whs = wh.mul(m) as tf.Tensor2D;
  const xp = tf.fused.matMul({ a: x.reshape([T * B, C]), b: wxs, bias: b.mul(m) });
  const xps = tf.split(xp, T, 0) as tf.Tensor2D[];
  const steps: StepState[] = [];
  const hs: tf.Tensor2D[] = [];
  let h: tf.Tensor2D | null = null;
  let c: tf.Tensor2D | null = null;
  for (let t = 0; t < T; t++) {
    const z: tf.Tensor2D = h === null ? xps[t] : tf.add(xps[t], tf.matMul(h, whs));
    const s = tf.sigmoid(z);
    const [i, f, gs, o] = tf.split(s, 4, 1) as tf.Tensor2D[];
    const g = gs.mul(2).sub(1) as tf.Tensor2D;
    const ig = tf.mul(i, g) as tf.Tensor2D;
    c = c === null ? ig : (tf.add(tf.mul(f, c), ig) as tf.Tensor2D);
    const tc = tf.tanh(c);
    h = tf.mul(o, tc) as tf.Tensor2D;
    hs.push(h);
    if (keepSteps) steps.push({ s, i, f, g, o, c, tc, h });
  }
  return { value: tf.stack(hs) as tf.Tensor3D, wxs, whs, m, steps };
}

function backward(
  dy: tf.Tensor3D,
  x: tf.Tensor3D,
  wxs: tf.Tensor2D,
  whs: tf.Tensor2D,
  m: tf.Tensor1D,
  steps: StepState[],
): tf.Tensor[] {
  const [T, B, C] = x.shape;
  const H = whs.shape[0];
  const dys = tf.unstack(dy) as tf.Tensor2D[];
  // Plain (untransposed) operands: transposed matMuls leave XNNPACK's fast path on wasm (see wasm-matmul.ts).
  const whsT = tf.transpose(whs) as tf.Tensor2D;
  const dzs: tf.Tensor2D[] = new Array(T);
  let dhNext: tf.Tensor2D | null = null;
  let dcNext: tf.Tensor2D | null = null;
  for (let t = T - 1; t >= 0; t--) {
    const { s, i, f, g, o, tc } = steps[t];
    const dh: tf.Tensor2D = dhNext === null ? dys[t] : tf.add(dys[t], dhNext);
    const dO = tf.mul(dh, tc);
    let dc = tf.mul(tf.mul(dh, o), tf.sub(1, tf.square(tc))) as tf.Tensor2D;
    if (dcNext !== null) dc = tf.add(dc, dcNext);
    const dI = tf.mul(dc, g);
    // g = 2·gs − 1, so ∂g/∂gs = 2.
    const dGs = tf.mul(dc, i).mul(2);
    const dF = t > 0 ? tf.mul(dc, steps[t - 1].c) : tf.zerosLike(dc);
    const ds = tf.concat([dI, dF, dGs, dO], 1);
    const dz = tf.mul(ds, tf.mul(s, tf.sub(1, s))) as tf.Tensor2D;
    dzs[t] = dz;
    if (t > 0) {
      dcNext = tf.mul(dc, f) as tf.Tensor2D;
      dhNext = tf.matMul(dz, whsT) as tf.Tensor2D;
    }
  }
  const dZ = tf.concat(dzs, 0) as tf.Tensor2D; // [T·B, 4H], time-major like the forward pass
  const x2 = x.reshape([T * B, C]) as tf.Tensor2D;
  const hPrev = tf.concat([tf.zeros([B, H]), ...steps.slice(0, T - 1).map((st) => st.h)], 0) as tf.Tensor2D;
  const dWxs = tf.matMul(tf.transpose(x2), dZ);
  const dWhs = tf.matMul(tf.transpose(hPrev), dZ);
  const dbs = tf.sum(dZ, 0);
  const dx = tf.matMul(dZ, tf.transpose(wxs)).reshape([T, B, C]);
  // The forward pass used m-scaled weights: ∂L/∂w = m ⊙ ∂L/∂w_scaled.
  return [dx, dWxs.mul(m), dWhs.mul(m), dbs.mul(m)];
}

const STEP_KEYS = ['s', 'i', 'f', 'g', 'o', 'c', 'tc', 'h'] as const;

const fusedLstm = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, wx, wh, b] = args as [tf.Tensor3D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
  const save = args[4] as tf.GradSaveFunc;
  const fw = forward(x, wx, wh, b, true);
  // `save` keeps tensors only while a gradient tape is recording; otherwise the step states die with the op.
  save([x, fw.wxs, fw.whs, fw.m, ...fw.steps.flatMap((st) => STEP_KEYS.map((k) => st[k]))]);
  return {
    value: fw.value,
    gradFunc: (dy: tf.Tensor3D, saved: tf.Tensor[]) => {
      const [sx, swxs, swhs, sm, ...flat] = saved;
      const steps: StepState[] = [];
      for (let k = 0; k < flat.length; k += STEP_KEYS.length) {
        const st = {} as Record<(typeof STEP_KEYS)[number], tf.Tensor2D>;
        STEP_KEYS.forEach((key, j) => (st[key] = flat[k + j] as tf.Tensor2D));
        steps.push(st);
      }
      return backward(dy, sx as tf.Tensor3D, swxs as tf.Tensor2D, swhs as tf.Tensor2D, sm as tf.Tensor1D, steps);
    },
  };
});

/** All hidden states of one LSTM layer: x [T, B, C] → [T, B, H]; differentiable in x, wx, wh and b. */
export function lstmLayer(x: tf.Tensor3D, wx: tf.Tensor2D, wh: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor3D {
  return fusedLstm(x, wx, wh, b) as tf.Tensor3D;
}

/** The same computation written with ordinary ops, differentiated by tfjs's autodiff (tests, benchmark). */
export function lstmLayerAutodiff(x: tf.Tensor3D, wx: tf.Tensor2D, wh: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor3D {
  return tf.tidy(() => forward(x, wx, wh, b, false).value);
}
