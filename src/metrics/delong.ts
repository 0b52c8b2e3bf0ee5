import { checkBinary, checkSameLength, checkScores } from './classification.js';
import { normalCdf, normalQuantile } from './distributions.js';

/**
 * DeLong's nonparametric covariance of correlated AUROCs measured on one test set, and the test of two of them
 * (DeLong, DeLong & Clarke-Pearson 1988, Biometrics 44:837–845, eqs. for V10, V01, S10, S01 and S = S10/m + S01/n).
 *
 * With m positives X_1..X_m, n negatives Y_1..Y_n and ψ(x, y) = 1 if x > y, ½ if x = y, 0 otherwise, each model r has
 *   V10_r(X_i) = (1/n) Σ_j ψ(X_i, Y_j),   V01_r(Y_j) = (1/m) Σ_i ψ(X_i, Y_j),   AUROC_r = mean_i V10_r = mean_j V01_r,
 *   S10[r][s] = Σ_i (V10_r(X_i) − AUROC_r)(V10_s(X_i) − AUROC_s) / (m − 1),  S01 likewise over the negatives / (n − 1),
 *   Cov(AUROC_r, AUROC_s) = S10[r][s]/m + S01[r][s]/n.
 * The components come from midranks in O(N log N) per model (Sun & Xu 2014, IEEE Signal Processing Letters 21:1389,
 * "Fast implementation of DeLong's algorithm"): with T_z the midrank of a row among all rows, T_x among the positives
 * and T_y among the negatives, V10(X_i) = (T_z − T_x)/n and V01(Y_j) = 1 − (T_z − T_y)/m.
 * The AUROC is the same ties-count-½ Mann–Whitney estimate as classification.ts's auroc.
 */

export interface AurocCovariance {
  n_pos: number;
  n_neg: number;
  /** AUROC of each score vector, in the order given. NaN when a class is absent. */
  auroc: number[];
  /** DeLong covariance matrix of the AUROCs, S10/m + S01/n. NaN entries when a class has fewer than 2 rows. */
  covariance: number[][];
  /** Its positives' part S10/m, a sample covariance over the m positives (m − 1 degrees of freedom). */
  covariance_pos: number[][];
  /** Its negatives' part S01/n, over the n negatives (n − 1 degrees of freedom). */
  covariance_neg: number[][];
}

export interface DelongTest {
  n_pos: number;
  n_neg: number;
  auroc_a: number;
  auroc_b: number;
  /** auroc_a − auroc_b. */
  difference: number;
  variance_a: number;
  variance_b: number;
  covariance: number;
  /** √(variance_a + variance_b − 2·covariance). */
  se: number;
  z: number;
  /** Two-sided p = 2·Φ(−|z|). */
  p: number;
  alpha: number;
  /** difference ± z_{1−α/2}·se. */
  ci: [number, number];
}

/** 1-based midranks: a tied block occupying ranks r..s gets (r + s)/2 each. */
export function midranks(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => values[a]! - values[b]!);
  const ranks = new Float64Array(n);
  let start = 0;
  while (start < n) {
    let end = start;
    while (end + 1 < n && values[order[end + 1]!] === values[order[start]!]) end++;
    const rank = (start + end) / 2 + 1;
    for (let k = start; k <= end; k++) ranks[order[k]!] = rank;
    start = end + 1;
  }
  return ranks;
}

/** DeLong's structural components of one score vector: V10 over the positives, V01 over the negatives (row order kept). */
export function delongComponents(labels: ArrayLike<number>, scores: ArrayLike<number>): { v10: Float64Array; v01: Float64Array } {
  checkSameLength('delongComponents', labels, scores);
  checkBinary('delongComponents', labels);
  checkScores('delongComponents', scores);
  const pos: number[] = [];
  const neg: number[] = [];
  for (let i = 0; i < labels.length; i++) (labels[i] === 1 ? pos : neg).push(scores[i]!);
  const m = pos.length;
  const n = neg.length;
  const tz = midranks([...pos, ...neg]);
  const tx = midranks(pos);
  const ty = midranks(neg);
  const v10 = new Float64Array(m);
  const v01 = new Float64Array(n);
  for (let i = 0; i < m; i++) v10[i] = (tz[i]! - tx[i]!) / n;
  for (let j = 0; j < n; j++) v01[j] = 1 - (tz[m + j]! - ty[j]!) / m;
  return { v10, v01 };
}

function meanOf(x: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]!;
  return s / x.length;
}

/** Sample covariance (denominator length − 1) of two equally long vectors with known means. */
function sampleCov(a: Float64Array, meanA: number, b: Float64Array, meanB: number): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - meanA) * (b[i]! - meanB);
  return s / (a.length - 1);
}

