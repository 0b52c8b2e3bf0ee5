import type { Rng } from '../engine/rng.js';
import { checkBinary, checkSameLength } from './classification.js';
import { delongCovariance } from './delong.js';
import { studentTQuantile } from './distributions.js';

/**
 * Intervals for a metric averaged over training seeds that account for BOTH sources of error: the seed (which model
 * training produced) and the test stays (which patients happened to be in the test split).
 *
 * Model: the estimate of seed s is θ_s = θ + b_s + e_s, with b_s the seed effect (variance τ², independent across
 * seeds) and e_s the test-set sampling error, whose covariance matrix C across seeds is known from within-seed theory
 * (DeLong for AUROC) or a row bootstrap. When every seed is scored on the same test split (this project's design:
 * the splits file is fixed, the seed changes training), the e_s are strongly correlated and C is full; with a
 * separate test set per seed C is diagonal.
 *
 * seedTestInterval (the method to use): θ̄ = mean θ_s, and
 *   E[s²] = τ² + mean(diag C) − mean(offdiag C)        (s² the sample variance of the θ_s),
 *   τ̂² = max(0, s² − mean(diag C) + mean(offdiag C))   (a method-of-moments estimate, as DerSimonian & Laird 1986,
 *                                                       Controlled Clinical Trials 7:177, estimate the between-study
 *                                                       variance of a random-effects meta-analysis),
 *   Var(θ̄) = V = τ̂²/k + 1ᵀC1/k²,
 *   df = (k − 1)·(V / (s²/k))²                          (Satterthwaite 1946, Biometrics Bulletin 2:110: only the s²
 *                                                       term is estimated from k − 1 df; C counts as known),
 *   CI = θ̄ ± t_{df, 1−α/2}·√V.
 * Untruncated, V = s²/k + mean(offdiag C): the usual t interval over seeds plus the test-set error the seeds share.
 *
 * twoStageBootstrap is the two-stage (hierarchical) percentile bootstrap — resample seeds with replacement, then test
 * stays within each chosen seed, recompute the metric and average (Davison & Hinkley 1997, Bootstrap Methods and their
 * Application, §3.8 "multistage sampling"; Field & Welsh 2007, JRSS B 69:369). With k = 3 seeds it under-covers
 * (3 seeds give at most 10 distinct seed multisets, the seed stage shrinks the variance by (k − 1)/k, and percentiles
 * carry no t correction), which the coverage simulation in tests/metrics-intervals.test.ts measures; it is kept for
 * metrics and seed counts where it is adequate, and for comparison.
 */

export interface SeedPredictions {
  /** 0/1 labels of the test rows this seed was scored on. */
  labels: ArrayLike<number>;
  /** The seed's scores (or probabilities) for the same rows. */
  scores: ArrayLike<number>;
}

/** Any metric of (labels, scores): AUROC, ASR on triggered rows (all labels one class), etc. */
export type RowMetric = (labels: ArrayLike<number>, scores: ArrayLike<number>) => number;

export interface SeedTestInterval {
  method: 'seed_and_test_t';
  n_seeds: number;
  /** Mean of the per-seed estimates. */
  estimate: number;
  /** √V, the standard error of the mean over seeds including test-set error. */
  se: number;
  /** Satterthwaite degrees of freedom (∞ when the seeds agree exactly; then only test-set error is left). */
  df: number;
  /** τ̂²: the between-seed variance beyond test-set noise (NaN with one seed, which cannot estimate it). */
  between_seed_variance: number;
  /** 1ᵀC1/k²: the test-set variance of the mean over seeds. */
  test_set_variance: number;
  level: number;
  ci: [number, number];
}

export interface TwoStageBootstrapInterval {
  method: 'two_stage_percentile_bootstrap';
  n_seeds: number;
  estimate: number;
  replicates: number;
  level: number;
  ci: [number, number];
}

export interface BootstrapOptions {
  /** The stream every resampling draw comes from, e.g. deriveRng(seed, 'report', 'bootstrap'). */
  rng: Rng;
  replicates?: number;
}

function checkLevel(what: string, level: number): void {
  if (!(level > 0 && level < 1)) throw new Error(`${what}: level must be in (0, 1), got ${level}`);
}

function checkSquare(what: string, c: readonly (readonly number[])[], k: number): void {
  if (c.length !== k || c.some((row) => row.length !== k)) throw new Error(`${what}: covariance must be ${k}×${k} for ${k} seeds`);
}

/**
 * The interval described in the module comment. `within` is the k×k test-set covariance matrix C of the per-seed
 * estimates, or a vector of k variances when each seed had its own, independent test set (C diagonal).
 */
