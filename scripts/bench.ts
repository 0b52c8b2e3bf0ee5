/**
 * Training-throughput benchmark of the wasm backend with and without the matMul patch.
 *
 *   npm run bench                      # human-readable
 *   npm run bench -- --json            # one JSON object on stdout
 *   npm run bench -- --seconds 2 --rounds 4 --case mlp
 *   npm run bench -- --case lstm --case tcn --no-torch
 *
 * Both variants run in one process on the same model, in alternating blocks (A/B/A/B…), so slow
 * drift of a shared machine hits both alike; each variant's throughput is the median over blocks.
 * A timed step is a full training step: forward, backward, Adam update, and an await of the loss
 * value, so no work is left queued when the clock stops.
 *
 * Model cases (lstm, tcn, tabtransformer) train the registry's models with their default configs
 * (their schema defaults, batch size from configs/model/<name>.yaml's train block) on random inputs of the dev cohort's shapes.
 * The PyTorch reference (bench/torch_reference.py of the shared folder, $BACKDOOR_SHARED or shared/ beside the checkout,
 * run by /usr/bin/python3 with python3-torch, or --torch-script / --python) times the same architecture and shapes with
 * one thread, and the tfjs (patched) / PyTorch throughput ratio is printed. The two run one after the other,
 * so a shared machine's load can differ between them. Without the script the bench stops at once with one line
 * naming it and exit code 2; --no-torch times TensorFlow.js alone.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';

import {
  backendVersions,
  patchWasmMatMul,
  selectBackend,
} from '../src/engine/index.js';
import { exitIfMissing, sharedPath } from './shared-dir.js';
import { CASES, VARIANTS, type BenchCase, type BenchRunner } from './bench-cases.js';

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
  torch?: TorchResult;
}

interface TorchResult {
  args: string[];
  /** The mean of the runs before and after the tfjs measurement. */
  samplesPerSec?: number;
  /** samples/s of the run before and of the run after. */
  runs?: [number, number];
  version?: string;
  /** tfjs (patched) / PyTorch samples per second. */
  ratio?: number;
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
    const out = JSON.parse(line) as { samples_per_s: number; torch: string };
    return { args: full, samplesPerSec: out.samples_per_s, version: out.torch };
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
      torch: { type: 'boolean', default: true },
      python: { type: 'string', default: '/usr/bin/python3' },
      'torch-script': { type: 'string', default: sharedPath('torchReference') },
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
  if (values.torch) exitIfMissing(values['torch-script']!, 'torchReference', '--torch-script');
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
    const useTorch = Boolean(values.torch && c.torch);
    const torchRun = () => runTorch(values.python!, values['torch-script']!, c.torch!, Number(values['torch-samples']), Number(values['torch-epochs']));
    // PyTorch runs right before and right after the tfjs blocks, and the ratio uses their mean: a shared
    // machine's speed drifts by tens of percent over minutes, and bracketing puts both under the same drift.
    const torchBefore = useTorch ? torchRun() : undefined;
    const result = await runCase(c, secondsPerVariant, rounds);
    const torchAfter = useTorch ? torchRun() : undefined;
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
    if (torchBefore && torchAfter) {
      const torch: TorchResult = torchBefore.error ? torchBefore : torchAfter.error ? torchAfter : { ...torchBefore, runs: [torchBefore.samplesPerSec!, torchAfter.samplesPerSec!] };
      const patched = result.results.find((r) => r.variant === 'patched')!.samplesPerSec;
      if (torch.runs) {
        torch.samplesPerSec = (torch.runs[0] + torch.runs[1]) / 2;
        torch.ratio = patched / torch.samplesPerSec;
      }
      result.torch = torch;
      if (torch.error) log(`  PyTorch reference unavailable: ${torch.error}`);
      else {
        log(
          `  PyTorch ${torch.version} (1 thread) ${fmt(torch.samplesPerSec!).padStart(8)} samples/s (before ${fmt(torch.runs![0])}, after ${fmt(torch.runs![1])})  ` +
            `tfjs/PyTorch ${fmt(torch.ratio!, 2)}×   [torch_reference.py ${torch.args.join(' ')}]`,
        );
      }
    }
  }

  if (!values.json) {
    log('\nsummary (tfjs patched vs PyTorch, samples/s)');
    log(`  ${'case'.padEnd(18)} ${'tfjs'.padStart(9)} ${'PyTorch'.padStart(9)} ${'ratio'.padStart(7)}`);
    for (const r of cases) {
      const tfjs = r.results.find((v) => v.variant === 'patched')!.samplesPerSec;
      const torch = r.torch?.samplesPerSec;
      log(`  ${r.case.padEnd(18)} ${fmt(tfjs).padStart(9)} ${(torch ? fmt(torch) : '–').padStart(9)} ${(r.torch?.ratio ? fmt(r.torch.ratio, 2) + '×' : '–').padStart(7)}`);
    }
  }

  if (values.json) {
    console.log(JSON.stringify({ backend, versions, secondsPerVariant, rounds, cases }, null, 2));
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
});
