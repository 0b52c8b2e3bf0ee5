/**
 * Training-throughput benchmark of every model on every backend that starts here (torch, wasm), against PyTorch.
 *
 *   npm run bench                      # human-readable
 *   npm run bench -- --json            # one JSON object on stdout
 *   npm run bench -- --seconds 2 --rounds 4 --case mlp
 *   npm run bench -- --case lstm --case tcn --no-torch
 *   npm run bench -- --backend wasm --wasm-unpatched   # wasm with and without the matMul fix
 *   npm run bench -- --require-torch   # exit 1 when the torch backend does not load
 *   npm run bench -- --grid-runs       # also the wall time of a fixed subset of the default grid's runs per backend
 *
 * The backends run in one process on the same model, in alternating blocks (A/B/A/B…), so slow
 * drift of a shared machine hits all alike; each backend's throughput is the median over blocks.
 * A timed step is a full training step: forward, backward, Adam update, and an await of the loss
 * value, so no work is left queued when the clock stops.
 *
 * Model cases (lstm, tcn, tabtransformer) train the registry's models with their default configs
 * (configs/model/<name>.yaml, batch size from its train block) on random inputs of the dev cohort's shapes.
 * When a PyTorch reference is available (shared/bench/torch_reference.py beside the checkout, run by /usr/bin/python3 with
 * python3-torch, or --torch-script / --python), the same architecture and shapes are timed there with
 * one thread, before and after the tfjs blocks, with the BLAS it ran on; each backend's throughput over PyTorch's is
 * printed, except against the reference BLAS (Debian's default without OpenBLAS), which is no comparison.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import * as tf from '@tensorflow/tfjs';

import {
  Rng,
  backendVersions,
  deriveIntSeed,
  patchWasmMatMul,
  selectBackend,
} from '../src/engine/index.js';
import { FEATURIZERS } from '../src/data/features/index.js';
import { generateSynthetic } from '../src/data/sources/synthetic.js';
import { getModel } from '../src/models/registry.js';
import type { FeatureNames } from '../src/models/types.js';
import { lstmReference } from '../src/models/layers/lstm-op.js';
import { parse as parseYaml } from 'yaml';
import { sharedDir } from './shared-dir.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { setupData, SETUP_DEFAULTS } from '../src/data/setup.js';
import { resolveRunConfig } from '../src/experiments/config.js';
import { executeRun } from '../src/experiments/run.js';
import { runDetection } from '../src/experiments/detection.js';

const SEED = 'bench';

interface BenchRunner {
  /** One full training step; resolves when its loss value is on the host. */
  step(): Promise<number>;
  dispose(): void;
}

interface BenchCase {
  name: string;
  /** Shapes and training setup, for the report. */
  description: string;
  samplesPerStep: number;
  setup(): BenchRunner;
  /** torch_reference.py arguments for the same architecture and shapes (without --threads). */
  torch?: string[];
  /** false: only on --case (variants of a model kept for comparison, not part of the default table). */
  byDefault?: boolean;
}

/** A fixed pool of seeded random batches, cycled through so data creation stays out of the timing. */
function makeBatches(
  name: string,
  pool: number,
  batch: number,
  features: number,
  positiveRate: number,
): { xs: tf.Tensor2D[]; ys: tf.Tensor2D[] } {
  const rng = new Rng(`${SEED}/${name}/data`);
  const xs: tf.Tensor2D[] = [];
  const ys: tf.Tensor2D[] = [];
  for (let i = 0; i < pool; i++) {
    const x = new Float32Array(batch * features);
    for (let j = 0; j < x.length; j++) x[j] = rng.normal();
    const y = new Float32Array(batch);
    for (let j = 0; j < batch; j++) y[j] = rng.bernoulli(positiveRate) ? 1 : 0;
    xs.push(tf.tensor2d(x, [batch, features]));
    ys.push(tf.tensor2d(y, [batch, 1]));
  }
  return { xs, ys };
}

interface MlpSpec {
  inputs: number;
  hidden: number[];
  batch: number;
}

