/**
 * Training-throughput benchmark of the wasm backend with and without the matMul patch.
 *
 *   npm run bench                      # human-readable
 *   npm run bench -- --json            # one JSON object on stdout
 *   npm run bench -- --seconds 2 --rounds 4 --case mlp
 *
 * Both variants run in one process on the same model, in alternating blocks (A/B/A/B…), so slow
 * drift of a shared machine hits both alike; each variant's throughput is the median over blocks.
 * A timed step is a full training step: forward, backward, Adam update, and an await of the loss
 * value, so no work is left queued when the clock stops.
 */
import { parseArgs } from 'node:util';

import * as tf from '@tensorflow/tfjs';

import {
  Rng,
  backendVersions,
  deriveIntSeed,
  patchWasmMatMul,
  selectBackend,
  unpatchWasmMatMul,
} from '../src/engine/index.js';

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
}

interface Variant {
  name: string;
  apply(): void;
}

const VARIANTS: Variant[] = [
  { name: 'unpatched', apply: unpatchWasmMatMul },
  { name: 'patched', apply: patchWasmMatMul },
];

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

const CASES: BenchCase[] = [mlpMinimizeCase('mlp', MLP), mlpTrainOnBatchCase('mlp-trainOnBatch', MLP)];

interface VariantResult {
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
  /** patched / unpatched median throughput. */
  ratio: number;
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

async function runCase(c: BenchCase, secondsPerVariant: number, rounds: number): Promise<CaseResult> {
  const runner = c.setup();
  try {
    // Warm-up per variant also calibrates how many steps fill one block.
    const stepsPerBlock = new Map<string, number>();
    const blockSeconds = secondsPerVariant / rounds;
    for (const v of VARIANTS) {
      v.apply();
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
    const blocks = new Map<string, number[]>(VARIANTS.map((v) => [v.name, []]));
    for (let r = 0; r < rounds; r++) {
      for (const v of VARIANTS) {
        v.apply();
        await runner.step();
        const steps = stepsPerBlock.get(v.name)!;
        const seconds = await timeSteps(runner, steps);
        blocks.get(v.name)!.push((steps * c.samplesPerStep) / seconds);
      }
    }
    const results = VARIANTS.map((v): VariantResult => {
      const b = blocks.get(v.name)!;
      const sps = median(b);
      return {
        variant: v.name,
        samplesPerSec: sps,
        msPerStep: (1000 * c.samplesPerStep) / sps,
        blocks: b,
        stepsPerBlock: stepsPerBlock.get(v.name)!,
      };
    });
    const byName = new Map(results.map((r) => [r.variant, r.samplesPerSec]));
    return {
      case: c.name,
      description: c.description,
      results,
      ratio: byName.get('patched')! / byName.get('unpatched')!,
    };
  } finally {
    runner.dispose();
    patchWasmMatMul();
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
    },
  });
  const secondsPerVariant = Number(values.seconds);
  const rounds = Number(values.rounds);
  if (!(secondsPerVariant > 0) || !Number.isInteger(rounds) || rounds < 1) {
    throw new Error('--seconds must be > 0 and --rounds a positive integer');
  }
  const wanted = values.case ?? CASES.map((c) => c.name);
  const unknown = wanted.filter((n) => !CASES.some((c) => c.name === n));
  if (unknown.length > 0) {
    throw new Error(`unknown case ${unknown.join(', ')}; valid: ${CASES.map((c) => c.name).join(', ')}`);
  }

  const backend = await selectBackend('wasm');
  const versions = await backendVersions();
  const log = (line: string): void => {
    if (!values.json) console.log(line);
  };
  log(
    `backend ${backend.name} (tfjs ${backend.tfjsVersion}, ${versions.wasm?.binary ?? '?'}, ` +
      `${backend.threads ?? '?'} thread${backend.threads === 1 ? '' : 's'}), node ${versions.node}`,
  );
  log(`${rounds} alternating blocks per variant, ~${fmt(secondsPerVariant, 1)} s per variant; medians over blocks`);

  const cases: CaseResult[] = [];
  for (const c of CASES.filter((x) => wanted.includes(x.name))) {
    log(`\n${c.name}: ${c.description}`);
    const result = await runCase(c, secondsPerVariant, rounds);
    cases.push(result);
    for (const r of result.results) {
      const lo = Math.min(...r.blocks);
      const hi = Math.max(...r.blocks);
      log(
        `  ${r.variant.padEnd(10)} ${fmt(r.samplesPerSec).padStart(8)} samples/s  ${fmt(r.msPerStep, 1).padStart(6)} ms/step  ` +
          `(blocks ${fmt(lo)}–${fmt(hi)}, ${r.stepsPerBlock} steps each)`,
      );
    }
    log(`  patched/unpatched ${fmt(result.ratio, 2)}×`);
  }

  if (values.json) {
    console.log(JSON.stringify({ backend, versions, secondsPerVariant, rounds, cases }, null, 2));
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
});
