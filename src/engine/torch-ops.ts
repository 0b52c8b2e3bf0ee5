import * as tf from '@tensorflow/tfjs';

import { TORCH_BACKEND } from './torch-backend.js';

/**
 * The project's fused ops as single native kernels on the torch backend (registered in torch-backend.ts).
 * The portable versions in src/models/layers/ call these when torch is the active backend; their results agree
 * to float32 rounding (tests/torch-backend.test.ts checks values and gradients against the cpu backend).
 */

export function torchActive(): boolean {
  return tf.getBackend() === TORCH_BACKEND;
}

function recording(): boolean {
  // Inside an op the engine's isTapeOn() is false; the gradient depth is > 0 only while tf.grads / minimize record.
  const state = (tf.engine() as unknown as { state?: { gradientDepth?: number } }).state;
  return state?.gradientDepth === undefined ? true : state.gradientDepth > 0;
}

type Activation = 'linear' | 'relu';

function makeDense(attrs: { activation: Activation; rate: number; seed: number }) {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, w, b] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
    const save = args[3] as tf.GradSaveFunc;
    const y = tf.engine().runKernel('TorchLinear', { x, w, b }, attrs) as tf.Tensor2D;
    const restore = saveForGradient(save, [x, w, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sw, sy] = restore(saved);
        return tf.engine().runKernel('TorchLinearGrad', { x: sx!, w: sw!, y: sy!, dy }, attrs) as tf.Tensor[];
      },
    };
  });
}

const denseOps = { linear: makeDense({ activation: 'linear', rate: 0, seed: 0 }), relu: makeDense({ activation: 'relu', rate: 0, seed: 0 }) };

/**
 * dropout(activation(x·W + b)) as one addmm (and the mask, drawn natively), its gradient as one native kernel; with
 * ReLU the backward pass needs no mask (see addon.cc LinearBackward).
 */
export function torchDense(x: tf.Tensor2D, kernel: tf.Tensor2D, bias: tf.Tensor1D, activation: Activation, dropout?: { rate: number; seed: number }): tf.Tensor2D {
  const op = dropout === undefined || dropout.rate <= 0 ? denseOps[activation] : makeDense({ activation, rate: dropout.rate, seed: dropout.seed | 0 });
  return op(x, kernel, bias) as tf.Tensor2D;
}

function makeLstm(sequences: boolean) {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, wx, wh, b] = args as tf.Tensor[];
    const save = args[4] as tf.GradSaveFunc;
    const [value, hs, cs, tcs, gates] = tf.engine().runKernel('TorchLstm', { x: x!, wx: wx!, wh: wh!, b: b! }, { sequences }) as tf.Tensor[];
    if (recording()) save([x!, wx!, wh!, hs!, cs!, tcs!, gates!]);
    else {
      tf.dispose([hs!, cs!, tcs!, gates!]);
      save([]);
    }
    return {
      value: value!,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, swx, swh, shs, scs, stcs, sgates] = saved;
        return tf.engine().runKernel('TorchLstmGrad', { dy, x: sx!, wx: swx!, wh: swh!, hs: shs!, cs: scs!, tcs: stcs!, gates: sgates! }, { sequences }) as tf.Tensor[];
      },
    };
  });
}

const lstmOps = { sequences: makeLstm(true), last: makeLstm(false) };

/** One LSTM layer, forward and backpropagation through time each one native kernel. */
export function torchLstm(x: tf.Tensor3D, wx: tf.Tensor2D, wh: tf.Tensor2D, b: tf.Tensor1D, returnSequences: boolean): tf.Tensor {
  return (returnSequences ? lstmOps.sequences : lstmOps.last)(x, wx, wh, b);
}

const convOps = new Map<string, ReturnType<typeof tf.customGrad>>();

/**
 * Causal dilated convolution on time-major rows (see src/models/layers/causal-conv.ts for the layout): one
 * at::conv1d over the full time axis, the output steps picked; its gradient one at::convolution_backward.
 */
