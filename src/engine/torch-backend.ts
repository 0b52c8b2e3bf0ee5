import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';

import { installTorchAdam } from './torch-ops.js';
import type { Handle, TorchNative } from '../../packages/tfjs-backend-torch/index.cjs';

type TorchModule = typeof import('../../packages/tfjs-backend-torch/index.cjs');

/**
 * A TensorFlow.js backend whose tensors live in libtorch (the `tfjs-backend-torch` addon, an optional
 * dependency built at install against Debian's libtorch-dev) and whose kernels call ATen.
 *
 * Each tfjs DataId maps to one addon handle. Every kernel makes fresh handles (reshapes and slices are ATen
 * views of their input's storage, which is safe because nothing writes a tensor after it is made); the
 * addon writes each result's dtype and shape into a shared buffer, so a kernel is one native call.
 */

export const TORCH_BACKEND = 'torch';

/** The addon's calling convention this code speaks (addon.cc `abi`; 2: dense takes dropout, the TCN convolution; 3: the TCN convolution's backward may skip the input gradient). */
const TORCH_ADDON_ABI = 3;

const DTYPES = ['float32', 'int32', 'bool'] as const;

interface Entry {
  handle: Handle;
  refCount: number;
}

function dtypeCode(dtype: tf.DataType): number {
  const code = (DTYPES as readonly string[]).indexOf(dtype);
  if (code < 0) throw new Error(`torch backend: dtype ${dtype} is not supported (float32, int32, bool)`);
  return code;
}

export class TorchBackend extends tf.KernelBackend {
  private readonly entries = new Map<tf.DataId, Entry>();
  private readonly meta = new Int32Array(10);

  constructor(readonly native: TorchNative) {
    super();
    native.SetMeta(this.meta);
  }

  // --- storage ---

  handleOf(t: tf.TensorInfo): Handle {
    const e = this.entries.get(t.dataId);
    if (e === undefined) throw new Error('torch backend: tensor data not held by this backend (disposed or on another backend)');
    return e.handle;
  }

  /** Wraps a handle the addon just returned as a TensorInfo (its dtype and shape are in `meta`). */
  wrap(handle: Handle): tf.TensorInfo {
    const m = this.meta;
    const rank = m[1];
    const shape = new Array<number>(rank);
    for (let i = 0; i < rank; i++) shape[i] = m[2 + i];
    const dataId = {};
    this.entries.set(dataId, { handle, refCount: 1 });
    return { dataId, shape, dtype: DTYPES[m[0]] };
  }

  /** Wraps several handles; their shapes are read back one by one (the meta buffer holds only the last). */
  wrapAll(handles: Handle[]): tf.TensorInfo[] {
    return handles.map((h) => {
      const probe = this.native.Clone(h);
      this.native.Free(h);
      return this.wrap(probe);
    });
  }

  override write(values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType): tf.DataId {
    const dataId = {};
    this.move(dataId, values, shape, dtype, 1);
    return dataId;
  }

  override move(dataId: tf.DataId, values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType, refCount: number): void {
    const code = dtypeCode(dtype);
    let typed = values as Float32Array | Int32Array | Uint8Array;
    // Engine-made tensors arrive in their dtype's array type; other typed arrays are converted.
    if (code === 0 && !(typed instanceof Float32Array)) typed = Float32Array.from(typed as ArrayLike<number>);
    else if (code === 1 && !(typed instanceof Int32Array)) typed = Int32Array.from(typed as ArrayLike<number>);
    else if (code === 2 && !(typed instanceof Uint8Array)) typed = Uint8Array.from(typed as ArrayLike<number>);
    this.entries.set(dataId, { handle: this.native.FromArray(typed, shape, code), refCount });
  }

  override readSync(dataId: tf.DataId): tf.backend_util.BackendValues {
    const e = this.entries.get(dataId);
    if (e === undefined) throw new Error('torch backend: read of disposed data');
    return this.native.ToArray(e.handle);
  }

  override async read(dataId: tf.DataId): Promise<tf.backend_util.BackendValues> {
    return this.readSync(dataId);
  }

  override disposeData(dataId: tf.DataId, force = false): boolean {
    const e = this.entries.get(dataId);
    if (e === undefined) return true;
    e.refCount--;
    if (!force && e.refCount > 0) return false;
    this.native.Free(e.handle);
    this.entries.delete(dataId);
    return true;
  }

