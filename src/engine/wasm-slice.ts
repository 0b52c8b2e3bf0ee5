import * as tf from '@tensorflow/tfjs';

/**
 * Replacement Slice, SplitV, Unpack and Concat kernels for the tfjs wasm backend.
 *
 * In @tensorflow/tfjs-backend-wasm 4.22 the Slice kernel reads its input with `backend.readSync`, which
 * copies the *whole* input out of the wasm heap before taking the slice; SplitV and Unpack call that
 * Slice once per output. Splitting a [24·256, 256] tensor into 24 row blocks therefore copied 24 × 6 MB
 * (measured 0.42 s for one tf.split on this machine, against a few ms for the same bytes through
 * tf.concat). The replacements copy only the output.
 *
 * All four move contiguous runs with `HEAPU8.copyWithin` on the wasm heap itself. The stock Concat's
 * `dst.set(src.subarray(..))` allocates a view per run, which at the 32-float runs of a channel-axis
 * concat or split was 2.3× slower (microbenchmark: 338 vs 143 µs per 64k floats).
 *
 * The heap is read after the output is allocated: an allocation may grow the wasm memory, which replaces
 * the heap's buffer.
 */

const WASM = 'wasm';
const KERNELS = ['Slice', 'SplitV', 'Unpack', 'Concat'] as const;

interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  dataIdMap: { get(dataId: tf.DataId): { memoryOffset: number } };
  wasm: { HEAPU8: Uint8Array };
}

const bytesPer = (dtype: tf.DataType): number => (dtype === 'bool' ? 1 : 4);

function strides(shape: number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let d = shape.length - 2; d >= 0; d--) s[d] = s[d + 1] * shape[d + 1];
  return s;
}

/** Copies x[begin : begin + size] into a new wasm tensor (numeric dtypes). */
function sliceInto(backend: WasmHeapBackend, x: tf.TensorInfo, begin: number[], size: number[]): tf.TensorInfo {
  const out = backend.makeOutput(size, x.dtype);
  const total = size.reduce((a, b) => a * b, 1);
  if (total === 0) return out;
  const heap = backend.wasm.HEAPU8;
  const bpe = bytesPer(x.dtype);
  const src = backend.dataIdMap.get(x.dataId).memoryOffset;
  const dst = backend.dataIdMap.get(out.dataId).memoryOffset;
  const rank = x.shape.length;
  const xs = strides(x.shape);
  // A run: the trailing dimensions taken whole plus the last partial one, contiguous in input and output.
  let inner = rank;
  let run = 1;
  while (inner > 0 && size[inner - 1] === x.shape[inner - 1]) run *= size[--inner];
  if (inner > 0) run *= size[--inner];
  const base = begin[inner] * xs[inner];
  const runBytes = run * bpe;
  if (inner === 0) {
    heap.copyWithin(dst, src + base * bpe, src + base * bpe + runBytes);
  } else if (inner === 1) {
    for (let i = 0; i < size[0]; i++) {
      const from = src + ((begin[0] + i) * xs[0] + base) * bpe;
      heap.copyWithin(dst + i * runBytes, from, from + runBytes);
    }
  } else if (inner === 2) {
    let k = 0;
    for (let i = 0; i < size[0]; i++) {
      for (let j = 0; j < size[1]; j++, k++) {
        const from = src + ((begin[0] + i) * xs[0] + (begin[1] + j) * xs[1] + base) * bpe;
        heap.copyWithin(dst + k * runBytes, from, from + runBytes);
      }
    }
  } else {
    const idx = new Array<number>(inner).fill(0);
    const outer = total / run;
    for (let k = 0; k < outer; k++) {
      let offset = base;
      for (let d = 0; d < inner; d++) offset += (begin[d] + idx[d]) * xs[d];
      heap.copyWithin(dst + k * runBytes, src + offset * bpe, src + offset * bpe + runBytes);
      for (let d = inner - 1; d >= 0; d--) {
        if (++idx[d] < size[d]) break;
        idx[d] = 0;
      }
    }
  }
  return out;
}

const originals = new Map<string, tf.KernelConfig>();
const replacementFuncs = new WeakSet<tf.KernelFunc>();

function sliceFunc(original: tf.KernelConfig): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    if (x.dtype === 'string') return original.kernelFunc(args);
    const { begin, size } = args.attrs as { begin: number | number[]; size?: number | number[] };
    const [b, s] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, begin, size);
    return sliceInto(args.backend as WasmHeapBackend, x, b, s);
  };
}

