import * as tf from '@tensorflow/tfjs';

import { UserError } from '../util/errors.js';

import { loadTorch, torchKernelNames, TORCH_BACKEND } from './torch-backend.js';
import { TORCH_REQUIRED_KERNELS } from './torch-coverage.js';
import { isWasmMatMulPatched, patchWasmMatMul, unpatchWasmMatMul } from './wasm-matmul.js';
import { patchWasmSlice } from './wasm-slice.js';

export const BACKEND_CHOICES = ['auto', 'torch', 'tfjs-node', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];
type ConcreteBackend = Exclude<BackendChoice, 'auto'>;

/** The name under which each choice registers itself with tfjs, as `tf.getBackend()` reports it. */
const TFJS_NAME: Record<ConcreteBackend, string> = {
  torch: TORCH_BACKEND,
  'tfjs-node': 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
};

const AUTO_ORDER: readonly ConcreteBackend[] = ['torch', 'tfjs-node', 'wasm', 'cpu'];

export interface SelectBackendOptions {
  /** Replace the wasm matMul kernels by the transpose-materializing ones (see wasm-matmul.ts). Default true. */
  patchWasmMatMul?: boolean;
  /**
   * Intra-op threads of the torch backend (ATen and OpenBLAS). Default 1: sweeps run one process per core.
   * Ignored by the other backends (wasm runs single-threaded in Node).
   */
  threads?: number;
}

export interface BackendInfo {
  requested: BackendChoice;
  /** `tf.getBackend()` after selection: 'torch', 'tensorflow' (tfjs-node), 'wasm' or 'cpu'. */
  name: string;
  tfjsVersion: string;
  wasmMatmulPatched: boolean;
  /** Compute threads the backend uses, where known. */
  threads?: number;
  notes: string[];
}

export interface BackendVersions {
  tfjs: string;
  tfjsCore: string;
  backend: string | null;
  node: string;
  wasm?: {
    version: string;
    simd: boolean;
    multithread: boolean;
    /** The binary tfjs loads for these features. */
    binary: string;
    threads: number | null;
    matmulPatched: boolean;
  };
  tfjsNode?: string;
  torch?: {
    /** libtorch's version (from the headers the addon was built against). */
    version: string;
    /** The BLAS library libtorch calls: openblas, mkl, reference (slow) or unknown. */
    blas: string;
    blasPath: string | null;
    threads: number;
  };
}

type WasmModule = typeof import('@tensorflow/tfjs-backend-wasm');

let wasmModule: WasmModule | null = null;
let tfjsNodeModule: Record<string, unknown> | null = null;
let torchModule: ReturnType<typeof loadTorch> | null = null;
let defaultThreads = 1;

/** Threads for the torch backend when `selectBackend` is not given any (the CLI's --threads). */
export function setDefaultThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1) throw new UserError(`--threads must be a whole number ≥ 1, got ${threads}`);
  defaultThreads = threads;
}

class BackendUnavailable extends Error {}

function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0]!.trim().replace(/\.$/, '');
}

function isMissingPackage(err: unknown, pkg: string): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && firstLine(err).includes(pkg);
}

async function activate(choice: ConcreteBackend): Promise<void> {
  const expected = TFJS_NAME[choice];
  let ok: boolean;
  try {
    ok = await tf.setBackend(expected);
    await tf.ready();
  } catch (err) {
    throw new BackendUnavailable(`failed to initialize: ${firstLine(err)}`);
  }
  // tfjs reports a failed backend start as a console warning and keeps (or falls back to) another backend.
  const active = tf.getBackend();
  if (!ok || active !== expected) {
    throw new BackendUnavailable(`failed to initialize (active backend is ${active ?? 'none'})`);
  }
}

async function loadTfjsNode(): Promise<void> {
  if (tfjsNodeModule === null) {
    // A variable specifier keeps tsc from requiring the optional package's types at build time.
    const specifier: string = '@tensorflow/tfjs-node';
    try {
      tfjsNodeModule = (await import(specifier)) as Record<string, unknown>;
    } catch (err) {
      if (isMissingPackage(err, specifier)) throw new BackendUnavailable(`${specifier} is not installed`);
      // Typical when its install script could not download libtensorflow: the package is there,
      // the native addon is not.
      throw new BackendUnavailable(`${specifier} failed to load: ${firstLine(err)}`);
    }
  }
  await activate('tfjs-node');
}

async function loadWasm(opts: SelectBackendOptions): Promise<void> {
  if (wasmModule === null) {
    try {
      wasmModule = await import('@tensorflow/tfjs-backend-wasm');
    } catch (err) {
      if (isMissingPackage(err, '@tensorflow/tfjs-backend-wasm')) {
        throw new BackendUnavailable('@tensorflow/tfjs-backend-wasm is not installed');
      }
      throw new BackendUnavailable(`@tensorflow/tfjs-backend-wasm failed to load: ${firstLine(err)}`);
    }
  }
  if (opts.patchWasmMatMul === false) unpatchWasmMatMul();
  else patchWasmMatMul();
  // Slicing copied the whole input per slice (see wasm-slice.ts); the fix changes speed, not results.
  patchWasmSlice();
  await activate('wasm');
}