export function torchCausalConv(
  x: tf.Tensor2D,
  inSteps: number[],
  outSteps: number[],
  kernel: tf.Tensor2D,
  bias: tf.Tensor1D,
  kernelSize: number,
  dilation: number,
  activation: Activation,
): tf.Tensor2D {
  const key = `${inSteps.join(',')}/${outSteps.join(',')}/${kernelSize}/${dilation}/${activation}`;
  let op = convOps.get(key);
  if (op === undefined) {
    const attrs = { inSteps, outSteps, kernelSize, dilation, activation };
    op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [sx, sk, sb] = args as tf.Tensor[];
      const save = args[3] as tf.GradSaveFunc;
      const y = tf.engine().runKernel('TorchCausalConv', { x: sx!, kernel: sk!, bias: sb! }, attrs) as tf.Tensor;
      save([sx!, sk!, y]);
      return {
        value: y,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [gx, gk, gy] = saved;
          return tf.engine().runKernel('TorchCausalConvGrad', { x: gx!, kernel: gk!, y: gy!, dy }, attrs) as tf.Tensor[];
        },
      };
    });
    convOps.set(key, op);
  }
  return op(x, kernel, bias) as tf.Tensor2D;
}

/** What the TCN's channels-first convolution does besides convolving (see src/models/layers/tcn-conv.ts). */
export interface TcnConvOptions {
  kernelSize: number;
  dilation: number;
  activation: Activation;
  /** Dropout after the activation, its mask drawn over the time-major steps `steps` (rate 0: none). */
  dropout?: { rate: number; seed: number; steps: number[] };
  /**
   * false: no gradient flows to x (the model's data input in training), so the backward pass skips it. Its gradient
   * is then an empty placeholder, which the engine rejects by shape should anything ask for it.
   */
  inputGradient?: boolean;
}

/**
 * customGrad's save() copies each tensor (an engine Identity kernel, ~10 µs on torch) so that it outlives the
 * forward pass's tidy scopes. Variables outlive them anyway: they are kept by reference, the rest saved.
 * Returns the function that puts the saved tensors back in the order given.
 */
function saveForGradient(save: tf.GradSaveFunc, tensors: tf.Tensor[]): (saved: tf.Tensor[]) => tf.Tensor[] {
  const byReference = tensors.map((t) => (t instanceof tf.Variable ? t : null));
  save(tensors.filter((_, i) => byReference[i] === null));
  return (saved) => {
    let next = 0;
    return byReference.map((t) => t ?? saved[next++]!);
  };
}

/**
 * The TCN's convolution on channels-first [B, C, T] activations, weight norm, dropout and the residual block's
 * relu(y + residual) included: one native kernel forward (pad + at::conv1d), one backward
 * (at::convolution_backward); the backward pass needs no dropout mask (see addon.cc TcnConvBackward).
 */
export function torchTcnConv(x: tf.Tensor3D, v: tf.Tensor2D, g: tf.Tensor1D | null, b: tf.Tensor1D, options: TcnConvOptions, residual?: tf.Tensor3D): tf.Tensor3D {
  const drop = options.dropout !== undefined && options.dropout.rate > 0 ? options.dropout : { rate: 0, seed: 0, steps: [] };
  const attrs = {
    kernelSize: options.kernelSize,
    dilation: options.dilation,
    activation: options.activation,
    rate: drop.rate,
    seed: drop.seed | 0,
    maskSteps: drop.steps,
    inputGradient: options.inputGradient ?? true,
  };
  const optional = { ...(g ? { g } : {}), ...(residual ? { residual } : {}) };
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.at(-1) as tf.GradSaveFunc;
    const [sx, sv, sb] = args as tf.Tensor[];
    const named = { x: sx!, v: sv!, b: sb!, ...(g ? { g: args[3] as tf.Tensor } : {}), ...(residual ? { residual: args[g ? 4 : 3] as tf.Tensor } : {}) };
    const [first, y] = tf.engine().runKernel('TorchTcnConv', named, attrs) as tf.Tensor[];
    // With a residual the kernel returns the block's output and the convolution's y; the gradient needs both.
    const restore = saveForGradient(save, [sx!, sv!, y ?? first!, ...(g ? [named.g!] : []), ...(y ? [first!] : [])]);
    return {
      value: first!,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [gx, gv, gy, ...rest] = restore(saved);
        const inputs = { x: gx!, v: gv!, y: gy!, dy, ...(g ? { g: rest[0]! } : {}), ...(residual ? { out: rest.at(-1)! } : {}) };
        // The kernel returns [dx, dv, (dg,) db, (dresidual)]; customGrad wants the inputs' order x, v, b, (g), (residual).
        const [dx, dv, ...more] = tf.engine().runKernel('TorchTcnConvGrad', inputs, attrs) as tf.Tensor[];
        const dg = g ? more.shift()! : null;
        const [db, dr] = more;
        return [dx!, dv!, db!, ...(dg ? [dg] : []), ...(dr ? [dr] : [])];
      },
    };
  });
  return op(x, v, b, ...Object.values(optional)) as tf.Tensor3D;
}