function splitVFunc(original: tf.KernelConfig): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    if (x.dtype === 'string') return original.kernelFunc(args);
    const { numOrSizeSplits, axis } = args.attrs as { numOrSizeSplits: number | number[]; axis: number };
    const ax = tf.util.parseAxisParam(axis, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, numOrSizeSplits, ax);
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((s) => {
      const size = x.shape.slice();
      size[ax] = s;
      const out = sliceInto(args.backend as WasmHeapBackend, x, begin, size);
      begin[ax] += s;
      return out;
    });
  };
}

function unpackFunc(original: tf.KernelConfig): tf.KernelFunc {
  return (args) => {
    const value = args.inputs.value as tf.TensorInfo;
    if (value.dtype === 'string') return original.kernelFunc(args);
    let { axis } = args.attrs as { axis: number };
    if (axis < 0) axis += value.shape.length;
    const outShape = value.shape.filter((_, d) => d !== axis);
    const size = value.shape.slice();
    size[axis] = 1;
    const begin = new Array<number>(value.shape.length).fill(0);
    const outs: tf.TensorInfo[] = [];
    for (let i = 0; i < value.shape[axis]; i++) {
      begin[axis] = i;
      const out = sliceInto(args.backend as WasmHeapBackend, value, begin, size);
      outs.push({ dataId: out.dataId, dtype: out.dtype, shape: outShape });
    }
    return outs;
  };
}

function concatFunc(original: tf.KernelConfig): tf.KernelFunc {
  return (args) => {
    const inputs = args.inputs as unknown as tf.TensorInfo[];
    const sizes = inputs.map((t) => t.shape.reduce((a, b) => a * b, 1));
    // Strings, empty inputs and the single-input identity stay with the stock kernel.
    if (inputs.length < 2 || inputs[0].dtype === 'string' || sizes.some((n) => n === 0)) return original.kernelFunc(args);
    const first = inputs[0];
    const axis = tf.util.parseAxisParam((args.attrs as { axis: number | number[] }).axis, first.shape)[0];
    const outShape = tf.backend_util.computeOutShape(inputs.map((t) => t.shape), axis);
    const backend = args.backend as WasmHeapBackend;
    const out = backend.makeOutput(outShape, first.dtype);
    const outer = first.shape.slice(0, axis).reduce((a, b) => a * b, 1);
    const inner = inputs.map((t, i) => sizes[i] / outer);
    const rowLength = inner.reduce((a, b) => a + b, 0);
    const heap = backend.wasm.HEAPU8;
    const bpe = bytesPer(first.dtype);
    const dst = backend.dataIdMap.get(out.dataId).memoryOffset;
    let column = 0;
    inputs.forEach((t, i) => {
      const src = backend.dataIdMap.get(t.dataId).memoryOffset;
      const runBytes = inner[i] * bpe;
      for (let r = 0; r < outer; r++) {
        const from = src + r * runBytes;
        heap.copyWithin(dst + (r * rowLength + column) * bpe, from, from + runBytes);
      }
      column += inner[i];
    });
    return out;
  };
}

const MAKERS: Record<(typeof KERNELS)[number], (o: tf.KernelConfig) => tf.KernelFunc> = {
  Slice: sliceFunc,
  SplitV: splitVFunc,
  Unpack: unpackFunc,
  Concat: concatFunc,
};

/** Replace the wasm Slice, SplitV, Unpack and Concat kernels (idempotent; wasm kernels must be registered). */
export function patchWasmSlice(): void {
  for (const name of KERNELS) {
    const current = tf.getKernel(name, WASM);
    if (current === undefined || replacementFuncs.has(current.kernelFunc)) continue;
    const kernelFunc = MAKERS[name](current);
    replacementFuncs.add(kernelFunc);
    originals.set(name, current);
    tf.unregisterKernel(name, WASM);
    tf.registerKernel({ ...current, kernelFunc });
  }
}

/** Restore the original kernels (idempotent). */
export function unpatchWasmSlice(): void {
  for (const name of KERNELS) {
    const original = originals.get(name);
    if (original === undefined) continue;
    const current = tf.getKernel(name, WASM);
    if (current === undefined || replacementFuncs.has(current.kernelFunc)) {
      if (current !== undefined) tf.unregisterKernel(name, WASM);
      tf.registerKernel(original);
    }
    originals.delete(name);
  }
}

export function isWasmSlicePatched(): boolean {
  const k = tf.getKernel('Slice', WASM);
  return k !== undefined && replacementFuncs.has(k.kernelFunc);
}
