/** The --grid-runs part of the bench (see bench.ts): the wall time of a fixed subset of the default grid per backend. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { parse as parseYaml } from 'yaml';

import { setupData, SETUP_DEFAULTS } from '../src/data/setup.js';
import { resolveRunConfig } from '../src/experiments/config.js';
import { runDetection } from '../src/experiments/detection.js';
import { executeRun } from '../src/experiments/run.js';

import { fmt, type Variant } from './bench-measure.js';

export interface GridRunCost {
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
export async function gridRunCost(variants: Variant[], log: (line: string) => void): Promise<GridRunCost[]> {
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