const layerNormOp = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, gamma, beta] = args as tf.Tensor[];
  const save = args[3] as tf.GradSaveFunc;
  const [y, mean, rstd] = tf.engine().runKernel('TorchLayerNorm', { x: x!, gamma: gamma!, beta: beta! }) as tf.Tensor[];
  save([x!, mean!, rstd!, gamma!, beta!]);
  return {
    value: y!,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, smean, srstd, sgamma, sbeta] = saved;
      return tf.engine().runKernel('TorchLayerNormGrad', { dy, x: sx!, mean: smean!, rstd: srstd!, gamma: sgamma!, beta: sbeta! }) as tf.Tensor[];
    },
  };
});

/** Layer normalization over the last axis (ε 1e-5) by ATen's native_layer_norm and its backward. */
export function torchLayerNorm<T extends tf.Tensor>(x: T, gamma: tf.Tensor1D, beta: tf.Tensor1D): T {
  return layerNormOp(x, gamma, beta) as T;
}

/** The mask of src/models/layers/dropout.ts made natively (the same bits; the JS loop cost ~1.5 ms per [256, 24, 32]). */
export function torchDropoutMask(shape: number[], rate: number, seed: number): tf.Tensor {
  return tf.engine().runKernel('TorchDropoutMask', {}, { shape, rate, seed }) as tf.Tensor;
}

interface AdamInternals {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: ({ originalName: string; variable: tf.Variable } | undefined)[];
  accumulatedSecondMoment: ({ originalName: string; variable: tf.Variable } | undefined)[];
  incrementIterations(): void;
}

type NamedGradient = { name: string; tensor: tf.Tensor };

let adamInstalled = false;

/**
 * Adam's update of all parameters as one native kernel per step on the torch backend (tfjs runs about ten kernels
 * per parameter). The same arithmetic in the same float32 order as tfjs's AdamOptimizer, whose state (moments,
 * β powers, iterations) it keeps, so checkpoints and `getWeights` are unchanged. Other backends, and gradient
 * maps with missing entries, take tfjs's own path.
 */
export function installTorchAdam(): void {
  if (adamInstalled) return;
  adamInstalled = true;
  const proto = tf.AdamOptimizer.prototype as unknown as { applyGradients(g: tf.NamedTensorMap | NamedGradient[]): void };
  const original = proto.applyGradients;
  proto.applyGradients = function (this: AdamInternals, variableGradients: tf.NamedTensorMap | NamedGradient[]): void {
    const names = Array.isArray(variableGradients) ? variableGradients.map((v) => v.name) : Object.keys(variableGradients);
    const gradients = names.map((name, i) => (Array.isArray(variableGradients) ? variableGradients[i]!.tensor : variableGradients[name]));
    if (!torchActive() || gradients.some((g) => g == null)) return original.call(this, variableGradients);
    const registered = tf.engine().registeredVariables;
    const values = names.map((name) => registered[name]!);
    tf.tidy(() => {
      values.forEach((value, i) => {
        this.accumulatedFirstMoment[i] ??= { originalName: `${names[i]}/m`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        this.accumulatedSecondMoment[i] ??= { originalName: `${names[i]}/v`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
      });
      const m = this.accumulatedFirstMoment.slice(0, names.length).map((e) => e!.variable);
      const v = this.accumulatedSecondMoment.slice(0, names.length).map((e) => e!.variable);
      const inputs = [...values, ...(gradients as tf.Tensor[]), ...m, ...v, this.accBeta1, this.accBeta2];
      const out = tf.engine().runKernel('TorchAdam', inputs as unknown as tf.NamedTensorMap, {
        beta1: this.beta1,
        beta2: this.beta2,
        learningRate: this.learningRate,
        epsilon: this.epsilon,
      }) as tf.Tensor[];
      const n = names.length;
      values.forEach((value, i) => {
        value.assign(out[i]!);
        m[i]!.assign(out[n + i]!);
        v[i]!.assign(out[2 * n + i]!);
      });
      this.accBeta1.assign(tf.mul(this.accBeta1, this.beta1));
      this.accBeta2.assign(tf.mul(this.accBeta2, this.beta2));
    });
    this.incrementIterations();
  };
}
