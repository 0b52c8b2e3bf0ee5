import { deriveRng } from '../engine/rng.js';

/**
 * Statistical building blocks of the report: summaries over runs and the percentile bootstrap (for detector, defence
 * and attribution summaries). Cell and baseline intervals come from metrics/intervals.ts (stats-intervals.ts), the
 * stealth test from metrics/equivalence.ts and metrics/delong.ts; distributions live in metrics/distributions.ts.
 * No dependencies beyond the project's seeded RNG, so every number in stats.json is reproducible.
 */

/** The wording used wherever a statistic cannot be computed from so few values. */
export const N_TOO_SMALL = 'n too small';

export function mean(values: readonly number[]): number {
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

/** Sample standard deviation (denominator n − 1). */
export function sampleSd(values: readonly number[]): number {
  const m = mean(values);
  let ss = 0;
  for (const v of values) ss += (v - m) ** 2;
  return Math.sqrt(ss / (values.length - 1));
}

/**
 * Percentile of sorted values with linear interpolation between order statistics (Hyndman & Fan 1996 type 7,
 * the default of R's quantile() and numpy.percentile): h = (n − 1)·q, interpolating x[⌊h⌋] and x[⌊h⌋ + 1].
 */
export function percentileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) throw new Error('percentile of an empty sample');
  if (!(q >= 0 && q <= 1)) throw new Error(`percentile: q must be in [0, 1], got ${q}`);
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

export interface BootstrapOptions {
  /** Number of resamples. */
  resamples?: number;
  /** Central coverage of the interval, e.g. 0.95. */
  level?: number;
  /** Seed and purpose path for deriveRng, so each statistic has its own reproducible stream. */
  seed?: number | string;
  purpose?: (string | number)[];
}

/** Means of `resamples` bootstrap resamples (n draws with replacement), sorted ascending. */
export function bootstrapMeans(values: readonly number[], options: BootstrapOptions = {}): Float64Array {
  const resamples = options.resamples ?? 2000;
  const rng = deriveRng(options.seed ?? 0, 'bootstrap', ...(options.purpose ?? []));
  const n = values.length;
  const out = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += values[rng.int(n)]!;
    out[b] = s / n;
  }
  return out.sort();
}

/** Percentile bootstrap confidence interval of the mean (Efron & Tibshirani 1993, ch. 13). */
export function bootstrapMeanCi(values: readonly number[], options: BootstrapOptions = {}): [number, number] {
  const level = options.level ?? 0.95;
  const means = bootstrapMeans(values, options);
  const alpha = (1 - level) / 2;
  return [percentileSorted(means, alpha), percentileSorted(means, 1 - alpha)];
}

/** Mean, SD and bootstrap CI of one statistic over seeds, with its n; fields are null (with a note) when n is too small. */
export interface Summary {
  n: number;
  mean: number | null;
  sd: number | null;
  ci95: [number, number] | null;
  /** What the interval resamples or accounts for (seeds, test stays); absent for the percentile bootstrap over values. */
  ci_method?: string;
  /** Standard error behind ci95, when it is an analytic interval. */
  se?: number | null;
  /** True when the interval rests on fewer than 5 seeds: tables and figures mark it. */
  few_seeds?: boolean;
  note?: string;
}

export function summarize(values: readonly number[], options: BootstrapOptions = {}): Summary {
  const finite = values.filter((v) => Number.isFinite(v));
  const n = finite.length;
  if (n === 0) return { n, mean: null, sd: null, ci95: null, note: `${N_TOO_SMALL} (n = 0)` };
  if (n === 1) return { n, mean: finite[0]!, sd: null, ci95: null, note: `${N_TOO_SMALL} for SD and CI (n = 1; they need n ≥ 2)` };
  return { n, mean: mean(finite), sd: sampleSd(finite), ci95: bootstrapMeanCi(finite, { ...options, level: 0.95 }) };
}
