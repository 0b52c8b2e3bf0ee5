import { deriveRng } from '../engine/rng.js';
import { aurocSeedInterval, metricSeedInterval, seedTestInterval, type SeedPredictions, type SeedTestInterval } from '../metrics/intervals.js';
import { mean, N_TOO_SMALL, sampleSd, type Summary } from './stats-core.js';

/**
 * The report's intervals: each statistic averaged over seeds gets the seed-and-test interval of metrics/intervals.ts
 * (seedTestInterval: between-seed variation plus the test set's own sampling error, which all seeds share because they
 * are scored on one test split), and says what it accounts for. The test-set covariance comes from DeLong for AUROC
 * and from a stratified row bootstrap for rates (ASR, net ASR, false-trigger rate). Runs written before
 * test_predictions.json existed have no per-stay predictions: their interval is a t interval over seeds only, and
 * says so.
 */

/** Intervals from fewer seeds than this are marked (few_seeds) in stats.json, tables and figures. */
export const FEW_SEEDS = 5;
export const ROW_BOOTSTRAP_REPLICATES = 1000;

export const CI_METHODS = {
  auroc: 'seeds and test stays: seed-and-test MOVER interval, test-set covariance across seeds by DeLong (shared test split)',
  rate: 'seeds and test stays: seed-and-test MOVER interval, test-set covariance across seeds by a stratified bootstrap of test stays (shared test split)',
  oneSeedAuroc: 'test stays only (one seed; seed variation cannot be estimated): DeLong',
  oneSeedRate: 'test stays only (one seed; seed variation cannot be estimated): stratified bootstrap of test stays',
  seedsOnly: 'seeds only: t interval over seeds; test-set error not included (the runs lack test_predictions.json)',
  seedsOnlyMetric: 'seeds only: t interval over seeds; the test-set error of this metric is not included',
} as const;

function sameLabels(seeds: readonly SeedPredictions[]): boolean {
  const first = seeds[0]!.labels;
  return seeds.every((s) => s.labels.length === first.length && Array.prototype.every.call(first, (y: number, i: number) => s.labels[i] === y));
}

/** The values a statistic can take: an interval is clipped to them (a rate's t interval can cross 0 with few seeds). */
export type Range = readonly [number, number];
export const PROBABILITY: Range = [0, 1];
export const DIFFERENCE: Range = [-1, 1];

function clip(ci: readonly [number, number], range: Range): [number, number] {
  return [Math.max(range[0], ci[0]), Math.min(range[1], ci[1])];
}

function fromInterval(values: readonly number[], iv: SeedTestInterval, method: string, range: Range): Summary {
  const n = values.length;
  const ok = Number.isFinite(iv.ci[0]) && Number.isFinite(iv.ci[1]);
  return {
    n,
    mean: Number.isFinite(iv.estimate) ? iv.estimate : null,
    sd: n >= 2 ? sampleSd(values) : null,
    ci95: ok ? clip(iv.ci, range) : null,
    ci_method: method,
    se: Number.isFinite(iv.se) ? iv.se : null,
    few_seeds: n < FEW_SEEDS,
    ...(ok ? {} : { note: 'interval not defined (a test class is empty or too small)' }),
    ...(n === 1 && ok ? { note: `${N_TOO_SMALL} for SD (n = 1); the interval covers test stays only` } : {}),
  };
}

export function seedsOnly(values: readonly number[], method: string = CI_METHODS.seedsOnly, range: Range = PROBABILITY): Summary {
  const finite = values.filter((v) => Number.isFinite(v));
  const n = finite.length;
  if (n === 0) return { n, mean: null, sd: null, ci95: null, note: `${N_TOO_SMALL} (n = 0)` };
  if (n === 1) return { n, mean: finite[0]!, sd: null, ci95: null, few_seeds: true, note: `${N_TOO_SMALL} for SD and CI (n = 1, and no test predictions)` };
  const iv = seedTestInterval(finite, finite.map(() => 0));
  return { n, mean: mean(finite), sd: sampleSd(finite), ci95: clip(iv.ci, range), ci_method: method, se: iv.se, few_seeds: n < FEW_SEEDS };
}

/**
 * Mean AUROC over seeds with its interval. `seeds` holds each seed's test labels and scores, or null when any run
 * lacks them; `values` the per-seed AUROCs as metrics.json reports them (used without predictions).
 */
export function aurocSummary(values: readonly number[], seeds: readonly SeedPredictions[] | null): Summary {
  if (!seeds || seeds.length === 0) return seedsOnly(values);
  const iv = aurocSeedInterval(seeds, { sharedTestSet: sameLabels(seeds) });
  return fromInterval(values, iv, seeds.length === 1 ? CI_METHODS.oneSeedAuroc : CI_METHODS.auroc, PROBABILITY);
}

const rowMean = (_labels: ArrayLike<number>, scores: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < scores.length; i++) s += scores[i]!;
  return s / scores.length;
};

/**
 * Mean over seeds of a per-row rate (each seed's rate is the mean of its rows' values, e.g. 1 when a triggered row is
 * predicted as the target; or a difference of two such indicators for net ASR), with its interval. Rows of one seed
 * are the same test stays as every other seed's when they have the same count (the shared test split).
 */
export function rateSummary(rowValues: readonly (readonly number[])[] | null, fallback: readonly number[], purpose: readonly (string | number)[], range: Range = PROBABILITY): Summary {
  if (!rowValues || rowValues.length === 0) return seedsOnly(fallback, CI_METHODS.seedsOnly, range);
  if (rowValues.some((v) => v.length === 0)) return { n: rowValues.length, mean: null, sd: null, ci95: null, note: 'no triggered test rows' };
  const seeds = rowValues.map((scores) => ({ labels: new Uint8Array(scores.length), scores }));
  const shared = rowValues.every((v) => v.length === rowValues[0]!.length);
  const iv = metricSeedInterval(seeds, rowMean, { sharedTestSet: shared, rng: deriveRng(0, 'report', 'interval', ...purpose), replicates: ROW_BOOTSTRAP_REPLICATES });
  return fromInterval(rowValues.map((v) => rowMean([], v)), iv, rowValues.length === 1 ? CI_METHODS.oneSeedRate : CI_METHODS.rate, range);
}

/** Per triggered row: 1 when the model predicts the target (target 1: p ≥ threshold; target 0: p < threshold). */
export function targetHits(probs: readonly number[], target: 0 | 1, threshold: number): number[] {
  return probs.map((p) => ((target === 1 ? p >= threshold : p < threshold) ? 1 : 0));
}