/** AUROCs of several score vectors for the same rows and labels, with their DeLong covariance matrix. */
export function delongCovariance(labels: ArrayLike<number>, scoresList: readonly ArrayLike<number>[]): AurocCovariance {
  if (scoresList.length === 0) throw new Error('delongCovariance: no score vector given');
  const comps = scoresList.map((s) => delongComponents(labels, s));
  const m = comps[0]!.v10.length;
  const n = comps[0]!.v01.length;
  const auroc = comps.map((c) => (m === 0 || n === 0 ? NaN : meanOf(c.v10)));
  const mean01 = comps.map((c) => meanOf(c.v01));
  const part = (f: (r: number, s: number) => number): number[][] =>
    comps.map((_, r) => comps.map((__, s) => (m < 2 || n < 2 ? NaN : f(r, s))));
  const covariancePos = part((r, s) => sampleCov(comps[r]!.v10, auroc[r]!, comps[s]!.v10, auroc[s]!) / m);
  const covarianceNeg = part((r, s) => sampleCov(comps[r]!.v01, mean01[r]!, comps[s]!.v01, mean01[s]!) / n);
  const covariance = part((r, s) => covariancePos[r]![s]! + covarianceNeg[r]![s]!);
  return { n_pos: m, n_neg: n, auroc, covariance, covariance_pos: covariancePos, covariance_neg: covarianceNeg };
}

/**
 * Satterthwaite's (1946, Biometrics Bulletin 2:110) approximate degrees of freedom of a sum of independent variance
 * estimates v_i with df_i each: (Σ v_i)² / Σ (v_i² / df_i). Parts with v_i = 0 drop out; all zero gives ∞.
 */
export function satterthwaiteDf(parts: readonly { variance: number; df: number }[]): number {
  let sum = 0;
  let denom = 0;
  for (const { variance, df } of parts) {
    sum += variance;
    if (variance !== 0) denom += (variance * variance) / df;
  }
  return denom === 0 ? Infinity : (sum * sum) / denom;
}

/**
 * The two parts of the DeLong variance of w·AUROC (a weighted sum: the mean over seeds, a difference), each with its
 * degrees of freedom: the positives' part (m − 1) and the negatives' part (n − 1). satterthwaiteDf of them (and of the
 * parts of other, independent test sets) is the df of the test-set variance.
 */
export function delongVarianceParts(c: AurocCovariance, weights: readonly number[]): { variance: number; df: number }[] {
  const quad = (mat: number[][]): number => {
    let q = 0;
    for (let r = 0; r < weights.length; r++) for (let s = 0; s < weights.length; s++) q += weights[r]! * weights[s]! * mat[r]![s]!;
    return Math.max(0, q);
  };
  return [
    { variance: quad(c.covariance_pos), df: c.n_pos - 1 },
    { variance: quad(c.covariance_neg), df: c.n_neg - 1 },
  ];
}

/** DeLong variance of one AUROC (NaN when a class has fewer than 2 rows). */
export function aurocVariance(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  return delongCovariance(labels, [scores]).covariance[0]![0]!;
}

/**
 * DeLong's test of H0: AUROC_a = AUROC_b for two score vectors on the same rows: z = (A − B)/se, two-sided normal
 * p-value, and the (1 − α) Wald interval for A − B. With se = 0 (e.g. identical rankings) z is 0 when A = B.
 */
export function delongTest(labels: ArrayLike<number>, scoresA: ArrayLike<number>, scoresB: ArrayLike<number>, alpha = 0.05): DelongTest {
  if (!(alpha > 0 && alpha < 1)) throw new Error(`delongTest: alpha must be in (0, 1), got ${alpha}`);
  checkSameLength('delongTest (scoresA vs scoresB)', scoresA, scoresB);
  const c = delongCovariance(labels, [scoresA, scoresB]);
  const [a, b] = c.auroc as [number, number];
  const varA = c.covariance[0]![0]!;
  const varB = c.covariance[1]![1]!;
  const cov = c.covariance[0]![1]!;
  const difference = a - b;
  // Rounding can leave a tiny negative variance when the two vectors rank alike.
  const se = Math.sqrt(Math.max(0, varA + varB - 2 * cov));
  const z = se === 0 ? (difference === 0 ? 0 : Math.sign(difference) * Infinity) : difference / se;
  const half = normalQuantile(1 - alpha / 2) * se;
  return {
    n_pos: c.n_pos,
    n_neg: c.n_neg,
    auroc_a: a,
    auroc_b: b,
    difference,
    variance_a: varA,
    variance_b: varB,
    covariance: cov,
    se,
    z,
    p: Number.isNaN(z) ? NaN : 2 * normalCdf(-Math.abs(z)),
    alpha,
    ci: [difference - half, difference + half],
  };
}