  override incRef(dataId: tf.DataId): void {
    const e = this.entries.get(dataId);
    if (e !== undefined) e.refCount++;
  }

  override refCount(dataId: tf.DataId): number {
    return this.entries.get(dataId)?.refCount ?? 0;
  }

  override numDataIds(): number {
    return this.entries.size;
  }

  /** Tensors alive in the addon (equals numDataIds unless a kernel leaked). */
  liveHandles(): number {
    return this.native.Live();
  }

  override memory(): { unreliable: boolean; reasons: string[] } {
    return { unreliable: true, reasons: ['libtorch allocates outside the JavaScript heap; byte counts are not tracked'] };
  }

  override async time(f: () => void): Promise<tf.BackendTimingInfo> {
    const start = performance.now();
    f();
    return { kernelMs: performance.now() - start };
  }

  override timerAvailable(): boolean {
    return true;
  }

  override floatPrecision(): 16 | 32 {
    return 32;
  }

  override epsilon(): number {
    return 1e-7;
  }

  override dispose(): void {
    for (const e of this.entries.values()) this.native.Free(e.handle);
    this.entries.clear();
  }
}

let loaded: { module: TorchModule; backend: TorchBackend | null } | null = null;

/**
 * Loads the addon (throws when the optional package is not installed or its build is missing) and registers
 * the `torch` backend and its kernels with tfjs, once per process.
 */
export function loadTorch(): TorchModule {
  if (loaded !== null) return loaded.module;
  const require = createRequire(import.meta.url);
  const module = require('tfjs-backend-torch') as TorchModule;
  const abi = module.native.abi ?? 1;
  if (abi !== TORCH_ADDON_ABI) {
    throw new Error(`tfjs-backend-torch: the addon was built from another checkout (calling convention ${abi}, this code needs ${TORCH_ADDON_ABI}); rebuild it with npm rebuild tfjs-backend-torch`);
  }
  loaded = { module, backend: null };
  const state = loaded;
  tf.registerBackend(TORCH_BACKEND, () => (state.backend = new TorchBackend(module.native)), 1);
  registerTorchKernels(module);
  registerFusedKernels(module.native);
  installTorchAdam();
  return module;
}

/** The live torch backend, if it has been started. */
export function torchBackend(): TorchBackend | null {
  return loaded?.backend ?? null;
}