export function seedTestInterval(estimates: readonly number[], within: readonly number[] | readonly (readonly number[])[], level = 0.95): SeedTestInterval {
  checkLevel('seedTestInterval', level);
  const k = estimates.length;
  if (k === 0) throw new Error('seedTestInterval: no seed estimate given');
  const c: number[][] =
    typeof within[0] === 'number'
      ? (within as readonly number[]).map((v, i) => Array.from({ length: within.length }, (_, j) => (i === j ? v : 0)))
      : (within as readonly (readonly number[])[]).map((row) => [...row]);
  checkSquare('seedTestInterval', c, k);
  let mean = 0;
  for (const x of estimates) mean += x / k;
  let diag = 0;
  let total = 0;
  for (let i = 0; i < k; i++) {
    diag += c[i]![i]!;
    for (let j = 0; j < k; j++) total += c[i]![j]!;
  }
  const testSetVariance = Math.max(0, total) / (k * k);
  let v: number;
  let between: number;
  let df: number;
  if (k === 1) {
    between = NaN;
    v = testSetVariance;
    df = Infinity;
  } else {
    let s2 = 0;
    for (const x of estimates) s2 += (x - mean) ** 2 / (k - 1);
    const meanDiag = diag / k;
    const meanOffDiag = (total - diag) / (k * (k - 1));
    between = Math.max(0, s2 - meanDiag + meanOffDiag);
    v = between / k + testSetVariance;
    df = s2 === 0 ? Infinity : (k - 1) * (v / (s2 / k)) ** 2;
  }
  const se = Math.sqrt(v);
  const half = se === 0 ? 0 : studentTQuantile(1 - (1 - level) / 2, df) * se;
  return { method: 'seed_and_test_t', n_seeds: k, estimate: mean, se, df, between_seed_variance: between, test_set_variance: testSetVariance, level, ci: [mean - half, mean + half] };
}

function checkSeeds(what: string, seeds: readonly SeedPredictions[]): void {
  if (seeds.length === 0) throw new Error(`${what}: no seed given`);
  for (const [s, p] of seeds.entries()) {
    checkSameLength(`${what} (seed ${s} labels vs scores)`, p.labels, p.scores);
    checkBinary(`${what} (seed ${s})`, p.labels);
  }
}

/** Throws unless every seed was scored on the same labels in the same row order (one shared test split). */
function checkSharedTestSet(what: string, seeds: readonly SeedPredictions[]): void {
  const first = seeds[0]!.labels;
  for (const [s, p] of seeds.entries()) {
    if (p.labels.length !== first.length) throw new Error(`${what}: seed ${s} has ${p.labels.length} test rows, seed 0 has ${first.length}; a shared test set needs the same rows`);
    for (let i = 0; i < first.length; i++) {
      if (p.labels[i] !== first[i]) throw new Error(`${what}: seed ${s} row ${i} has label ${p.labels[i]}, seed 0 has ${first[i]}; a shared test set needs the same rows in the same order`);
    }
  }
}

export interface IntervalOptions {
  /** True when every seed was scored on the same test rows in the same order (the project's fixed splits). */
  sharedTestSet: boolean;
  level?: number;
}

/** seedTestInterval of the AUROC, with C from DeLong: the joint matrix over seeds on a shared test set, else per seed. */
export function aurocSeedInterval(seeds: readonly SeedPredictions[], options: IntervalOptions): SeedTestInterval {
  checkSeeds('aurocSeedInterval', seeds);
  if (options.sharedTestSet) {
    checkSharedTestSet('aurocSeedInterval', seeds);
    const c = delongCovariance(seeds[0]!.labels, seeds.map((s) => s.scores));
    return seedTestInterval(c.auroc, c.covariance, options.level);
  }
  const per = seeds.map((s) => delongCovariance(s.labels, [s.scores]));
  return seedTestInterval(
    per.map((c) => c.auroc[0]!),
    per.map((c) => c.covariance[0]![0]!),
    options.level,
  );
}

/** Row indices of a resample drawn with replacement within each label class (so both classes keep their counts). */
function stratifiedResample(byClass: readonly number[][], n: number, rng: Rng): Uint32Array {
  const out = new Uint32Array(n);
  let k = 0;
  for (const rows of byClass) for (let i = 0; i < rows.length; i++) out[k++] = rows[rng.int(rows.length)]!;
  return out;
}

function rowsByClass(labels: ArrayLike<number>): number[][] {
  const byClass: number[][] = [[], []];
  for (let i = 0; i < labels.length; i++) byClass[labels[i]!]!.push(i);
  return byClass.filter((rows) => rows.length > 0);
}

