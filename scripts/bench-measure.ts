/** Times one case on every backend in alternating blocks (see bench.ts); the number formatting of the report. */
import { patchWasmMatMul } from '../src/engine/index.js';

import type { BenchCase, BenchRunner } from './bench-cases.js';

/** A backend the bench compares; `apply` makes it the active one (the runner's tensors follow lazily). */
export interface Variant {
  name: string;
  apply(): Promise<void>;
}

export interface VariantResult {
  /** The backend (wasm-unpatched: wasm without the matMul fix). */
  variant: string;
  samplesPerSec: number;
  msPerStep: number;
  blocks: number[];
  stepsPerBlock: number;
}

/** One case's throughput on every backend. */
export interface MeasuredCase {
  case: string;
  description: string;
  results: VariantResult[];
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
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

export async function runCase(c: BenchCase, variants: Variant[], secondsPerVariant: number, rounds: number): Promise<MeasuredCase> {
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
    // wasm-unpatched left the matMul fix off; without wasm there is nothing to patch.
    if (variants.some((v) => v.name === 'wasm-unpatched')) patchWasmMatMul();
  }
}
