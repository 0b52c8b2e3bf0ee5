import { deriveRng } from '../engine/rng.js';

/**
 * Statistical building blocks of the report: summaries over seeds, the percentile bootstrap, the paired t-test
 * (via the regularized incomplete beta function), the exact Wilcoxon signed-rank test and Holm's correction.
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
  note?: string;
}

export function summarize(values: readonly number[], options: BootstrapOptions = {}): Summary {
  const finite = values.filter((v) => Number.isFinite(v));
  const n = finite.length;
  if (n === 0) return { n, mean: null, sd: null, ci95: null, note: `${N_TOO_SMALL} (n = 0)` };
  if (n === 1) return { n, mean: finite[0]!, sd: null, ci95: null, note: `${N_TOO_SMALL} for SD and CI (n = 1; they need n ≥ 2)` };
  return { n, mean: mean(finite), sd: sampleSd(finite), ci95: bootstrapMeanCi(finite, { ...options, level: 0.95 }) };
}

// ---------------------------------------------------------------------------------------------------------------
// Student's t distribution

/** ln Γ(x) for x > 0, Lanczos approximation (g = 7, n = 9; coefficients as in Numerical Recipes 3rd ed. §6.1). */
function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012,
    9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let a = c[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the incomplete beta function by the modified Lentz method (Numerical Recipes §6.4). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  const eps = 1e-15;
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 10000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < eps) return h;
  }
  throw new Error(`incomplete beta: continued fraction did not converge (x = ${x}, a = ${a}, b = ${b})`);
}

/** Regularized incomplete beta function I_x(a, b). */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  if (!(a > 0 && b > 0)) throw new Error(`incomplete beta: a and b must be positive, got ${a}, ${b}`);
  if (!(x >= 0 && x <= 1)) throw new Error(`incomplete beta: x must be in [0, 1], got ${x}`);
  if (x === 0 || x === 1) return x;
  const lnFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x);
  const front = Math.exp(lnFront);
  // The continued fraction converges fast only for x < (a + 1)/(a + b + 2); otherwise use the symmetry I_x(a,b) = 1 − I_{1−x}(b,a).
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(x, a, b)) / a;
  return 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
}

/** Two-sided p-value of a t statistic: I_{df/(df+t²)}(df/2, ½). */
export function studentTTwoSidedP(t: number, df: number): number {
  if (!Number.isFinite(t)) return 0;
  return regularizedIncompleteBeta(df / (df + t * t), df / 2, 0.5);
}

// ---------------------------------------------------------------------------------------------------------------
// Paired tests

export interface TestResult {
  test: string;
  n: number;
  /** The test statistic (t, or W+ for Wilcoxon); null when not computed. */
  statistic: number | null;
  df?: number | null;
  p: number | null;
  /** Filled by holm() across a family of tests. */
  p_holm?: number | null;
  /** Smallest two-sided p the test can reach with this n (Wilcoxon only). */
  min_attainable_p?: number;
  note?: string;
}

const T_TEST_MIN_N = 3;

/**
 * Paired t-test on differences d_i = after_i − before_i: t = mean(d) / (sd(d)/√n), df = n − 1, two-sided.
 * Requires n ≥ 3 (with n = 2 the single degree of freedom makes the test meaningless for seeds) and non-zero spread.
 */
export function pairedTTest(differences: readonly number[]): TestResult {
  const d = differences.filter((v) => Number.isFinite(v));
  const n = d.length;
  const test = 'paired t-test (two-sided)';
  if (n < T_TEST_MIN_N) return { test, n, statistic: null, df: null, p: null, note: `${N_TOO_SMALL} (n = ${n}; the paired t-test needs n ≥ ${T_TEST_MIN_N})` };
  const m = mean(d);
  const sd = sampleSd(d);
  if (sd === 0) {
    return { test, n, statistic: null, df: n - 1, p: null, note: `not defined: all ${n} differences are equal (${m}), so their SD is 0` };
  }
  const t = m / (sd / Math.sqrt(n));
  return { test, n, statistic: t, df: n - 1, p: studentTTwoSidedP(t, n - 1) };
}

/** Ranks 1..n of |values| with ties given their average rank. */
export function midranks(values: readonly number[]): number[] {
  const order = values.map((v, i) => [Math.abs(v), i] as const).sort((a, b) => a[0] - b[0]);
  const ranks = new Array<number>(values.length);
  let i = 0;
  while (i < order.length) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    const r = (i + 1 + (j + 1)) / 2;
    for (let k = i; k <= j; k++) ranks[order[k]![1]] = r;
    i = j + 1;
  }
  return ranks;
}

const WILCOXON_EXACT_MAX_N = 20;

/**
 * Wilcoxon signed-rank test on paired differences, two-sided. Zero differences are dropped (Wilcoxon's original
 * convention, as R's wilcox.test); W+ is the sum of the (mid)ranks of |d| over positive differences. The p-value is
 * exact: all 2^n sign assignments of the observed ranks are enumerated (n ≤ 20), which stays exact under ties.
 * p = min(1, 2·min(P(W ≤ W+), P(W ≥ W+))).
 */
export function wilcoxonSignedRank(differences: readonly number[]): TestResult {
  const d = differences.filter((v) => Number.isFinite(v) && v !== 0);
  const dropped = differences.filter((v) => v === 0).length;
  const n = d.length;
  const test = 'Wilcoxon signed-rank (exact, two-sided)';
  const zeroNote = dropped > 0 ? `; ${dropped} zero difference(s) dropped` : '';
  if (n < 1) return { test, n, statistic: null, p: null, note: `${N_TOO_SMALL} (n = 0 non-zero differences${zeroNote})` };
  if (n > WILCOXON_EXACT_MAX_N) {
    return { test, n, statistic: null, p: null, note: `exact enumeration limited to n ≤ ${WILCOXON_EXACT_MAX_N}; use the t-test` };
  }
  const ranks = midranks(d);
  let wPlus = 0;
  for (let i = 0; i < n; i++) if (d[i]! > 0) wPlus += ranks[i]!;
  // Doubled ranks are integers even with midranks, so W sums compare exactly.
  const r2 = ranks.map((r) => Math.round(2 * r));
  const w2 = Math.round(2 * wPlus);
  const total = 2 ** n;
  let le = 0;
  let ge = 0;
  for (let mask = 0; mask < total; mask++) {
    let s = 0;
    for (let i = 0; i < n; i++) if (mask & (1 << i)) s += r2[i]!;
    if (s <= w2) le++;
    if (s >= w2) ge++;
  }
  const p = Math.min(1, (2 * Math.min(le, ge)) / total);
  return { test, n, statistic: wPlus, p, min_attainable_p: Math.min(1, 2 / total), ...(zeroNote ? { note: zeroNote.slice(2) } : {}) };
}

/**
 * Holm's step-down adjustment (Holm 1979): with p sorted ascending p(1) ≤ … ≤ p(m),
 * p̃(i) = max_{j ≤ i} min(1, (m − j + 1)·p(j)). Null entries (tests not run) are not part of the family and stay null.
 */
export function holm(pValues: readonly (number | null)[]): (number | null)[] {
  const idx = pValues.map((p, i) => [p, i] as const).filter((e): e is readonly [number, number] => e[0] !== null && Number.isFinite(e[0]));
  idx.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const m = idx.length;
  const out: (number | null)[] = pValues.map(() => null);
  let running = 0;
  idx.forEach(([p, i], j) => {
    running = Math.max(running, Math.min(1, (m - j) * p));
    out[i] = running;
  });
  return out;
}