function buildMlp(name: string, spec: MlpSpec): tf.Sequential {
  const model = tf.sequential();
  spec.hidden.forEach((units, i) => {
    model.add(
      tf.layers.dense({
        units,
        activation: 'relu',
        ...(i === 0 ? { inputShape: [spec.inputs] } : {}),
        kernelInitializer: tf.initializers.glorotUniform({ seed: deriveIntSeed(SEED, name, 'init', i) }),
      }),
    );
  });
  model.add(
    tf.layers.dense({
      units: 1,
      kernelInitializer: tf.initializers.glorotUniform({ seed: deriveIntSeed(SEED, name, 'init', 'out') }),
    }),
  );
  return model;
}

function describeMlp(spec: MlpSpec, how: string): string {
  return `MLP ${[spec.inputs, ...spec.hidden, 1].join('→')} (ReLU, 1 logit), batch ${spec.batch}, Adam, sigmoid cross-entropy, ${how}`;
}

/** Custom loop: optimizer.minimize over model.apply, as a hand-written trainer does it. */
function mlpMinimizeCase(name: string, spec: MlpSpec): BenchCase {
  return {
    name,
    description: describeMlp(spec, 'optimizer.minimize'),
    samplesPerStep: spec.batch,
    torch: ['mlp', '--features', String(spec.inputs), '--hidden', spec.hidden.join(','), '--batch', String(spec.batch)],
    setup() {
      const model = buildMlp(name, spec);
      const optimizer = tf.train.adam(1e-3);
      const { xs, ys } = makeBatches(name, 8, spec.batch, spec.inputs, 0.2);
      let i = 0;
      return {
        async step() {
          const x = xs[i % xs.length]!;
          const y = ys[i % ys.length]!;
          i++;
          const loss = optimizer.minimize(
            () => tf.losses.sigmoidCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
            true,
          );
          if (loss === null) throw new Error('optimizer.minimize returned no loss');
          const value = (await loss.data())[0]!;
          loss.dispose();
          return value;
        },
        dispose() {
          optimizer.dispose();
          model.dispose();
          tf.dispose([...xs, ...ys]);
        },
      };
    },
  };
}

/** tfjs-layers' own step (what model.fit runs per batch). */
function mlpTrainOnBatchCase(name: string, spec: MlpSpec): BenchCase {
  return {
    name,
    description: describeMlp(spec, 'model.trainOnBatch'),
    samplesPerStep: spec.batch,
    setup() {
      const model = buildMlp(name, spec);
      model.compile({
        optimizer: tf.train.adam(1e-3),
        loss: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.losses.sigmoidCrossEntropy(yTrue, yPred),
      });
      const { xs, ys } = makeBatches(name, 8, spec.batch, spec.inputs, 0.2);
      let i = 0;
      return {
        async step() {
          const x = xs[i % xs.length]!;
          const y = ys[i % ys.length]!;
          i++;
          const loss = await model.trainOnBatch(x, y);
          return Array.isArray(loss) ? loss[0]! : loss;
        },
        dispose() {
          model.optimizer.dispose();
          model.dispose();
          tf.dispose([...xs, ...ys]);
        },
      };
    },
  };
}

const MLP: MlpSpec = { inputs: 128, hidden: [256, 128], batch: 256 };

/** Row shapes and feature names of the dev cohort's views, from a small synthetic cohort of the same schema. */
function cohortViews(): { sequence: { shape: number[]; names: FeatureNames }; tabular: { shape: number[]; names: FeatureNames } } {
  const { cohort } = generateSynthetic({ nStays: 64, seed: 'bench' });
  const view = (name: 'sequence' | 'tabular') => {
    const f = FEATURIZERS[name];
    const features = f.transform(f.fit(cohort) as never, cohort);
    return { shape: features.rowShape, names: { names: features.names, sources: features.sources } };
  };
  return { sequence: view('sequence'), tabular: view('tabular') };
}

/** The model section and training batch size of configs/model/<name>.yaml. */
function defaultConfig(name: string): { model: Record<string, unknown>; batch: number } {
  const path = join('configs', 'model', `${name}.yaml`);
  const raw = existsSync(path) ? ((parseYaml(readFileSync(path, 'utf8')) ?? {}) as Record<string, unknown>) : {};
  const { train, ...model } = raw;
  const batch = Number((train as Record<string, unknown> | undefined)?.batch_size ?? 256);
  return { model, batch };
}

