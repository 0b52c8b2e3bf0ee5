import * as tf from '@tensorflow/tfjs';

/**
 * Calls the active backend's kernels directly, without the engine.
 *
 * Every tf.* op pays for engine bookkeeping (scopes, Tensor objects, tape checks, profiling hooks) on top
 * of the kernel; on the wasm backend that was ~50 µs per op against ~25 µs for the kernel call itself
 * (measured on a [4, 4] multiply; a [256, 64] multiply took 94 µs through tf.mul and 44 µs direct). A
 * recurrent cell runs a dozen small ops per time step, so the fused ops in this folder run their loops
 * here and hand the engine only their final outputs.
 *
 * Results are backend buffers (TensorInfo), owned by this scope until `keep` is called; `dispose` frees the
 * rest. Kernel names and attributes are those of tfjs-core, which every backend implements alike.
 */
export class KernelScope {
  /** Set to a Map to accumulate per-kernel wall time in ms and call counts (for profiling fused ops). */
  static profile: Map<string, { ms: number; calls: number }> | null = null;
  readonly backend: tf.KernelBackend;
  readonly backendName: string;
  private readonly owned = new Set<tf.TensorInfo>();
  private readonly kernels = new Map<string, tf.KernelFunc>();

  constructor() {
    this.backend = tf.backend();
    this.backendName = tf.getBackend();
  }

  run(name: string, inputs: tf.NamedTensorInfoMap | tf.TensorInfo[], attrs: Record<string, unknown> = {}): tf.TensorInfo {
    const out = this.call(name, inputs, attrs);
    if (Array.isArray(out)) throw new Error(`kernel ${name} returned ${out.length} outputs`);
    this.owned.add(out);
    return out;
  }

  runMulti(name: string, inputs: tf.NamedTensorInfoMap, attrs: Record<string, unknown> = {}): tf.TensorInfo[] {
    const out = this.call(name, inputs, attrs);
    const list = Array.isArray(out) ? out : [out];
    list.forEach((t) => this.owned.add(t));
    return list;
  }

  private call(name: string, inputs: tf.NamedTensorInfoMap | tf.TensorInfo[], attrs: Record<string, unknown>): tf.TensorInfo | tf.TensorInfo[] {
    let fn = this.kernels.get(name);
    if (fn === undefined) {
      const config = tf.getKernel(name, this.backendName);
      if (config === undefined) throw new Error(`backend ${this.backendName} has no ${name} kernel`);
      fn = config.kernelFunc;
      this.kernels.set(name, fn);
    }
    const args = { inputs: inputs as tf.NamedTensorInfoMap, backend: this.backend, attrs: attrs as tf.NamedAttrMap };
    const profile = KernelScope.profile;
    if (profile === null) return fn(args);
    const t0 = performance.now();
    const out = fn(args);
    const key = `${name} ${(Array.isArray(inputs) ? inputs : Object.values(inputs)).map((t) => `[${t?.shape.join(',')}]`).join(' ')}`;
    const entry = profile.get(key) ?? { ms: 0, calls: 0 };
    entry.ms += performance.now() - t0;
    entry.calls++;
    profile.set(key, entry);
    return out;
  }

  matMul(a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
    return this.run('BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
  }

  /**
   * activation(a·b + bias) with a rank-1 bias. A plain matMul and a broadcast Add, not _FusedMatMul: the wasm
   * fused kernel took 2.0 ms for [6144, 32]·[32, 32] + bias, the two kernels 1.1 ms.
   */
  matMulBias(a: tf.TensorInfo, b: tf.TensorInfo, bias: tf.TensorInfo, activation: 'linear' | 'relu' = 'linear'): tf.TensorInfo {
    const pre = this.add(this.matMul(a, b), bias);
    return activation === 'relu' ? this.run('Relu', { x: pre }) : pre;
  }

  add(a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
    return this.run('Add', { a, b });
  }

  sub(a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
    return this.run('Sub', { a, b });
  }

  mul(a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
    return this.run('Multiply', { a, b });
  }

  sigmoid(x: tf.TensorInfo): tf.TensorInfo {
    return this.run('Sigmoid', { x });
  }

  square(x: tf.TensorInfo): tf.TensorInfo {
    return this.run('Square', { x });
  }

  concat(xs: tf.TensorInfo[], axis: number): tf.TensorInfo {
    return this.run('Concat', xs, { axis });
  }

  split(x: tf.TensorInfo, parts: number, axis: number): tf.TensorInfo[] {
    return this.runMulti('SplitV', { x }, { numOrSizeSplits: parts, axis });
  }

  slice(x: tf.TensorInfo, begin: number[], size: number[]): tf.TensorInfo {
    return this.run('Slice', { x }, { begin, size });
  }

  reshape(x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: tf.TensorInfo, perm: number[]): tf.TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }

  pad(x: tf.TensorInfo, paddings: [number, number][]): tf.TensorInfo {
    return this.run('PadV2', { x }, { paddings, constantValue: 0 });
  }

  /** 1 where x > 0, else 0 (the ReLU derivative). */
  step(x: tf.TensorInfo): tf.TensorInfo {
    return this.run('Step', { x }, { alpha: 0 });
  }

  fill(shape: number[], value: number): tf.TensorInfo {
    return this.run('Fill', {}, { shape, value, dtype: 'float32' });
  }

  /** Frees `t` now (it must be owned by this scope). */
  free(t: tf.TensorInfo): void {
    if (this.owned.delete(t)) this.backend.disposeData(t.dataId);
  }

  /** Takes `t` out of the scope's ownership; the caller must hand it to the engine (see `toTensor`). */
  keep(t: tf.TensorInfo): tf.TensorInfo {
    if (!this.owned.delete(t)) throw new Error('keep: tensor not owned by this scope');
    return t;
  }

  /** Transfers `t` to the engine as a tf.Tensor. */
  toTensor<R extends tf.Rank>(t: tf.TensorInfo): tf.Tensor<R> {
    this.keep(t);
    return tf.engine().makeTensorFromTensorInfo(t, this.backend) as tf.Tensor<R>;
  }

  dispose(): void {
    for (const t of this.owned) this.backend.disposeData(t.dataId);
    this.owned.clear();
  }
}
