import * as tf from '@tensorflow/tfjs';

/**
 * Replacement matMul kernels for the tfjs wasm backend.
 *
 * In @tensorflow/tfjs-backend-wasm 4.22, BatchMatMul and _FusedMatMul with `transposeA` or
 * `transposeB` leave XNNPACK's fast path. Measured on this machine (256×256, SIMD build):
 * 2.2 ms plain, 19 ms with transposeB, 35–41 ms with transposeA. Every dense-layer gradient
 * (dX = dY·Wᵀ, dW = Xᵀ·dY) is such a product, so training ran about 10× slower than the forward
 * pass suggests. The replacement materializes the transpose with the wasm Transpose kernel (a
 * memory-bound copy, well under a millisecond at these sizes) and then runs the original kernel
 * with both transpose flags off.
 */

const WASM = 'wasm';
const PATCHED_KERNEL_NAMES = ['BatchMatMul', '_FusedMatMul'] as const;

interface WasmBackendLike {
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
}

interface MatMulAttrs {
  transposeA?: boolean;
  transposeB?: boolean;
}

/** Original configs of the kernels that are currently replaced, keyed by kernel name. */
const originals = new Map<string, tf.KernelConfig>();
/** The kernelFuncs this module installed, to recognize them in the registry. */
const replacementFuncs = new WeakSet<tf.KernelFunc>();

function swapLastTwoPerm(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 1] = rank - 2;
  perm[rank - 2] = rank - 1;
  return perm;
}

function makeReplacement(original: tf.KernelConfig): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const attrs = args.attrs as MatMulAttrs | undefined;
    const transposeA = attrs?.transposeA === true;
    const transposeB = attrs?.transposeB === true;
    if (!transposeA && !transposeB) return original.kernelFunc(args);

    const transposeKernel = tf.getKernel('Transpose', WASM);
    if (transposeKernel === undefined) return original.kernelFunc(args);
    const backend = args.backend as WasmBackendLike;

    const inputs: tf.NamedTensorInfoMap = { ...args.inputs };
    const intermediates: tf.TensorInfo[] = [];
    const materialize = (name: 'a' | 'b'): void => {
      const x = inputs[name];
      if (x === undefined) throw new Error(`${original.kernelName}: missing input "${name}"`);
      const rank = x.shape.length;
      if (rank < 2) throw new Error(`${original.kernelName}: input "${name}" has rank ${rank}, need >= 2`);
      const t = transposeKernel.kernelFunc({
        inputs: { x },
        backend: args.backend,
        attrs: { perm: swapLastTwoPerm(rank) },
      }) as tf.TensorInfo;
      intermediates.push(t);
      inputs[name] = t;
    };

    try {
      if (transposeA) materialize('a');
      if (transposeB) materialize('b');
      return original.kernelFunc({
        inputs,
        backend: args.backend,
        attrs: { ...args.attrs, transposeA: false, transposeB: false },
      });
    } finally {
      // The engine never sees these intermediates, so nothing else would release their memory.
      for (const t of intermediates) backend.disposeData(t.dataId);
    }
  };
  replacementFuncs.add(kernelFunc);
  return { ...original, kernelFunc };
}

function isReplacement(config: tf.KernelConfig | undefined): boolean {
  return config !== undefined && replacementFuncs.has(config.kernelFunc);
}

/**
 * Replace the wasm BatchMatMul and _FusedMatMul kernels by versions that materialize transposed
 * operands first. Idempotent. The wasm kernels must be registered, i.e.
 * `@tensorflow/tfjs-backend-wasm` imported; the backend need not be initialized yet.
 */
export function patchWasmMatMul(): void {
  if (tf.getKernel('BatchMatMul', WASM) === undefined) {
    throw new Error('cannot patch wasm matMul: no wasm kernels registered (import @tensorflow/tfjs-backend-wasm first)');
  }
  if (tf.getKernel('Transpose', WASM) === undefined) {
    throw new Error('cannot patch wasm matMul: the wasm Transpose kernel is not registered');
  }
  for (const name of PATCHED_KERNEL_NAMES) {
    const current = tf.getKernel(name, WASM);
    if (current === undefined || isReplacement(current)) continue;
    originals.set(name, current);
    tf.unregisterKernel(name, WASM);
    tf.registerKernel(makeReplacement(current));
  }
}

/** Restore the original wasm matMul kernels. Idempotent. */
export function unpatchWasmMatMul(): void {
  for (const name of PATCHED_KERNEL_NAMES) {
    const original = originals.get(name);
    if (original === undefined) continue;
    const current = tf.getKernel(name, WASM);
    // Leave alone a kernel someone else registered over ours after we patched.
    if (current === undefined || isReplacement(current)) {
      if (current !== undefined) tf.unregisterKernel(name, WASM);
      tf.registerKernel(original);
    }
    originals.delete(name);
  }
}

/** True when the wasm BatchMatMul kernel in the registry is this module's replacement. */
export function isWasmMatMulPatched(): boolean {
  return isReplacement(tf.getKernel('BatchMatMul', WASM));
}
