import type { Rng } from '../engine/rng.js';
import { checkBinary, checkSameLength } from './classification.js';
import { delongCovariance, delongVarianceParts, satterthwaiteDf } from './delong.js';
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
 * seedTestInterval (the method to use). With d = mean(diag C) and o = max(0, mean(offdiag C)), the error of
 * θ̄ = mean θ_s splits into two independent parts:
 *   - a part that is independent across seeds (seed effect + the test noise the seeds do not share), variance
 *     u = max(s², d − o)/k, where s² is the sample variance of the θ_s (E[s²] = τ² + d − o), and the floor d − o is
 *     the unshared test noise DeLong says is there even when three seeds happen to agree;
 *     τ̂² = max(0, s² − d + o) is the method-of-moments between-seed variance (as DerSimonian & Laird 1986,
 *     Controlled Clinical Trials 7:177, estimate a random-effects meta-analysis's between-study variance);
 *   - the test-set error the seeds share, variance o (0 with separate test sets).
 * se = √(u + o) = √(τ̂²/k + 1ᵀC1/k²). Each part gets its own t quantile: u with Satterthwaite's (1946, Biometrics
 * Bulletin 2:110) df for its pieces min(s²/k, u) (k − 1 df) and the rest (df_C), o with df_C, the df of C's estimate
 * (for DeLong from its positives' m − 1 and negatives' n − 1 df, delongVarianceParts; ∞ when C counts as known).
 * The two half-widths add in quadrature, the MOVER rule for a sum of independent errors (Zou & Donner 2008, Statistics
 * in Medicine 27:1693):
 *   CI = θ̄ ± √(t²_{df_u} · u + t²_{df_C} · o),  t at 1 − α/2.
 * With separate test sets (o = 0) this is a Satterthwaite t interval over the seeds. One Satterthwaite df over u + o
 * instead under-covered when the seeds share a test set (measured 0.906 at a seed SD of ~0.09 AUROC, 2,000 sweeps),
 * because a small s² then also inflates the df; a normal quantile for o under-covered at ~40 events (0.933).
 * Coverage of the 95% interval measured on simulated sweeps of 3 seeds × 300 stays (~40 events), binormal scores,
 * 2,000 sweeps each, AUROC seed SD 0 / 0.02 / 0.06 / 0.09: separate test sets 0.975 / 0.970 / 0.948 / 0.944, shared
 * test set 0.954 / 0.965 / 0.974 / 0.955. At a seed SD of 0.13 AUROC (the seeds' AUROCs skewed against the ceiling)
 * it falls to ~0.927.
 *
 * twoStageBootstrap is the two-stage (hierarchical) percentile bootstrap — resample seeds with replacement, then test
 * stays within each chosen seed, recompute the metric and average (Davison & Hinkley 1997, Bootstrap Methods and their
 * Application, §3.8 on hierarchical data; Field & Welsh 2007, "Bootstrapping clustered data", JRSS B 69:369). At
 * k = 3 seeds it under-covers: 3 seeds give at most 10 distinct seed multisets, the seed stage shrinks the variance by
 * (k − 1)/k, percentiles carry no t correction, and resampling each seed's stays independently treats a shared test
 * set's error as if it averaged out. Measured on the simulation of the coverage test (300 sweeps × 300 replicates):
 * 0.977 / 0.897 with separate test sets at seed SD 0 / 0.06 AUROC, 0.743 / 0.757 with a shared test set. It is kept
 * for comparison and for designs with many seeds.
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
  method: 'seed_and_test_mover';
  n_seeds: number;
  /** Mean of the per-seed estimates. */
  estimate: number;
  /** √(u + o): the standard error of the mean over seeds, test-set error included. */
  se: number;
  /** u: variance of the part of the error independent across seeds. */
  seed_variance: number;
  /** Satterthwaite df of u. */
  df_seed: number;
  /** o: variance of the test-set error all seeds share (0 with separate test sets). */
  shared_test_variance: number;
  /** df of the test-set covariance C (∞ when it counts as known). */
  df_test: number;
  /** τ̂²: the between-seed variance beyond test-set noise (NaN with one seed, which cannot estimate it). */
  between_seed_variance: number;
  /** 1ᵀC1/k²: the whole test-set variance of the mean over seeds. */
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

export interface SeedTestOptions {
  level?: number;
  /** Degrees of freedom of the test-set covariance C (default ∞: C known exactly). */
  testSetDf?: number;
}

type SeedTestParts = Omit<SeedTestInterval, 'method' | 'level' | 'ci'>;

function seedTestParts(estimates: readonly number[], within: readonly number[] | readonly (readonly number[])[], testSetDf: number): SeedTestParts {
  if (!(testSetDf > 0)) throw new Error(`seedTestInterval: testSetDf must be positive, got ${testSetDf}`);
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
  const d = diag / k;
  const o = k === 1 ? 0 : Math.max(0, (total - diag) / (k * (k - 1)));
  let u: number;
  let dfSeed: number;
  let between: number;
  if (k === 1) {
    // One seed: only its test-set variance is known; the seed effect cannot be estimated.
    u = d;
    dfSeed = testSetDf;
    between = NaN;
  } else {
    let s2 = 0;
    for (const x of estimates) s2 += (x - mean) ** 2 / (k - 1);
    between = Math.max(0, s2 - d + o);
    u = Math.max(s2, d - o) / k;
    const fromSpread = Math.min(s2 / k, u);
    dfSeed = satterthwaiteDf([
      { variance: fromSpread, df: k - 1 },
      { variance: u - fromSpread, df: testSetDf },
    ]);
  }
  return {
    n_seeds: k,
    estimate: mean,
    se: Math.sqrt(u + o),
    seed_variance: u,
    df_seed: dfSeed,
    shared_test_variance: o,
    df_test: testSetDf,
    between_seed_variance: between,
    test_set_variance: Math.max(0, total) / (k * k),
  };
}

/** False when an estimate or covariance was NaN (e.g. an AUROC on a test split without events): no interval then. */
function isDefined(p: SeedTestParts): boolean {
  return Number.isFinite(p.estimate) && Number.isFinite(p.se) && !Number.isNaN(p.df_seed);
}

/** Signed MOVER half-width at one-sided tail probability `tail`: positive below ½, negative above. */
function signedHalfWidth(p: SeedTestParts, tail: number): number {
  const qSeed = p.seed_variance === 0 ? 0 : studentTQuantile(1 - tail, p.df_seed);
  const qTest = p.shared_test_variance === 0 ? 0 : studentTQuantile(1 - tail, p.df_test);
  const sign = tail < 0.5 ? 1 : tail > 0.5 ? -1 : 0;
  return sign * Math.sqrt(qSeed * qSeed * p.seed_variance + qTest * qTest * p.shared_test_variance);
}

/**
 * The interval described in the module comment. `within` is the k×k test-set covariance matrix C of the per-seed
 * estimates, or a vector of k variances when each seed had its own, independent test set (C diagonal).
 */
export function seedTestInterval(estimates: readonly number[], within: readonly number[] | readonly (readonly number[])[], options: SeedTestOptions = {}): SeedTestInterval {
  const level = options.level ?? 0.95;
  checkLevel('seedTestInterval', level);
  const parts = seedTestParts(estimates, within, options.testSetDf ?? Infinity);
  if (!isDefined(parts)) return { method: 'seed_and_test_mover', ...parts, level, ci: [NaN, NaN] };
  const half = parts.se === 0 ? 0 : signedHalfWidth(parts, (1 - level) / 2);
  return { method: 'seed_and_test_mover', ...parts, level, ci: [parts.estimate - half, parts.estimate + half] };
}

/**
 * One-sided p-values of the seed-and-test interval, found by inverting it: `above` is the smallest tail probability
 * a at which the lower bound estimate − h(a) still exceeds `value` — the p-value of H0: θ ≤ value — and `below` that
 * of H0: θ ≥ value. With o = 0 these are exactly the t-test's 1 − F(t) and F(t), t = (estimate − value)/se.
 */
export function seedTestPValues(estimates: readonly number[], within: readonly number[] | readonly (readonly number[])[], value: number, testSetDf = Infinity): { above: number; below: number } {
  const parts = seedTestParts(estimates, within, testSetDf);
  if (!isDefined(parts)) return { above: NaN, below: NaN };
  const gap = parts.estimate - value;
  if (parts.se === 0) return { above: gap > 0 ? 0 : 1, below: gap < 0 ? 0 : 1 };
  // h(a) falls from +∞ (a → 0) through 0 (a = ½) to −∞ (a → 1); solve h(a) = |gap| for a < ½ by bisection.
  let lo = 0;
  let hi = 0.5;
  const target = Math.abs(gap);
  for (let i = 0; i < 100 && hi - lo > 1e-15; i++) {
    const mid = (lo + hi) / 2;
    if (signedHalfWidth(parts, mid) > target) lo = mid;
    else hi = mid;
  }
  const small = (lo + hi) / 2;
  return gap >= 0 ? { above: small, below: 1 - small } : { above: 1 - small, below: small };
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

/**
 * seedTestInterval of the AUROC, with C from DeLong — the joint matrix over seeds on a shared test set, else one
 * variance per seed — and C's degrees of freedom from DeLong's positives' and negatives' parts (delongVarianceParts).
 */
export function aurocSeedInterval(seeds: readonly SeedPredictions[], options: IntervalOptions): SeedTestInterval {
  checkSeeds('aurocSeedInterval', seeds);
  const k = seeds.length;
  const level = options.level;
  if (options.sharedTestSet) {
    checkSharedTestSet('aurocSeedInterval', seeds);
    const c = delongCovariance(seeds[0]!.labels, seeds.map((s) => s.scores));
    const testSetDf = satterthwaiteDf(delongVarianceParts(c, seeds.map(() => 1 / k)));
    return seedTestInterval(c.auroc, c.covariance, { level, testSetDf });
  }
  const per = seeds.map((s) => delongCovariance(s.labels, [s.scores]));
  const testSetDf = satterthwaiteDf(per.flatMap((c) => delongVarianceParts(c, [1 / k])));
  return seedTestInterval(
    per.map((c) => c.auroc[0]!),
    per.map((c) => c.covariance[0]![0]!),
    { level, testSetDf },
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
  // A bootstrap covariance from this many replicates counts as known (df ∞).
  return seedTestInterval(
    seeds.map((s) => metric(s.labels, s.scores)),
    c,
    { level: options.level },
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
