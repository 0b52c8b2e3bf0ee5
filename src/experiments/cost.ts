import { findRuns } from '../runs/collection.js';
import { loadDataset } from './dataset.js';
import type { PlannedRun } from './batch.js';

/**
 * Seconds of a run (its run_metadata.json total_s) per epoch per 1,000 training rows with one wasm engine, measured
 * with each model's default config on a 1,000-stay dev cohort (701 training rows, 24 h window) on a 2-core
 * machine: the fallback when the runs folder holds no finished run of a model. Only the ratios matter for balancing.
 */
export const DEFAULT_SECONDS_PER_EPOCH_PER_1K_ROWS: Readonly<Record<string, number>> = {
  mlp: 0.3,
  lstm: 1.4,
  tcn: 0.8,
  tabtransformer: 1.0,
};

/** A model without a measured or tabled rate costs as much as the slowest tabled one (over-estimating is safer). */
const UNKNOWN_MODEL_RATE = Math.max(...Object.values(DEFAULT_SECONDS_PER_EPOCH_PER_1K_ROWS));

export interface ModelRate {
  secondsPerEpochPer1kRows: number;
  /** measured: mean over `samples` finished runs in the runs folder; default: the table above. */
  source: 'measured' | 'default';
  samples: number;
}

/**
 * Each model's training rate from the finished runs of the runs folder (their run_metadata.json total_s over
 * epochs_run × n_train/1000), else the default table.
 */
export async function modelRates(runsDir: string, models: string[]): Promise<Map<string, ModelRate>> {
  const { runs } = await findRuns(runsDir);
  const rates = new Map<string, ModelRate>();
  for (const model of new Set(models)) {
    const samples: number[] = [];
    for (const run of runs) {
      if (run.metrics.model !== model) continue;
      const seconds = (run.metadata.timings as { total_s?: unknown } | undefined)?.total_s;
      const epochs = run.metrics.training?.epochs_run;
      const rows = run.metrics.data?.n_train;
      if (typeof seconds === 'number' && typeof epochs === 'number' && typeof rows === 'number' && epochs > 0 && rows > 0 && seconds > 0) {
        samples.push(seconds / (epochs * (rows / 1000)));
      }
    }
    if (samples.length > 0) rates.set(model, { secondsPerEpochPer1kRows: samples.reduce((a, b) => a + b, 0) / samples.length, source: 'measured', samples: samples.length });
    else rates.set(model, { secondsPerEpochPer1kRows: DEFAULT_SECONDS_PER_EPOCH_PER_1K_ROWS[model] ?? UNKNOWN_MODEL_RATE, source: 'default', samples: 0 });
  }
  return rates;
}

/**
 * Estimated seconds still to spend on each planned run: 0 when it is complete, else its model's rate × its epoch
 * budget × its training rows (early stopping can only make it cheaper).
 */
export async function estimateCosts(plans: PlannedRun[], runsDir: string): Promise<number[]> {
  const rates = await modelRates(runsDir, plans.map((p) => p.config.model.name));
  const costs: number[] = [];
  for (const plan of plans) {
    if (plan.status === 'complete') {
      costs.push(0);
      continue;
    }
    const dataset = await loadDataset(plan.config.data.path, plan.config.data.splits);
    const rate = rates.get(plan.config.model.name)!.secondsPerEpochPer1kRows;
    costs.push(rate * plan.config.train.epochs * (dataset.train.n / 1000));
  }
  return costs;
}

/**
 * Splits items into `count` shards of near-equal total cost, deterministically: longest first (ties by position),
 * each to the least-loaded shard (ties to the lowest index). Returns each item's shard, 1-based.
 */
export function balanceShards(costs: number[], count: number): number[] {
  const order = costs.map((cost, k) => ({ cost, k })).sort((a, b) => b.cost - a.cost || a.k - b.k);
  const loads = new Array<number>(count).fill(0);
  const runsIn = new Array<number>(count).fill(0);
  const shardOf = new Array<number>(costs.length);
  for (const { cost, k } of order) {
    let best = 0;
    // Equal loads (e.g. cost-0 complete runs) go to the shard with fewer runs, so no shard is left empty needlessly.
    for (let s = 1; s < count; s++) if (loads[s] < loads[best] || (loads[s] === loads[best] && runsIn[s] < runsIn[best])) best = s;
    loads[best] += cost;
    runsIn[best]++;
    shardOf[k] = best + 1;
  }
  return shardOf;
}

/** Total cost of each shard (index 0 is shard 1). */
export function shardCosts(costs: number[], shardOf: number[], count: number): number[] {
  const totals = new Array<number>(count).fill(0);
  costs.forEach((cost, k) => (totals[shardOf[k] - 1] += cost));
  return totals;
}