/** A seeded pool of random input batches of `shape` and random labels (prevalence 0.125, as the cohort). */
function makeModelBatches(name: string, pool: number, batch: number, shape: number[]): { xs: tf.Tensor[]; ys: tf.Tensor1D[] } {
  const rng = new Rng(`${SEED}/${name}/data`);
  const size = shape.reduce((a, b) => a * b, 1);
  const xs: tf.Tensor[] = [];
  const ys: tf.Tensor1D[] = [];
  for (let i = 0; i < pool; i++) {
    const x = new Float32Array(batch * size);
    for (let j = 0; j < x.length; j++) x[j] = rng.normal();
    xs.push(tf.tensor(x, [batch, ...shape]));
    ys.push(tf.tensor1d(Float32Array.from({ length: batch }, () => (rng.bernoulli(0.125) ? 1 : 0))));
  }
  return { xs, ys };
}

/** A training step as src/train/trainer.ts takes it: optimizer.minimize over model.logits with a dropout seed. */
function trainerStep(logits: (x: tf.Tensor, dropoutSeed: number) => tf.Tensor, weights: tf.Variable[], optimizer: tf.Optimizer, xs: tf.Tensor[], ys: tf.Tensor1D[]): () => Promise<number> {
  let i = 0;
  return async () => {
    const x = xs[i % xs.length]!;
    const y = ys[i % ys.length]!;
    i++;
    const loss = optimizer.minimize(() => tf.losses.sigmoidCrossEntropy(y, logits(x, i)) as tf.Scalar, true, weights);
    if (loss === null) throw new Error('optimizer.minimize returned no loss');
    const value = (await loss.data())[0]!;
    loss.dispose();
    return value;
  };
}

const VIEWS = cohortViews();

/** One of the registry's models with its default config. */
function registryModelCase(
  caseName: string,
  modelName: string,
  describe: (config: any, shape: number[], batch: number) => string,
  torch: (config: any, shape: number[], batch: number) => string[],
  overrides: Record<string, unknown> = {},
): BenchCase {
  const spec = getModel(modelName);
  const { model: raw, batch } = defaultConfig(modelName);
  const config = spec.resolveConfig({ ...raw, ...overrides });
  const view = VIEWS[spec.view as 'sequence' | 'tabular'];
  return {
    name: caseName,
    description: `${describe(config, view.shape, batch)}, batch ${batch}, Adam, sigmoid cross-entropy, optimizer.minimize (configs/model/${modelName}.yaml${Object.keys(overrides).length > 0 ? ` with ${JSON.stringify(overrides)}` : ''})`,
    samplesPerStep: batch,
    torch: torch(config, view.shape, batch),
    setup() {
      const model = spec.build(view.shape, config, SEED, view.names);
      const optimizer = tf.train.adam(1e-3);
      const { xs, ys } = makeModelBatches(caseName, 4, batch, view.shape);
      return {
        step: trainerStep((x, seed) => model.logits(x, seed), model.trainableWeights(), optimizer, xs, ys),
        dispose() {
          optimizer.dispose();
          model.dispose();
          tf.dispose([...xs, ...ys]);
        },
      };
    },
  };
}

const MLP_CASE = registryModelCase(
  'mlp',
  'mlp',
  (c, shape) => `MLP ${[shape[0], ...c.hidden_units, 1].join('→')} (${c.activation}, dropout ${c.dropout})`,
  (c, shape, batch) => ['mlp', '--features', String(shape[0]), '--hidden', c.hidden_units.join(','), '--dropout', String(c.dropout), '--batch', String(batch)],
);

const seqShape = (shape: number[]) => `${shape[0]} steps × ${shape[1]} channels`;

const LSTM_CASE = registryModelCase(
  'lstm',
  'lstm',
  (c, shape) => `LSTM ${seqShape(shape)} → ${c.layers}×${c.hidden_units} units, ${c.pooling} state → 1 logit, fused cell`,
  (c, shape, batch) => ['lstm', '--seq-len', String(shape[0]), '--channels', String(shape[1]), '--hidden', String(c.hidden_units), '--batch', String(batch)],
);