function gather(values: ArrayLike<number>, rows: Uint32Array): Float64Array {
  const out = new Float64Array(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = values[rows[i]!]!;
  return out;
}

/**
 * The test-set covariance matrix C of a metric's per-seed estimates by a stratified row bootstrap (resampling
 * positives and negatives separately). On a shared test set the SAME resampled rows are scored for every seed, so the
 * off-diagonal covariances are estimated too; otherwise each seed's rows are resampled independently and C is
 * diagonal. Deterministic given the rng.
 */
export function bootstrapTestSetCovariance(seeds: readonly SeedPredictions[], metric: RowMetric, options: BootstrapOptions & { sharedTestSet: boolean }): number[][] {
  checkSeeds('bootstrapTestSetCovariance', seeds);
  if (options.sharedTestSet) checkSharedTestSet('bootstrapTestSetCovariance', seeds);
  const replicates = options.replicates ?? 1000;
  if (!(Number.isInteger(replicates) && replicates >= 2)) throw new Error(`bootstrapTestSetCovariance: replicates must be an integer >= 2, got ${replicates}`);
  const k = seeds.length;
  const classes = seeds.map((s) => rowsByClass(s.labels));
  const draws = seeds.map(() => new Float64Array(replicates));
  for (let b = 0; b < replicates; b++) {
    const shared = options.sharedTestSet ? stratifiedResample(classes[0]!, seeds[0]!.labels.length, options.rng) : null;
    for (let s = 0; s < k; s++) {
      const rows = shared ?? stratifiedResample(classes[s]!, seeds[s]!.labels.length, options.rng);
      draws[s]![b] = metric(gather(seeds[s]!.labels, rows), gather(seeds[s]!.scores, rows));
    }
  }
  const means = draws.map((d) => d.reduce((a, x) => a + x, 0) / replicates);
  const c: number[][] = [];
  for (let s = 0; s < k; s++) {
    const row: number[] = [];
    for (let t = 0; t < k; t++) {
      if (!options.sharedTestSet && s !== t) {
        row.push(0);
        continue;
      }
      let sum = 0;
      for (let b = 0; b < replicates; b++) sum += (draws[s]![b]! - means[s]!) * (draws[t]![b]! - means[t]!);
      row.push(sum / (replicates - 1));
    }
    c.push(row);
  }
  return c;
}

/** seedTestInterval of any metric, with C from bootstrapTestSetCovariance. */
export function metricSeedInterval(seeds: readonly SeedPredictions[], metric: RowMetric, options: IntervalOptions & BootstrapOptions): SeedTestInterval {
  const c = bootstrapTestSetCovariance(seeds, metric, options);
  return seedTestInterval(
    seeds.map((s) => metric(s.labels, s.scores)),
    c,
    options.level,
  );
}

/** Linear-interpolation percentile (type 7) of an ascending array. */
function percentileSorted(sorted: Float64Array, q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * The two-stage percentile bootstrap of the module comment: each replicate draws k seeds with replacement, then for
 * each drawn seed its test rows with replacement (stratified by label), and averages the metric. NaN replicates (a
 * metric undefined on a resample) are dropped. Deterministic given the rng.
 */
export function twoStageBootstrap(seeds: readonly SeedPredictions[], metric: RowMetric, options: BootstrapOptions & { level?: number }): TwoStageBootstrapInterval {
  checkSeeds('twoStageBootstrap', seeds);
  const level = options.level ?? 0.95;
  checkLevel('twoStageBootstrap', level);
  const replicates = options.replicates ?? 2000;
  if (!(Number.isInteger(replicates) && replicates >= 1)) throw new Error(`twoStageBootstrap: replicates must be a positive integer, got ${replicates}`);
  const k = seeds.length;
  const classes = seeds.map((s) => rowsByClass(s.labels));
  const values: number[] = [];
  for (let b = 0; b < replicates; b++) {
    let sum = 0;
    for (let j = 0; j < k; j++) {
      const s = options.rng.int(k);
      const rows = stratifiedResample(classes[s]!, seeds[s]!.labels.length, options.rng);
      sum += metric(gather(seeds[s]!.labels, rows), gather(seeds[s]!.scores, rows));
    }
    if (!Number.isNaN(sum)) values.push(sum / k);
  }
  const sorted = Float64Array.from(values).sort();
  const estimate = seeds.reduce((a, s) => a + metric(s.labels, s.scores), 0) / k;
  const tail = (1 - level) / 2;
  const ci: [number, number] = sorted.length === 0 ? [NaN, NaN] : [percentileSorted(sorted, tail), percentileSorted(sorted, 1 - tail)];
  return { method: 'two_stage_percentile_bootstrap', n_seeds: k, estimate, replicates, level, ci };
}
