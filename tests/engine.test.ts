import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import {
  Rng,
  backendVersions,
  isWasmMatMulPatched,
  patchWasmMatMul,
  selectBackend,
  unpatchWasmMatMul,
} from '../src/engine/index.js';

function tfjsNodeInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}

/** Whether the optional torch addon is built and loads here (then `auto` prefers it). */
function torchLoads(): boolean {
  try {
    createRequire(import.meta.url)('tfjs-backend-torch');
    return true;
  } catch {
    return false;
  }
}

function randomData(rng: Rng, shape: number[]): Float32Array {
  const n = shape.reduce((p, d) => p * d, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal();
  return out;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rtol = 1e-4): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const tol = rtol * Math.max(1, Math.abs(e));
    if (!(Math.abs(a - e) <= tol)) {
      assert.fail(`${what}: element ${i} is ${a}, expected ${e} (tolerance ${tol})`);
    }
  }
}

/** Runs `fn` on the given backend with fresh tensors and returns its outputs as plain arrays. */
async function on(backend: 'cpu' | 'wasm', fn: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  assert.ok(await tf.setBackend(backend));
  assert.equal(tf.getBackend(), backend);
  const outs = tf.tidy(fn);
  const list = Array.isArray(outs) ? outs : [outs];
  const arrays = await Promise.all(list.map(async (t) => (await t.data()) as Float32Array));
  tf.dispose(list);
  return arrays;
}