/** The same LSTM with tfjs autodiff through a step loop of tf ops (the fused op's reference). */
function lstmAutodiffCase(): BenchCase {
  const spec = getModel('lstm');
  const { model: raw, batch } = defaultConfig('lstm');
  const c = spec.resolveConfig(raw) as { hidden_units: number };
  const shape = VIEWS.sequence.shape;
  const H = c.hidden_units;
  return {
    name: 'lstm-autodiff',
    description: `LSTM ${seqShape(shape)} → ${H} units, last state → 1 logit, step loop of tf ops with autodiff, batch ${batch}`,
    samplesPerStep: batch,
    setup() {
      const init = (k: string, shp: number[], sd: number) => tf.variable(tf.randomNormal(shp, 0, sd, 'float32', deriveIntSeed(SEED, 'lstm-autodiff', k)));
      const wx = init('wx', [shape[1]!, 4 * H], 0.1);
      const wh = init('wh', [H, 4 * H], 0.1);
      const b = tf.variable(tf.zeros([4 * H]));
      const wo = init('wo', [H, 1], 0.1);
      const optimizer = tf.train.adam(1e-3);
      const { xs, ys } = makeModelBatches('lstm-autodiff', 4, batch, shape);
      const logits = (x: tf.Tensor) => tf.matMul(lstmReference(x as tf.Tensor3D, wx as tf.Tensor2D, wh as tf.Tensor2D, b as tf.Tensor1D, false) as tf.Tensor2D, wo).reshape([-1]);
      return {
        step: trainerStep(logits, [wx, wh, b, wo], optimizer, xs, ys),
        dispose() {
          optimizer.dispose();
          tf.dispose([wx, wh, b, wo, ...xs, ...ys]);
        },
      };
    },
  };
}

/** tf.layers.lstm (sigmoid gates, as the fused op) with a dense head. */
function lstmLayersCase(): BenchCase {
  const spec = getModel('lstm');
  const { model: raw, batch } = defaultConfig('lstm');
  const c = spec.resolveConfig(raw) as { hidden_units: number };
  const shape = VIEWS.sequence.shape;
  return {
    name: 'lstm-layers',
    description: `tf.layers.lstm ${seqShape(shape)} → ${c.hidden_units} units (recurrentActivation sigmoid), last state → 1 logit, batch ${batch}`,
    samplesPerStep: batch,
    setup() {
      const model = tf.sequential({
        layers: [
          tf.layers.lstm({
            units: c.hidden_units,
            recurrentActivation: 'sigmoid',
            inputShape: shape,
            kernelInitializer: tf.initializers.glorotUniform({ seed: deriveIntSeed(SEED, 'lstm-layers', 'kernel') }),
            recurrentInitializer: tf.initializers.glorotUniform({ seed: deriveIntSeed(SEED, 'lstm-layers', 'recurrent') }),
          }),
          tf.layers.dense({ units: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: deriveIntSeed(SEED, 'lstm-layers', 'out') }) }),
        ],
      });
      const optimizer = tf.train.adam(1e-3);
      const { xs, ys } = makeModelBatches('lstm-layers', 4, batch, shape);
      const weights = model.trainableWeights.map((w) => w.read() as tf.Variable);
      return {
        step: trainerStep((x) => (model.apply(x, { training: true }) as tf.Tensor).reshape([-1]), weights, optimizer, xs, ys),
        dispose() {
          optimizer.dispose();
          model.dispose();
          tf.dispose([...xs, ...ys]);
        },
      };
    },
  };
}

const describeTcn = (c: any, shape: number[]) =>
  `TCN ${seqShape(shape)} → ${c.dilations.length} blocks × ${c.filters} filters (kernel ${c.kernel_size}, dilations ${c.dilations.join(',')}${c.weight_norm ? ', weight norm' : ''}), ${c.pooling} step${c.pooling === 'last' ? ' (only the steps it reads are computed)' : 's'} → 1 logit`;
const tcnReference = (c: any, shape: number[], batch: number) => [
  'tcn', '--seq-len', String(shape[0]), '--channels', String(shape[1]), '--filters', String(c.filters),
  '--kernel', String(c.kernel_size), '--dilations', c.dilations.join(','), '--batch', String(batch),
];
const TCN_CASE = registryModelCase('tcn', 'tcn', describeTcn, tcnReference);
// Mean pooling reads every step, so every step is computed, as the PyTorch reference (which mean-pools) does.
const TCN_EVERY_STEP_CASE = registryModelCase('tcn-every-step', 'tcn', describeTcn, tcnReference, { pooling: 'mean' });

