/**
 * Robust statistics for SPECTRE (Hayase, Kong, Somani & Oh, ICML 2021): a filter-based robust estimate of a
 * class's mean and covariance, whitening with it, and the quantum-entropy (QUE) outlier score of Dong, Hopkins &
 * Li (NeurIPS 2019). Plain float64 code on the small matrices of linalg.ts.
 */
import { centred, columnMeans, covariance, matrix, projectOnto, symmetricEigen, type Matrix } from './linalg.js';

/** f(A) for a symmetric d × d matrix, applied to its eigenvalues: V diag(f(λ)) Vᵀ. */
export function symmetricFunction(a: ArrayLike<number>, d: number, f: (lambda: number) => number): Float64Array {
  const { values, vectors } = symmetricEigen(a, d);
  const out = new Float64Array(d * d);
  for (let k = 0; k < d; k++) {
    const fk = f(values[k]);
    if (fk === 0) continue;
    for (let i = 0; i < d; i++) {
      const vik = vectors[i * d + k] * fk;
      for (let j = 0; j < d; j++) out[i * d + j] += vik * vectors[j * d + k];
    }
  }
  return out;
}

/** The top-k principal directions of x's centred rows as a d × d column-vector matrix (first k columns used). */
export function principalProjection(x: Matrix, k: number): Matrix {
  const c = centred(x);
  const { vectors } = symmetricEigen(covariance(c), c.cols);
  return projectOnto(c, vectors, Math.min(k, c.cols));
}

function meanAndCov(x: Matrix, rows: number[]): { mean: Float64Array; cov: Float64Array } {
  const sub = matrix(rows.length, x.cols);
  rows.forEach((r, k) => sub.data.set(x.data.subarray(r * x.cols, (r + 1) * x.cols), k * x.cols));
  const mean = columnMeans(sub);
  return { mean, cov: covariance(centred(sub)) };
}

/** Rows of x minus `mean`, times W (d × d, symmetric). */
export function whiten(x: Matrix, mean: Float64Array, w: Float64Array): Matrix {
  const d = x.cols;
  const out = matrix(x.rows, d);
  const row = new Float64Array(d);
  for (let i = 0; i < x.rows; i++) {
    for (let j = 0; j < d; j++) row[j] = x.data[i * d + j] - mean[j];
    for (let a = 0; a < d; a++) {
      let s = 0;
      for (let b = 0; b < d; b++) s += w[a * d + b] * row[b];
      out.data[i * d + a] = s;
    }
  }
  return out;
}

/** Σ^(-1/2), eigenvalues below `floor` × the largest treated as `floor` × the largest (a rank-deficient class). */
export function inverseSqrt(cov: Float64Array, d: number, floor = 1e-6): Float64Array {
  let top = 0;
  for (let i = 0; i < d; i++) top = Math.max(top, cov[i * d + i]);
  const minValue = Math.max(floor * top, 1e-12);
  return symmetricFunction(cov, d, (l) => 1 / Math.sqrt(Math.max(l, minValue)));
}

export interface RobustEstimate {
  mean: Float64Array;
  cov: Float64Array;
  /** The rows the estimate rests on (those the filter kept). */
  kept: number[];
  removed: number;
}

/**
 * Filter-based robust mean and covariance, in the family SPECTRE runs (Diakonikolas, Kamath, Kane, Li, Moitra &
 * Stewart 2017, "Being robust (in high dimensions) can be practical"): repeatedly drop the rows furthest from the
 * current estimate in Mahalanobis distance and re-estimate, until `limit` rows are gone (SPECTRE's reference code
 * lets its filter drop up to 2ε·n rows). Trimming the whole budget matters when the poison is a tight cluster: a
 * cluster inflates the covariance it is measured against, so no poisoned row looks far until its neighbours go.
 * At least d + 1 rows are kept.
 */
export function robustCovariance(x: Matrix, limit: number): RobustEstimate {
  const d = x.cols;
  let kept = Array.from({ length: x.rows }, (_, i) => i);
  const budget = Math.min(Math.max(0, Math.floor(limit)), Math.max(0, x.rows - d - 1));
  const step = Math.max(1, Math.ceil(budget / 20));
  let est = meanAndCov(x, kept);
  while (x.rows - kept.length < budget) {
    const w = inverseSqrt(est.cov, d);
    const keptRows = matrix(kept.length, d);
    kept.forEach((r, k) => keptRows.data.set(x.data.subarray(r * d, (r + 1) * d), k * d));
    const z = whiten(keptRows, est.mean, w);
    const dist = kept.map((_, k) => {
      let s = 0;
      for (let j = 0; j < d; j++) s += z.data[k * d + j] ** 2;
      return s;
    });
    const order = kept.map((_, k) => k).sort((a, b) => dist[b] - dist[a] || a - b);
    const drop = new Set(order.slice(0, Math.min(step, budget - (x.rows - kept.length))));
    kept = kept.filter((_, k) => !drop.has(k));
    est = meanAndCov(x, kept);
  }
  return { mean: est.mean, cov: est.cov, kept, removed: x.rows - kept.length };
}

export interface QueScores {
  /** τ_i = z_iᵀ Q z_i / tr(Q) per row. */
  scores: Float64Array;
  /** tr(Σ' Q) / tr(Q): the QUE statistic of the whole sample, large when some direction has excess variance. */
  statistic: number;
}

/**
 * Quantum-entropy scores of whitened rows z (Dong, Hopkins & Li 2019, used by SPECTRE): with Σ' the covariance of z,
 * Q = exp(α (Σ' − I) / (‖Σ'‖₂ − 1)), and each row scores zᵀ Q z / tr(Q). α → 0 weights every direction alike
 * (a Mahalanobis score), α → ∞ only the top direction (a spectral score); SPECTRE uses α = 4.
 */
export function queScores(z: Matrix, alpha: number): QueScores {
  const d = z.cols;
  // Σ' about the origin: z is whitened by the robust mean, which is the reference point the scores measure from.
  const sigma = covariance(z);
  const { values } = symmetricEigen(sigma, d);
  const spread = Math.max(values[0] - 1, 1e-9);
  const shifted = Float64Array.from(sigma, (v, k) => (v - (Math.floor(k / d) === k % d ? 1 : 0)) / spread);
  const q = symmetricFunction(shifted, d, (l) => Math.exp(alpha * l));
  let trace = 0;
  for (let i = 0; i < d; i++) trace += q[i * d + i];
  const scores = new Float64Array(z.rows);
  for (let i = 0; i < z.rows; i++) {
    let s = 0;
    for (let a = 0; a < d; a++) {
      const za = z.data[i * d + a];
      let inner = 0;
      for (let b = 0; b < d; b++) inner += q[a * d + b] * z.data[i * d + b];
      s += za * inner;
    }
    scores[i] = s / trace;
  }
  let sq = 0;
  for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) sq += sigma[a * d + b] * q[b * d + a];
  return { scores, statistic: sq / trace };
}