/** Buffers the wasm backend holds, including ones the engine does not track. */
function wasmDataIds(): number {
  return (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
}

interface MatMulCase {
  name: string;
  aShape: number[];
  bShape: number[];
}

// Shapes are given for the untransposed product; transposed operands get their last two dims swapped.
const MATMUL_CASES: MatMulCase[] = [
  { name: 'square 64', aShape: [64, 64], bShape: [64, 64] },
  { name: 'rectangular', aShape: [37, 53], bShape: [53, 29] },
  { name: 'vector-like', aShape: [1, 40], bShape: [40, 1] },
  { name: 'batched rank-3', aShape: [3, 17, 24], bShape: [3, 24, 11] },
  { name: 'broadcast batch', aShape: [1, 9, 16], bShape: [4, 16, 7] },
  { name: 'rank-3 x rank-2', aShape: [2, 13, 8], bShape: [8, 5] },
  { name: 'rank-4', aShape: [2, 3, 6, 5], bShape: [2, 3, 5, 4] },
];

function swapLast(shape: number[]): number[] {
  const s = shape.slice();
  const r = s.length;
  [s[r - 2], s[r - 1]] = [s[r - 1]!, s[r - 2]!];
  return s;
}

describe('selectBackend', () => {
  it('rejects an unknown backend with the list of valid ones', async () => {
    await assert.rejects(selectBackend('gpu'), /unknown backend "gpu"; valid: auto, torch, tfjs-node, wasm, cpu/);
  });

  it('fails clearly when tfjs-node is forced but not installed', { skip: tfjsNodeInstalled() }, async () => {
    await assert.rejects(
      selectBackend('tfjs-node'),
      (err: Error) =>
        err.message ===
        'backend "tfjs-node" is not available: @tensorflow/tfjs-node is not installed; valid: auto, torch, tfjs-node, wasm, cpu',
    );
  });

  it('auto picks torch, single-threaded, when its addon loads', { skip: !torchLoads() }, async () => {
    const info = await selectBackend('auto');
    assert.equal(info.name, 'torch');
    assert.equal(tf.getBackend(), 'torch');
    assert.equal(info.threads, 1);
    assert.deepEqual(info.notes, []);
  });

  it('auto picks patched single-threaded wasm when tfjs-node and torch are absent, and is idempotent', { skip: tfjsNodeInstalled() || torchLoads() }, async () => {
    const first = await selectBackend('auto');
    const second = await selectBackend('auto');
    for (const info of [first, second]) {
      assert.equal(info.requested, 'auto');
      assert.equal(info.name, 'wasm');
      assert.equal(tf.getBackend(), 'wasm');
      assert.equal(info.tfjsVersion, tf.version.tfjs);
      assert.equal(info.wasmMatmulPatched, true);
      assert.equal(info.threads, 1);
      assert.ok(info.notes.some((n) => n.includes('tfjs-node skipped')));
      assert.ok(info.notes.some((n) => n.includes('torch skipped')));
    }
  });

  it('switches between explicit backends and honours patchWasmMatMul: false', async () => {
    const cpu = await selectBackend('cpu');
    assert.equal(cpu.name, 'cpu');
    assert.equal(cpu.wasmMatmulPatched, false);

    const plain = await selectBackend('wasm', { patchWasmMatMul: false });
    assert.equal(plain.name, 'wasm');
    assert.equal(plain.wasmMatmulPatched, false);
    assert.equal(isWasmMatMulPatched(), false);

    const patched = await selectBackend('wasm');
    assert.equal(patched.wasmMatmulPatched, true);
    assert.equal(isWasmMatMulPatched(), true);
  });

  it('reports versions and wasm features for run metadata', async () => {
    await selectBackend('wasm');
    const v = await backendVersions();
    assert.equal(v.tfjs, tf.version.tfjs);
    assert.equal(v.backend, 'wasm');
    assert.ok(v.wasm);
    assert.equal(v.wasm.version, tf.version.tfjs);
    assert.equal(typeof v.wasm.simd, 'boolean');
    // tfjs-backend-wasm disables its threaded build under Node.
    assert.equal(v.wasm.multithread, false);
    assert.equal(v.wasm.threads, 1);
    assert.equal(v.wasm.matmulPatched, true);
  });
});

describe('wasm matMul patch', () => {
  it('toggles at runtime and restores the original kernels', async () => {
    await selectBackend('wasm', { patchWasmMatMul: false });
    const original = tf.getKernel('BatchMatMul', 'wasm');
    const originalFused = tf.getKernel('_FusedMatMul', 'wasm');
    patchWasmMatMul();
    const replaced = tf.getKernel('BatchMatMul', 'wasm');
    assert.notEqual(replaced, original);
    patchWasmMatMul();
    assert.equal(tf.getKernel('BatchMatMul', 'wasm'), replaced, 'patching twice must not wrap twice');
    assert.ok(isWasmMatMulPatched());
    unpatchWasmMatMul();
    unpatchWasmMatMul();
    assert.equal(tf.getKernel('BatchMatMul', 'wasm'), original);
    assert.equal(tf.getKernel('_FusedMatMul', 'wasm'), originalFused);
    assert.equal(isWasmMatMulPatched(), false);
    patchWasmMatMul();
  });

  it('matches the cpu backend for all transpose combinations and batched shapes', async () => {
    await selectBackend('wasm');
    const rng = new Rng('engine-test/matmul');
    for (const c of MATMUL_CASES) {
      for (const transposeA of [false, true]) {
        for (const transposeB of [false, true]) {
          const aShape = transposeA ? swapLast(c.aShape) : c.aShape;
          const bShape = transposeB ? swapLast(c.bShape) : c.bShape;
          const aData = randomData(rng, aShape);
          const bData = randomData(rng, bShape);
          const run = () => tf.matMul(tf.tensor(aData, aShape), tf.tensor(bData, bShape), transposeA, transposeB);
          const [expected] = await on('cpu', run);
          const [actual] = await on('wasm', run);
          assertClose(actual!, expected!, `${c.name} tA=${transposeA} tB=${transposeB}`);
        }
      }
    }
  });

  it('matches the cpu backend for fused matMul with bias and activation', async () => {
    await selectBackend('wasm');
    const rng = new Rng('engine-test/fused');
    for (const transposeA of [false, true]) {
      for (const transposeB of [false, true]) {
        const aShape = transposeA ? [24, 31] : [31, 24];
        const bShape = transposeB ? [19, 24] : [24, 19];
        const aData = randomData(rng, aShape);
        const bData = randomData(rng, bShape);
        const biasData = randomData(rng, [19]);
        const run = () =>
          tf.fused.matMul({
            a: tf.tensor(aData, aShape),
            b: tf.tensor(bData, bShape),
            transposeA,
            transposeB,
            bias: tf.tensor(biasData, [19]),
            activation: 'relu',
          });
        const [expected] = await on('cpu', run);
        const [actual] = await on('wasm', run);
        assertClose(actual!, expected!, `fused tA=${transposeA} tB=${transposeB}`);
      }
    }
  });

  it('gives dense-net gradients equal to the cpu backend', async () => {
    await selectBackend('wasm');
    const rng = new Rng('engine-test/grads');
    const shapes: Record<string, number[]> = { w1: [32, 16], b1: [32], w2: [32, 8], b2: [8], w3: [8, 1], b3: [1] };
    const init = Object.fromEntries(Object.entries(shapes).map(([k, s]) => [k, randomData(rng, s)]));
    const x = randomData(rng, [20, 16]);
    const y = Float32Array.from({ length: 20 }, () => (rng.bernoulli(0.3) ? 1 : 0));

    const names = Object.keys(shapes);
    const gradsOn = async (backend: 'cpu' | 'wasm'): Promise<Float32Array[]> => {
      assert.ok(await tf.setBackend(backend));
      const vars = Object.fromEntries(names.map((k) => [k, tf.variable(tf.tensor(init[k]!, shapes[k]!), true, `${backend}-${k}`)]));
      const result = tf.tidy(() => {
        const xs = tf.tensor2d(x, [20, 16]);
        const ys = tf.tensor2d(y, [20, 1]);
        const { value, grads } = tf.variableGrads(() => {
          // w1 is stored [out, in], so this layer exercises the transposeB path of the fused kernel.
          const h1 = tf.fused.matMul({ a: xs, b: vars.w1!, transposeB: true, bias: vars.b1!, activation: 'relu' });
          const h2 = tf.relu(tf.add(tf.matMul(h1, vars.w2!), vars.b2!));
          const logits = tf.add(tf.matMul(h2, vars.w3!), vars.b3!);
          return tf.losses.sigmoidCrossEntropy(ys, logits) as tf.Scalar;
        }, Object.values(vars));
        return [value, ...names.map((k) => grads[`${backend}-${k}`]!)];
      });
      const arrays = await Promise.all(result.map(async (t) => (await t.data()) as Float32Array));
      tf.dispose(result);
      tf.dispose(Object.values(vars));
      return arrays;
    };

    const expected = await gradsOn('cpu');
    const actual = await gradsOn('wasm');
    assertClose(actual[0]!, expected[0]!, 'loss');
    names.forEach((k, i) => assertClose(actual[i + 1]!, expected[i + 1]!, `grad ${k}`));
  });

  it('does not leak tensors or wasm buffers over repeated calls', async () => {
    await selectBackend('wasm');
    const rng = new Rng('engine-test/leak');
    const a = tf.tensor(randomData(rng, [2, 40, 40]), [2, 40, 40]);
    const b = tf.tensor(randomData(rng, [2, 40, 40]), [2, 40, 40]);
    const w = tf.variable(tf.tensor(randomData(rng, [32, 40]), [32, 40]));
    const bias = tf.tensor(randomData(rng, [32]), [32]);
    const round = async () => {
      for (const [ta, tb] of [[true, false], [false, true], [true, true]] as const) {
        const out = tf.matMul(a, b, ta, tb);
        await out.data();
        out.dispose();
      }
      const fused = tf.tidy(() =>
        tf.fused.matMul({ a: tf.reshape(a, [80, 40]), b: w, transposeB: true, bias, activation: 'relu' }),
      );
      await fused.data();
      fused.dispose();
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.matMul(tf.reshape(a, [80, 40]), w, false, true)) as tf.Scalar, [w]);
      await value.data();
      value.dispose();
      tf.dispose(grads);
    };

    await round();
    await round();
    const before = { ...tf.memory(), dataIds: wasmDataIds() };
    for (let i = 0; i < 20; i++) await round();
    const after = { ...tf.memory(), dataIds: wasmDataIds() };
    assert.equal(after.numTensors, before.numTensors);
    assert.equal(after.numBytes, before.numBytes);
    assert.equal(after.dataIds, before.dataIds, 'intermediate transposes must be released in the wasm backend');
    tf.dispose([a, b, w, bias]);
  });

  it('trains deterministically: two identical runs give bit-identical weights', async () => {
    await selectBackend('wasm');
    const train = async (): Promise<Float32Array> => {
      const rng = new Rng('engine-test/determinism');
      const xs = tf.tensor2d(randomData(rng, [64, 12]), [64, 12]);
      const ys = tf.tensor2d(Float32Array.from({ length: 64 }, () => (rng.bernoulli(0.5) ? 1 : 0)), [64, 1]);
      const w1 = tf.variable(tf.tensor2d(randomData(rng, [12, 16]), [12, 16]));
      const w2 = tf.variable(tf.tensor2d(randomData(rng, [16, 1]), [16, 1]));
      const opt = tf.train.adam(0.01);
      for (let step = 0; step < 10; step++) {
        const loss = opt.minimize(
          () => tf.losses.sigmoidCrossEntropy(ys, tf.matMul(tf.relu(tf.matMul(xs, w1)), w2)) as tf.Scalar,
          true,
          [w1, w2],
        );
        await loss!.data();
        loss!.dispose();
      }
      const out = new Float32Array([...(await w1.data()), ...(await w2.data())]);
      opt.dispose();
      tf.dispose([xs, ys, w1, w2]);
      return out;
    };
    const first = await train();
    const second = await train();
    assert.deepEqual(second, first);
  });
});