const TABTRANSFORMER_CASE = registryModelCase(
  'tabtransformer',
  'tabtransformer',
  (c, shape) => {
    const tokens = c.tokenizer === 'variable' ? new Set(VIEWS.tabular.names.sources).size : shape[0];
    return `FT-Transformer ${shape[0]} features → ${tokens} ${c.tokenizer} tokens + CLS, d=${c.d_token}, ${c.heads} heads, ${c.blocks} blocks, FFN ${c.ffn_hidden}`;
  },
  // The reference tokenizes one token per feature: it is given as many features as this model has tokens.
  (c, shape, batch) => [
    'transformer', '--features', String(c.tokenizer === 'variable' ? new Set(VIEWS.tabular.names.sources).size : shape[0]),
    '--d-model', String(c.d_token), '--heads', String(c.heads), '--layers', String(c.blocks), '--ff', String(c.ffn_hidden), '--batch', String(batch),
  ],
);

const CASES: BenchCase[] = [
  MLP_CASE,
  { ...mlpMinimizeCase('mlp-layers', MLP), byDefault: false },
  { ...mlpTrainOnBatchCase('mlp-trainOnBatch', MLP), byDefault: false },
  LSTM_CASE,
  { ...lstmAutodiffCase(), byDefault: false },
  { ...lstmLayersCase(), byDefault: false },
  TCN_CASE,
  TCN_EVERY_STEP_CASE,
  TABTRANSFORMER_CASE,
];

interface VariantResult {
  /** The backend (wasm-unpatched: wasm without the matMul fix). */
  variant: string;
  samplesPerSec: number;
  msPerStep: number;
  blocks: number[];
  stepsPerBlock: number;
}

interface CaseResult {
  case: string;
  description: string;
  results: VariantResult[];
  torch?: TorchResult;
}

interface TorchResult {
  args: string[];
  /** The mean of the runs before and after the tfjs measurement. */
  samplesPerSec?: number;
  /** samples/s of the run before and of the run after. */
  runs?: [number, number];
  version?: string;
  /** The BLAS PyTorch ran on (torch_reference.py's "blas": openblas, mkl or reference). */
  blas?: string;
  /** Each backend's samples/s over PyTorch's; absent against the reference BLAS, which is no comparison. */
  ratios?: Record<string, number>;
  error?: string;
}

/** Runs the PyTorch reference for one case; an error message instead when it cannot run. */
function runTorch(python: string, script: string, args: string[], samples: number, epochs: number): TorchResult {
  const full = [...args, '--threads', '1', '--samples', String(samples), '--epochs', String(epochs)];
  if (!existsSync(script)) return { args: full, error: `${script} not found` };
  const r = spawnSync(python, [script, ...full], { encoding: 'utf8', timeout: 600_000 });
  if (r.error) return { args: full, error: `${python}: ${r.error.message}` };
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    const out = JSON.parse(line) as { samples_per_s: number; torch: string; blas?: string };
    return { args: full, samplesPerSec: out.samples_per_s, version: out.torch, blas: out.blas ?? 'unknown' };
  } catch {
    const why = (r.stderr.trim().split('\n').pop() ?? '').trim() || `exit ${r.status}`;
    return { args: full, error: why };
  }
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function timeSteps(runner: BenchRunner, steps: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await runner.step();
  return (performance.now() - t0) / 1000;
}

/** A backend the bench compares; `apply` makes it the active one (the runner's tensors follow lazily). */
interface Variant {
  name: string;
  apply(): Promise<void>;
}

