/** A libtorch tensor held by the addon, addressed by a small integer. */
export type Handle = number;
type Ints = number | readonly number[];

export interface TorchNative {
  /** The calling convention's version (raised whenever a function's arguments change); absent in the first builds. */
  abi?: number;
  /** The buffer each tensor-making call writes its result's [dtype code, rank, ...shape] into (≥ 10 entries). */
  SetMeta(meta: Int32Array): void;
  FromArray(values: Float32Array | Int32Array | Uint8Array, shape: readonly number[], dtype: number): Handle;
  ToArray(h: Handle): Float32Array | Int32Array | Uint8Array;
  Free(h: Handle): void;
  Live(): number;
  Clone(h: Handle): Handle;
  UnaryOp(code: number, x: Handle, alpha?: number): Handle;
  BinaryOp(code: number, a: Handle, b: Handle): Handle;
  Cast(x: Handle, dtype: number): Handle;
  AddN(xs: Handle[]): Handle;
  Select(condition: Handle, a: Handle, b: Handle): Handle;
  ClipByValue(x: Handle, min: number, max: number): Handle;
  MatMul(a: Handle, b: Handle, transposeA: boolean, transposeB: boolean): Handle;
  FusedMatMul(a: Handle, b: Handle, bias: Handle | null, transposeA: boolean, transposeB: boolean, activation: number, alpha: number): Handle;
  ReduceOp(code: number, x: Handle, axes: Ints, keepDims: boolean): Handle;
  Softmax(x: Handle, dim: number): Handle;
  LogSoftmax(x: Handle, dim: number): Handle;
  Reshape(x: Handle, shape: readonly number[]): Handle;
  Transpose(x: Handle, perm: readonly number[]): Handle;
  Slice(x: Handle, begin: readonly number[], size: readonly number[]): Handle;
  StridedSlice(x: Handle, begin: readonly number[], end: readonly number[], strides: readonly number[], outShape: readonly number[]): Handle;
  Concat(xs: Handle[], axis: number): Handle;
  Split(x: Handle, sizes: readonly number[], axis: number): Handle[];
  Unpack(x: Handle, axis: number): Handle[];
  Stack(xs: Handle[], axis: number): Handle;
  /** paddings flattened as [before_0, after_0, before_1, after_1, ...]. */
  Pad(x: Handle, paddings: readonly number[], value: number): Handle;
  Fill(shape: readonly number[], value: number, dtype: number): Handle;
  Range(start: number, stop: number, step: number, dtype: number): Handle;
  Tile(x: Handle, reps: readonly number[]): Handle;
  Reverse(x: Handle, dims: readonly number[]): Handle;
  Gather(x: Handle, indices: Handle, axis: number): Handle;
  OneHot(indices: Handle, depth: number, on: number, off: number, dtype: number): Handle;
  /** dropout(act(x·W + b)) with activation 0 (linear) or 1 (relu), dropout.ts's mask for (rate, seed) when rate > 0. */
  Linear(x: Handle, w: Handle, b: Handle, activation: number, rate: number, seed: number): Handle;
  /** [dx, dW, db] of act(x·W + b), given its output y and the upstream gradient dy. */
  LinearBackward(x: Handle, w: Handle, y: Handle, dy: Handle, activation: number, rate: number, seed: number): Handle[];
  /** Adam for all parameters: tensors [w…, g…, m…, v…, β1ᵗ, β2ᵗ] → fresh [w'…, m'…, v'…]. */
  AdamStep(tensors: Handle[], beta1: number, beta2: number, learningRate: number, epsilon: number): Handle[];
  /** One LSTM layer: [output, hs, cs, tanh(cs), gates] (output all hidden states or the last; the rest time-major). */
  LstmForward(x: Handle, wx: Handle, wh: Handle, b: Handle, sequences: boolean): Handle[];
  /** [dx, dwx, dwh, db] from the upstream gradient and LstmForward's saved hs, cs, tanh(cs), gates. */
  LstmBackward(dy: Handle, x: Handle, wx: Handle, wh: Handle, hs: Handle, cs: Handle, tcs: Handle, gates: Handle, sequences: boolean): Handle[];
  /** Causal dilated convolution on time-major rows holding `inSteps`, output rows for `outSteps` (activation 0/1). */
  CausalConv(x: Handle, kernel: Handle, bias: Handle, inSteps: readonly number[], outSteps: readonly number[], kernelSize: number, dilation: number, activation: number): Handle;
  /** [dx, dkernel, dbias] of CausalConv from its output y and the upstream gradient dy. */
  CausalConvBackward(x: Handle, kernel: Handle, y: Handle, dy: Handle, inSteps: readonly number[], outSteps: readonly number[], kernelSize: number, dilation: number, activation: number): Handle[];
  /**
   * The TCN's convolution on channels-first x [B, C, T]: y = dropout(act(causal conv(x, w) + b)) [B, F, T], w = v or its
   * weight normalization by g (handle, or -1 for none); the dropout mask drawn over the time-major steps `maskSteps`.
   * Returns [y], or [relu(y + residual), y] with a residual (handle, or -1 for none).
   */
  TcnConv(x: Handle, v: Handle, g: Handle, b: Handle, residual: Handle, kernelSize: number, dilation: number, activation: number, rate: number, seed: number, maskSteps: readonly number[]): Handle[];
  /**
   * [dx, dv, db], or [dx, dv, dg, db] when weight-normalized, then the residual's gradient when there was one, of
   * TcnConv from its output y (and the block's output `out`, else -1) and the upstream gradient of its first output.
   */
  TcnConvBackward(x: Handle, v: Handle, g: Handle, y: Handle, out: Handle, dy: Handle, kernelSize: number, dilation: number, activation: number, rate: number, seed: number, maskSteps: readonly number[], inputGradient: number): Handle[];
  /** Layer normalization over the last axis (ε 1e-5): [y, mean, rstd]. */
  LayerNorm(x: Handle, gamma: Handle, beta: Handle): Handle[];
  /** [dx, dgamma, dbeta] of LayerNorm. */
  LayerNormBackward(dy: Handle, x: Handle, mean: Handle, rstd: Handle, gamma: Handle, beta: Handle): Handle[];
  /** The mask of src/models/layers/dropout.ts for (shape, rate, seed), bit for bit. */
  DropoutMask(shape: readonly number[], rate: number, seed: number): Handle;
  SetThreads(n: number): void;
  Info(): { torchVersion: string; threads: number; parallel: string; config: string };
}

export const native: TorchNative;
export const UNARY: Readonly<Record<string, number>>;
export const BINARY: Readonly<Record<string, number>>;
export const REDUCE: Readonly<Record<'Sum' | 'Mean' | 'Max' | 'Min' | 'Prod' | 'Any' | 'All' | 'ArgMax' | 'ArgMin', number>>;
export const ACTIVATION: Readonly<Record<'linear' | 'relu' | 'sigmoid' | 'elu' | 'relu6' | 'leakyrelu' | 'tanh', number>>;
export const DTYPE: Readonly<Record<'float32' | 'int32' | 'bool', number>>;
export function loadedBlas(): { name: 'openblas' | 'mkl' | 'reference' | 'unknown'; path: string | null };