function register(kernelName: string, kernelFunc: (args: { inputs: tf.NamedTensorInfoMap; backend: TorchBackend; attrs: Record<string, unknown> }) => tf.TensorInfo | tf.TensorInfo[]): void {
  tf.registerKernel({ kernelName, backendName: TORCH_BACKEND, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
}

const axesOf = (axis: unknown, shape: number[]): number[] => tf.util.parseAxisParam(axis as number | number[], shape);

function registerTorchKernels(m: TorchModule): void {
  const n = m.native;
  const only = (inputs: tf.NamedTensorInfoMap): tf.TensorInfo => Object.values(inputs)[0]!;

  for (const [name, code] of Object.entries(m.UNARY)) {
    register(name, ({ inputs, backend, attrs }) => {
      const x = only(inputs);
      const alpha = name === 'Step' || name === 'LeakyRelu' ? Number(attrs.alpha ?? 0) : 0;
      return backend.wrap(n.UnaryOp(code, backend.handleOf(x), alpha));
    });
  }
  for (const [name, code] of Object.entries(m.BINARY)) {
    register(name, ({ inputs, backend }) => backend.wrap(n.BinaryOp(code, backend.handleOf(inputs.a!), backend.handleOf(inputs.b!))));
  }
  register('Identity', ({ inputs, backend }) => backend.wrap(n.Clone(backend.handleOf(inputs.x!))));
  register('Cast', ({ inputs, backend, attrs }) => backend.wrap(n.Cast(backend.handleOf(inputs.x!), dtypeCode(attrs.dtype as tf.DataType))));
  register('AddN', ({ inputs, backend }) => backend.wrap(n.AddN((inputs as unknown as tf.TensorInfo[]).map((t) => backend.handleOf(t)))));
  register('Select', ({ inputs, backend }) => backend.wrap(n.Select(backend.handleOf(inputs.condition!), backend.handleOf(inputs.t!), backend.handleOf(inputs.e!))));
  register('ClipByValue', ({ inputs, backend, attrs }) => backend.wrap(n.ClipByValue(backend.handleOf(inputs.x!), Number(attrs.clipValueMin), Number(attrs.clipValueMax))));

  register('BatchMatMul', ({ inputs, backend, attrs }) =>
    backend.wrap(n.MatMul(backend.handleOf(inputs.a!), backend.handleOf(inputs.b!), Boolean(attrs.transposeA), Boolean(attrs.transposeB))),
  );
  register('_FusedMatMul', ({ inputs, backend, attrs }) => {
    if (inputs.preluActivationWeights) throw new Error('torch backend: _FusedMatMul with prelu is not supported');
    const activation = (attrs.activation as string | undefined) ?? 'linear';
    const code = (m.ACTIVATION as Record<string, number>)[activation];
    if (code === undefined) throw new Error(`torch backend: _FusedMatMul activation ${activation} is not supported`);
    const bias = inputs.bias ? backend.handleOf(inputs.bias) : null;
    return backend.wrap(
      n.FusedMatMul(backend.handleOf(inputs.a!), backend.handleOf(inputs.b!), bias, Boolean(attrs.transposeA), Boolean(attrs.transposeB), code, Number(attrs.leakyreluAlpha ?? 0.2)),
    );
  });

  const reductions: [string, keyof TorchModule['REDUCE'], string][] = [
    ['Sum', 'Sum', 'axis'],
    ['Mean', 'Mean', 'axis'],
    ['Max', 'Max', 'reductionIndices'],
    ['Min', 'Min', 'axis'],
    ['Prod', 'Prod', 'axis'],
    ['Any', 'Any', 'axis'],
    ['All', 'All', 'axis'],
  ];
  for (const [name, op, axisAttr] of reductions) {
    register(name, ({ inputs, backend, attrs }) => {
      const x = inputs.x!;
      const axes = axesOf(attrs[axisAttr], x.shape);
      // An empty axis list reduces nothing in tfjs (ATen would reduce everything).
      if (axes.length === 0) return backend.wrap(name === 'Mean' ? n.Cast(backend.handleOf(x), 0) : n.Clone(backend.handleOf(x)));
      return backend.wrap(n.ReduceOp(m.REDUCE[op], backend.handleOf(x), axes, Boolean(attrs.keepDims)));
    });
  }
  for (const name of ['ArgMax', 'ArgMin'] as const) {
    register(name, ({ inputs, backend, attrs }) => backend.wrap(n.ReduceOp(m.REDUCE[name], backend.handleOf(inputs.x!), axesOf(attrs.axis, inputs.x!.shape), false)));
  }
  register('Softmax', ({ inputs, backend, attrs }) => backend.wrap(n.Softmax(backend.handleOf(inputs.logits!), Number(attrs.dim ?? -1))));
  register('LogSoftmax', ({ inputs, backend, attrs }) => backend.wrap(n.LogSoftmax(backend.handleOf(inputs.logits!), Number(attrs.axis ?? -1))));

  register('Reshape', ({ inputs, backend, attrs }) => {
    const x = inputs.x!;
    const shape = tf.util.inferFromImplicitShape(attrs.shape as number[], tf.util.sizeFromShape(x.shape));
    return backend.wrap(n.Reshape(backend.handleOf(x), shape));
  });
  register('Transpose', ({ inputs, backend, attrs }) => backend.wrap(n.Transpose(backend.handleOf(inputs.x!), attrs.perm as number[])));
  register('Slice', ({ inputs, backend, attrs }) => {
    const x = inputs.x!;
    const [begin, size] = tf.slice_util.parseSliceParams(x as tf.Tensor, attrs.begin as number | number[], attrs.size as number | number[]);
    return backend.wrap(n.Slice(backend.handleOf(x), begin, size));
  });
  register('Concat', ({ inputs, backend, attrs }) => {
    const xs = inputs as unknown as tf.TensorInfo[];
    const axis = axesOf(attrs.axis, xs[0]!.shape)[0]!;
    return backend.wrap(n.Concat(xs.map((t) => backend.handleOf(t)), axis));
  });
  register('SplitV', ({ inputs, backend, attrs }) => {
    const x = inputs.x!;
    const axis = axesOf(attrs.axis, x.shape)[0]!;
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, attrs.numOrSizeSplits as number | number[], axis);
    return backend.wrapAll(n.Split(backend.handleOf(x), sizes, axis));
  });
  register('Unpack', ({ inputs, backend, attrs }) => {
    const x = inputs.value!;
    return backend.wrapAll(n.Unpack(backend.handleOf(x), axesOf(attrs.axis ?? 0, x.shape)[0]!));
  });
  register('Pack', ({ inputs, backend, attrs }) => {
    const xs = inputs as unknown as tf.TensorInfo[];
    const axis = Number(attrs.axis ?? 0);
    return backend.wrap(n.Stack(xs.map((t) => backend.handleOf(t)), axis < 0 ? axis + xs[0]!.shape.length + 1 : axis));
  });
  register('PadV2', ({ inputs, backend, attrs }) =>
    backend.wrap(n.Pad(backend.handleOf(inputs.x!), (attrs.paddings as [number, number][]).flat(), Number(attrs.constantValue ?? 0))),
  );
  register('Fill', ({ backend, attrs }) => {
    const dtype = (attrs.dtype as tf.DataType | undefined) ?? (typeof attrs.value === 'string' ? 'string' : 'float32');
    return backend.wrap(n.Fill(attrs.shape as number[], Number(attrs.value), dtypeCode(dtype)));
  });
  register('Range', ({ backend, attrs }) =>
    backend.wrap(n.Range(Number(attrs.start), Number(attrs.stop), Number(attrs.step ?? 1), dtypeCode((attrs.dtype as tf.DataType) ?? 'float32'))),
  );
  register('Tile', ({ inputs, backend, attrs }) => backend.wrap(n.Tile(backend.handleOf(inputs.x!), attrs.reps as number[])));
  register('Reverse', ({ inputs, backend, attrs }) => backend.wrap(n.Reverse(backend.handleOf(inputs.x!), axesOf(attrs.dims, inputs.x!.shape))));
  register('GatherV2', ({ inputs, backend, attrs }) => {
    if (Number(attrs.batchDims ?? 0) !== 0) throw new Error('torch backend: GatherV2 with batchDims is not supported');
    const x = inputs.x!;
    return backend.wrap(n.Gather(backend.handleOf(x), backend.handleOf(inputs.indices!), axesOf(attrs.axis, x.shape)[0]!));
  });
  register('OneHot', ({ inputs, backend, attrs }) =>
    backend.wrap(n.OneHot(backend.handleOf(inputs.indices!), Number(attrs.depth), Number(attrs.onValue ?? 1), Number(attrs.offValue ?? 0), dtypeCode((attrs.dtype as tf.DataType) ?? 'int32'))),
  );
}

/**
 * Kernels of the project's fused ops (src/engine/torch-ops.ts): one native call each instead of the dozens of
 * small kernels the portable versions in src/models/layers/ run.
 */
function registerFusedKernels(n: TorchNative): void {
  const hs = (backend: TorchBackend, ts: (tf.TensorInfo | undefined)[]) => ts.map((t) => backend.handleOf(t!));
  register('TorchLinear', ({ inputs, backend, attrs }) => {
    const [x, w, b] = hs(backend, [inputs.x, inputs.w, inputs.b]);
    return backend.wrap(n.Linear(x!, w!, b!, attrs.activation === 'relu' ? 1 : 0, Number(attrs.rate ?? 0), Number(attrs.seed ?? 0)));
  });
  register('TorchLinearGrad', ({ inputs, backend, attrs }) => {
    const [x, w, y, dy] = hs(backend, [inputs.x, inputs.w, inputs.y, inputs.dy]);
    return backend.wrapAll(n.LinearBackward(x!, w!, y!, dy!, attrs.activation === 'relu' ? 1 : 0, Number(attrs.rate ?? 0), Number(attrs.seed ?? 0)));
  });
  register('TorchAdam', ({ inputs, backend, attrs }) =>
    backend.wrapAll(
      n.AdamStep(
        (inputs as unknown as tf.TensorInfo[]).map((t) => backend.handleOf(t)),
        Number(attrs.beta1),
        Number(attrs.beta2),
        Number(attrs.learningRate),
        Number(attrs.epsilon),
      ),
    ),
  );
  register('TorchCausalConv', ({ inputs, backend, attrs }) => {
    const [x, kernel, bias] = hs(backend, [inputs.x, inputs.kernel, inputs.bias]);
    const a = attrs as { inSteps: number[]; outSteps: number[]; kernelSize: number; dilation: number; activation: string };
    return backend.wrap(n.CausalConv(x!, kernel!, bias!, a.inSteps, a.outSteps, a.kernelSize, a.dilation, a.activation === 'relu' ? 1 : 0));
  });
  register('TorchCausalConvGrad', ({ inputs, backend, attrs }) => {
    const [x, kernel, y, dy] = hs(backend, [inputs.x, inputs.kernel, inputs.y, inputs.dy]);
    const a = attrs as { inSteps: number[]; outSteps: number[]; kernelSize: number; dilation: number; activation: string };
    return backend.wrapAll(n.CausalConvBackward(x!, kernel!, y!, dy!, a.inSteps, a.outSteps, a.kernelSize, a.dilation, a.activation === 'relu' ? 1 : 0));
  });
  type TcnAttrs = { kernelSize: number; dilation: number; activation: string; rate: number; seed: number; maskSteps: number[] };
  const tcnArgs = (a: TcnAttrs) => [a.kernelSize, a.dilation, a.activation === 'relu' ? 1 : 0, a.rate, a.seed, a.maskSteps] as const;
  register('TorchTcnConv', ({ inputs, backend, attrs }) => {
    const [x, v, b] = hs(backend, [inputs.x, inputs.v, inputs.b]);
    const optional = (t: tf.TensorInfo | undefined) => (t ? backend.handleOf(t) : -1);
    return backend.wrapAll(n.TcnConv(x!, v!, optional(inputs.g), b!, optional(inputs.residual), ...tcnArgs(attrs as unknown as TcnAttrs)));
  });
  register('TorchTcnConvGrad', ({ inputs, backend, attrs }) => {
    const [x, v, y, dy] = hs(backend, [inputs.x, inputs.v, inputs.y, inputs.dy]);
    const optional = (t: tf.TensorInfo | undefined) => (t ? backend.handleOf(t) : -1);
    const inputGradient = (attrs as { inputGradient?: boolean }).inputGradient === false ? 0 : 1;
    return backend.wrapAll(n.TcnConvBackward(x!, v!, optional(inputs.g), y!, optional(inputs.out), dy!, ...tcnArgs(attrs as unknown as TcnAttrs), inputGradient));
  });
  register('TorchLayerNorm', ({ inputs, backend }) => {
    const [x, gamma, beta] = hs(backend, [inputs.x, inputs.gamma, inputs.beta]);
    return backend.wrapAll(n.LayerNorm(x!, gamma!, beta!));
  });
  register('TorchLayerNormGrad', ({ inputs, backend }) => {
    const [dy, x, mean, rstd, gamma, beta] = hs(backend, [inputs.dy, inputs.x, inputs.mean, inputs.rstd, inputs.gamma, inputs.beta]);
    return backend.wrapAll(n.LayerNormBackward(dy!, x!, mean!, rstd!, gamma!, beta!));
  });
  register('TorchDropoutMask', ({ backend, attrs }) => backend.wrap(n.DropoutMask(attrs.shape as number[], Number(attrs.rate), Number(attrs.seed))));
  register('TorchLstm', ({ inputs, backend, attrs }) => {
    const [x, wx, wh, b] = hs(backend, [inputs.x, inputs.wx, inputs.wh, inputs.b]);
    return backend.wrapAll(n.LstmForward(x!, wx!, wh!, b!, Boolean(attrs.sequences)));
  });
  register('TorchLstmGrad', ({ inputs, backend, attrs }) => {
    const [dy, x, wx, wh, h, c, tc, g] = hs(backend, [inputs.dy, inputs.x, inputs.wx, inputs.wh, inputs.hs, inputs.cs, inputs.tcs, inputs.gates]);
    return backend.wrapAll(n.LstmBackward(dy!, x!, wx!, wh!, h!, c!, tc!, g!, Boolean(attrs.sequences)));
  });
}

/** Every kernel registered for the torch backend (after loadTorch). */
export function torchKernelNames(): string[] {
  return tf.getKernelsForBackend(TORCH_BACKEND).map((k) => k.kernelName);
}