async function runCase(c: BenchCase, variants: Variant[], secondsPerVariant: number, rounds: number): Promise<CaseResult> {
  // One runner per backend, made while it is active: tfjs does not move a tensor's data to the backend a
  // kernel runs on, so each backend trains its own copy (the same seeded initial weights and batches).
  const runners = new Map<string, BenchRunner>();
  try {
    for (const v of variants) {
      await v.apply();
      runners.set(v.name, c.setup());
    }
    // Warm-up per variant also calibrates how many steps fill one block.
    const stepsPerBlock = new Map<string, number>();
    const blockSeconds = secondsPerVariant / rounds;
    for (const v of variants) {
      await v.apply();
      const runner = runners.get(v.name)!;
      let warm = 0;
      const warmStart = performance.now();
      while (warm < 5 || performance.now() - warmStart < 500) {
        await runner.step();
        warm++;
      }
      const probe = 5;
      const perStep = (await timeSteps(runner, probe)) / probe;
      stepsPerBlock.set(v.name, Math.max(3, Math.round(blockSeconds / perStep)));
    }
    const blocks = new Map<string, number[]>(variants.map((v) => [v.name, []]));
    for (let r = 0; r < rounds; r++) {
      for (const v of variants) {
        await v.apply();
        const runner = runners.get(v.name)!;
        await runner.step();
        const steps = stepsPerBlock.get(v.name)!;
        const seconds = await timeSteps(runner, steps);
        blocks.get(v.name)!.push((steps * c.samplesPerStep) / seconds);
      }
    }
    const results = variants.map((v): VariantResult => {
      const b = blocks.get(v.name)!;
      const sps = median(b);
      return { variant: v.name, samplesPerSec: sps, msPerStep: (1000 * c.samplesPerStep) / sps, blocks: b, stepsPerBlock: stepsPerBlock.get(v.name)! };
    });
    return { case: c.name, description: c.description, results };
  } finally {
    for (const v of variants) {
      const runner = runners.get(v.name);
      if (runner === undefined) continue;
      await v.apply();
      runner.dispose();
    }
    patchWasmMatMul();
  }
}

interface GridRunCost {
  backend: string;
  /** Seconds per model: training and evaluation, then its detectors. */
  models: { model: string; trainSeconds: number; detectSeconds: number }[];
  totalSeconds: number;
}

/**
 * Wall time of a fixed subset of the default `all` grid on each backend: per model one poisoned run (rare_value,
 * 5%, seed 0) with the grid's settings (configs/benchmark/default.yaml: epochs, last-epoch selection, per-model
 * overrides) and the grid's detectors, on the embedded dev cohort. Data loading, featurizing and detection count.
 */