async function loadTorchBackend(opts: SelectBackendOptions): Promise<void> {
  if (torchModule === null) {
    try {
      torchModule = loadTorch();
    } catch (err) {
      if (isMissingPackage(err, 'tfjs-backend-torch')) {
        throw new BackendUnavailable('tfjs-backend-torch is not installed (it builds at npm install where libtorch-dev and g++ are present)');
      }
      throw new BackendUnavailable(`tfjs-backend-torch failed to load: ${firstLine(err)}`);
    }
  }
  const missing = TORCH_REQUIRED_KERNELS.filter((k) => !torchKernelNames().includes(k));
  // Never a silent fallback: a backend without a kernel the models call is not selected at all.
  if (missing.length > 0) throw new BackendUnavailable(`no torch kernel for ${missing.join(', ')}`);
  const threads = opts.threads ?? defaultThreads;
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`threads must be a whole number ≥ 1, got ${threads}`);
  torchModule.native.SetThreads(threads);
  await activate('torch');
}

async function load(choice: ConcreteBackend, opts: SelectBackendOptions): Promise<void> {
  switch (choice) {
    case 'torch':
      return loadTorchBackend(opts);
    case 'tfjs-node':
      return loadTfjsNode();
    case 'wasm':
      return loadWasm(opts);
    case 'cpu':
      return activate('cpu');
  }
}

function threadsOf(name: string): number | undefined {
  if (name === 'wasm' && wasmModule !== null) return wasmModule.getThreadsCount();
  if (name === 'cpu') return 1;
  if (name === TORCH_BACKEND && torchModule !== null) return torchModule.native.Info().threads;
  // tfjs-node runs TensorFlow's own intra-op thread pool, sized by TensorFlow.
  return undefined;
}

function unavailable(choice: string, reason: string): Error {
  return new Error(`backend "${choice}" is not available: ${reason}; valid: ${BACKEND_CHOICES.join(', ')}`);
}

/**
 * Make `choice` the active tfjs backend. `auto` takes the first that starts of torch (optional dependency
 * with a native addon; only when it has every kernel the models call), tfjs-node (optional dependency), wasm
 * and cpu, and records why it skipped the others in `notes`; an explicit choice
 * throws a one-line error when that backend cannot be had. Safe to call repeatedly, also with
 * different choices.
 */
export async function selectBackend(
  choice: BackendChoice | string = 'auto',
  opts: SelectBackendOptions = {},
): Promise<BackendInfo> {
  if (!(BACKEND_CHOICES as readonly string[]).includes(choice)) {
    throw new Error(`unknown backend "${choice}"; valid: ${BACKEND_CHOICES.join(', ')}`);
  }
  const requested = choice as BackendChoice;
  const notes: string[] = [];

  if (requested === 'auto') {
    let selected = false;
    for (const candidate of AUTO_ORDER) {
      try {
        await load(candidate, opts);
        selected = true;
        break;
      } catch (err) {
        if (!(err instanceof BackendUnavailable)) throw err;
        notes.push(`${candidate} skipped: ${err.message}`);
      }
    }
    if (!selected) throw unavailable('auto', notes.join('; '));
  } else {
    try {
      await load(requested, opts);
    } catch (err) {
      if (err instanceof BackendUnavailable) throw unavailable(requested, err.message);
      throw err;
    }
  }

  const name = tf.getBackend();
  // The backend actually running, checked after start-up: tfjs can keep another one on a failed start.
  const expected = requested === 'auto' ? null : TFJS_NAME[requested];
  if (expected !== null && name !== expected) throw unavailable(requested, `tfjs runs on ${name} after selecting it`);
  const info: BackendInfo = {
    requested,
    name,
    tfjsVersion: tf.version.tfjs,
    wasmMatmulPatched: name === 'wasm' && isWasmMatMulPatched(),
    notes,
  };
  const threads = threadsOf(name);
  if (threads !== undefined) info.threads = threads;
  if (name === 'wasm' && !info.wasmMatmulPatched) {
    notes.push('wasm matMul patch disabled: transposed matMuls (every dense-layer gradient) run ~10x slower');
  }
  return info;
}

/** Versions and features of the tfjs stack in this process, for run metadata. */
export async function backendVersions(): Promise<BackendVersions> {
  const versions: BackendVersions = {
    tfjs: tf.version.tfjs,
    tfjsCore: tf.version_core,
    backend: tf.getBackend() ?? null,
    node: process.versions.node,
  };
  if (wasmModule !== null) {
    // These flags are registered by the wasm package, so they are only queryable once it is loaded.
    const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
    const multithread = Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'));
    const binary =
      simd && multithread
        ? 'tfjs-backend-wasm-threaded-simd.wasm'
        : simd
          ? 'tfjs-backend-wasm-simd.wasm'
          : 'tfjs-backend-wasm.wasm';
    let threads: number | null = null;
    try {
      threads = wasmModule.getThreadsCount();
    } catch {
      // getThreadsCount reads the live backend; before the wasm backend starts there is none.
    }
    versions.wasm = {
      version: wasmModule.version_wasm,
      simd,
      multithread,
      binary,
      threads,
      matmulPatched: isWasmMatMulPatched(),
    };
  }
  if (torchModule !== null && versions.backend === TORCH_BACKEND) {
    const native = torchModule.native.Info();
    const blas = torchModule.loadedBlas();
    versions.torch = { version: native.torchVersion, blas: blas.name, blasPath: blas.path, threads: native.threads };
  }
  if (tfjsNodeModule !== null) {
    const v = tfjsNodeModule['version'];
    if (typeof v === 'string') versions.tfjsNode = v;
    else if (v !== null && typeof v === 'object' && typeof (v as Record<string, unknown>)['tfjs-node'] === 'string') {
      versions.tfjsNode = (v as Record<string, string>)['tfjs-node'];
    }
  }
  return versions;
}
