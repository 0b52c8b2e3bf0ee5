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
 * A timed step is a full training step, the trainer's own (src/train/trainer.ts trainingStep): forward, backward,
 * Adam update, and an await of the loss value, so no work is left queued when the clock stops.
 *
 * Model cases (scripts/bench-cases.ts: mlp, lstm, tcn, tabtransformer) train the registry's models with their
 * default configs (configs/model/<name>.yaml, batch size from its train block) on random inputs of the dev cohort's
 * shapes. The PyTorch reference is scripts/bench-torch.ts, --grid-runs scripts/bench-grid.ts.
 * When a PyTorch reference is available (shared/bench/torch_reference.py beside the checkout, run by /usr/bin/python3 with
 * python3-torch, or --torch-script / --python), the same architecture and shapes are timed there with
 * one thread, before and after the tfjs blocks, with the BLAS it ran on; each backend's throughput over PyTorch's is
 * printed, except against the reference BLAS (Debian's default without OpenBLAS), which is no comparison.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { backendVersions, selectBackend } from '../src/engine/index.js';

import { CASES } from './bench-cases.js';
import { gridRunCost, type GridRunCost } from './bench-grid.js';
import { fmt, runCase, type MeasuredCase, type Variant } from './bench-measure.js';
import { bracketTorch, runTorch, type TorchResult } from './bench-torch.js';
import { sharedDir } from './shared-dir.js';

type CaseResult = MeasuredCase & { torch?: TorchResult };

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
    const result: CaseResult = await runCase(c, variants, secondsPerVariant, rounds);
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
    if (torchBefore && torchAfter) result.torch = bracketTorch(torchBefore, torchAfter, result.results, log);
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