async function gridRunCost(variants: Variant[], log: (line: string) => void): Promise<GridRunCost[]> {
  const grid = parseYaml(readFileSync(join('configs', 'benchmark', 'default.yaml'), 'utf8')) as {
    detectors: string[];
    extra_detectors?: Record<string, string[]>;
    overrides?: { train?: Record<string, unknown> };
    per_model?: Record<string, { model?: Record<string, unknown>; train?: Record<string, unknown> } | null>;
  };
  const work = mkdtempSync(join(tmpdir(), 'backdoor-bench-grid-'));
  try {
    const dataDir = join(work, 'data');
    await setupData({ dataDir, ...SETUP_DEFAULTS });
    const data = { path: join(dataDir, 'dev', 'dev.parquet'), splits: join(dataDir, 'splits', 'splits.json') };
    const costs: GridRunCost[] = [];
    for (const v of variants.filter((x) => x.name !== 'wasm-unpatched')) {
      const cost: GridRunCost = { backend: v.name, models: [], totalSeconds: 0 };
      for (const model of ['mlp', 'lstm', 'tcn', 'tabtransformer']) {
        const own = grid.per_model?.[model] ?? {};
        const config = resolveRunConfig({
          overrides: {
            data,
            seed: 0,
            backend: v.name,
            model: { name: model, ...(own.model ?? {}) },
            trigger: { name: 'rare_value' },
            poison: { rate: 0.05 },
            train: { ...(grid.overrides?.train ?? {}), ...(own.train ?? {}) },
          },
        });
        let t = performance.now();
        const run = await executeRun(config, { runsDir: join(work, 'runs', v.name) });
        const trainSeconds = (performance.now() - t) / 1000;
        t = performance.now();
        await runDetection(run.dir, { methods: [...grid.detectors, ...(grid.extra_detectors?.[model] ?? [])], backend: v.name });
        const detectSeconds = (performance.now() - t) / 1000;
        cost.models.push({ model, trainSeconds, detectSeconds });
        cost.totalSeconds += trainSeconds + detectSeconds;
        log(`  ${v.name.padEnd(6)} ${model.padEnd(15)} run ${fmt(trainSeconds, 1).padStart(6)} s, detectors ${fmt(detectSeconds, 1).padStart(6)} s`);
      }
      costs.push(cost);
    }
    return costs;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      seconds: { type: 'string', default: '4' },
      rounds: { type: 'string', default: '5' },
      case: { type: 'string', multiple: true },
      backend: { type: 'string', multiple: true },
      'wasm-unpatched': { type: 'boolean', default: false },
      'require-torch': { type: 'boolean', default: false },
      torch: { type: 'boolean', default: true },
      'grid-runs': { type: 'boolean', default: false },
      python: { type: 'string', default: '/usr/bin/python3' },
      'torch-script': { type: 'string', default: join(sharedDir(), 'bench', 'torch_reference.py') },
      'torch-samples': { type: 'string', default: '10240' },
      'torch-epochs': { type: 'string', default: '3' },
    },
    allowNegative: true,
  });
  const secondsPerVariant = Number(values.seconds);
  const rounds = Number(values.rounds);
  if (!(secondsPerVariant > 0) || !Number.isInteger(rounds) || rounds < 1) {
    throw new Error('--seconds must be > 0 and --rounds a positive integer');
  }
  const wanted = values.case ?? CASES.filter((c) => c.byDefault !== false).map((c) => c.name);
  const unknown = wanted.filter((n) => !CASES.some((c) => c.name === n));
  if (unknown.length > 0) {
    throw new Error(`unknown case ${unknown.join(', ')}; valid: ${CASES.map((c) => c.name).join(', ')}`);
  }
  const log = (line: string): void => {
    if (!values.json) console.log(line);
  };

  // Every backend that starts here, in the order auto prefers them; wasm also without its matMul fix on request.
  const BENCH_BACKENDS = ['torch', 'wasm', 'cpu'] as const;
  const requested = values.backend ?? ['torch', 'wasm'];
  const bad = requested.filter((b) => !(BENCH_BACKENDS as readonly string[]).includes(b));
  if (bad.length > 0) throw new Error(`unknown backend ${bad.join(', ')}; valid: ${BENCH_BACKENDS.join(', ')}`);
  const variants: Variant[] = [];
  const skipped: string[] = [];
  const versionsOf: Record<string, unknown> = {};
  for (const name of BENCH_BACKENDS.filter((b) => requested.includes(b))) {
    try {
      const info = await selectBackend(name);
      const v = await backendVersions();
      versionsOf[name] = { info, versions: v };
      if (name === 'torch') log(`backend torch: libtorch ${v.torch!.version}, BLAS ${v.torch!.blas} (${v.torch!.blasPath ?? 'path unknown'}), ${v.torch!.threads} thread`);
      else if (name === 'wasm') log(`backend wasm: tfjs ${info.tfjsVersion}, ${v.wasm?.binary ?? '?'}, ${info.threads ?? '?'} thread, matMul fix on`);
      else log(`backend ${name}: tfjs ${info.tfjsVersion}`);
      variants.push({ name, apply: async () => void (await selectBackend(name)) });
      if (name === 'wasm' && values['wasm-unpatched']) variants.push({ name: 'wasm-unpatched', apply: async () => void (await selectBackend('wasm', { patchWasmMatMul: false })) });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      skipped.push(name);
      log(`backend ${name}: not available (${why})`);
      versionsOf[name] = { error: why };
    }
  }
  if (values['require-torch'] && skipped.includes('torch')) {
    console.error('--require-torch: the torch backend did not load');
    process.exitCode = 1;
    return;
  }
  if (variants.length === 0) throw new Error('no backend available');
  log(`node ${process.versions.node}; ${rounds} alternating blocks per backend, ~${fmt(secondsPerVariant, 1)} s per backend; medians over blocks`);

  const cases: CaseResult[] = [];
  for (const c of CASES.filter((x) => wanted.includes(x.name))) {
    log(`\n${c.name}: ${c.description}`);
    const useTorch = Boolean(values.torch && c.torch);
    const torchRun = () => runTorch(values.python!, values['torch-script']!, c.torch!, Number(values['torch-samples']), Number(values['torch-epochs']));
    // PyTorch runs right before and right after the tfjs blocks, and the ratio uses their mean: a shared
    // machine's speed drifts by tens of percent over minutes, and bracketing puts both under the same drift.
    const torchBefore = useTorch ? torchRun() : undefined;
    const result = await runCase(c, variants, secondsPerVariant, rounds);
    const torchAfter = useTorch ? torchRun() : undefined;
    cases.push(result);
    for (const r of result.results) {
      const lo = Math.min(...r.blocks);
      const hi = Math.max(...r.blocks);
      log(
        `  ${r.variant.padEnd(14)} ${fmt(r.samplesPerSec).padStart(8)} samples/s  ${fmt(r.msPerStep, 1).padStart(6)} ms/step  ` +
          `(blocks ${fmt(lo)}–${fmt(hi)}, ${r.stepsPerBlock} steps each)`,
      );
    }
    if (torchBefore && torchAfter) {
      const torch: TorchResult = torchBefore.error ? torchBefore : torchAfter.error ? torchAfter : { ...torchBefore, runs: [torchBefore.samplesPerSec!, torchAfter.samplesPerSec!] };
      if (torch.runs) {
        torch.samplesPerSec = (torch.runs[0] + torch.runs[1]) / 2;
        if (torch.blas !== 'reference') torch.ratios = Object.fromEntries(result.results.map((r) => [r.variant, r.samplesPerSec / torch.samplesPerSec!]));
      }
      result.torch = torch;
      if (torch.error) log(`  PyTorch reference unavailable: ${torch.error}`);
      else {
        log(
          `  PyTorch ${torch.version} (1 thread, BLAS ${torch.blas}) ${fmt(torch.samplesPerSec!).padStart(8)} samples/s (before ${fmt(torch.runs![0])}, after ${fmt(torch.runs![1])})   [torch_reference.py ${torch.args.join(' ')}]`,
        );
        if (torch.ratios) log(`  over PyTorch: ${Object.entries(torch.ratios).map(([b, r]) => `${b} ${fmt(r, 2)}×`).join(', ')}`);
        else log('  no ratio: PyTorch ran on the reference BLAS, which no user runs (install libopenblas0-pthread)');
      }
    }
  }

  if (!values.json) {
    const names = variants.map((v) => v.name);
    log('\nsummary (samples/s; ratio = backend / PyTorch, one thread each)');
    log(`  ${'case'.padEnd(16)} ${names.map((n) => n.padStart(14)).join(' ')} ${'PyTorch'.padStart(9)} ${'BLAS'.padStart(9)}  ratios`);
    for (const r of cases) {
      const cells = names.map((n) => fmt(r.results.find((v) => v.variant === n)!.samplesPerSec).padStart(14)).join(' ');
      const t = r.torch;
      const ratios = t?.ratios ? names.map((n) => `${n} ${fmt(t.ratios![n]!, 2)}×`).join(', ') : t?.blas === 'reference' ? 'refused (reference BLAS)' : '–';
      log(`  ${r.case.padEnd(16)} ${cells} ${(t?.samplesPerSec ? fmt(t.samplesPerSec) : '–').padStart(9)} ${(t?.blas ?? '–').padStart(9)}  ${ratios}`);
    }
  }

  let grid: GridRunCost[] | undefined;
  if (values['grid-runs']) {
    log('\nper-run cost of the default grid (one rare_value 5% run per model, seed 0, its epochs and detectors, dev cohort)');
    grid = await gridRunCost(variants, log);
    for (const g of grid) log(`  ${g.backend.padEnd(6)} total ${fmt(g.totalSeconds, 1)} s`);
    const torchCost = grid.find((g) => g.backend === 'torch');
    const wasmCost = grid.find((g) => g.backend === 'wasm');
    if (torchCost && wasmCost) log(`  wasm / torch wall time ${fmt(wasmCost.totalSeconds / torchCost.totalSeconds, 2)}×`);
  }

  if (values.json) {
    console.log(JSON.stringify({ backends: versionsOf, secondsPerVariant, rounds, cases, grid }, null, 2));
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
});
