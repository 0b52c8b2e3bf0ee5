import type { Rng } from '../engine/rng.js';
import { centred, covariance, matrix, projectOnto, symmetricEigen, type Matrix } from './linalg.js';

/**
 * Dimensionality reduction before clustering: PCA, and FastICA (Hyvärinen 1999; Hyvärinen & Oja 2000) as
 * activation clustering uses it (Chen et al. 2018 reduce the activations to 10 independent components).
 */

/** Eigenvalues at or below this share of the largest are treated as zero (rank-deficient representations). */
const RANK_TOL = 1e-10;

interface Pca {
  /** Centred rows projected on the top k principal axes. */
  scores: Matrix;
  /** Variance along each kept axis. */
  variances: Float64Array;
  k: number;
}

function pca(x: Matrix, k: number): Pca {
  const xc = centred(x);
  const { values, vectors } = symmetricEigen(covariance(xc), x.cols);
  let rank = 0;
  while (rank < Math.min(k, x.cols) && values[rank] > RANK_TOL * Math.max(values[0], 0) && values[rank] > 0) rank++;
  return { scores: projectOnto(xc, vectors, rank), variances: values.slice(0, rank), k: rank };
}

/** Projection on the top `k` principal axes (fewer when the data has lower rank). */
export function pcaReduce(x: Matrix, k: number): Matrix {
  return pca(x, k).scores;
}

export interface IcaOptions {
  components: number;
  maxIter: number;
  tol: number;
  rng: Rng;
}

export interface IcaResult {
  /** Estimated independent components (unit variance), rows × k. */
  sources: Matrix;
  k: number;
  iterations: number;
  converged: boolean;
}

/** Rows of w (k × k) made orthonormal as (W Wᵀ)^{-1/2} W: the symmetric decorrelation of parallel FastICA. */
function symmetricDecorrelate(w: Float64Array, k: number): Float64Array {
  const wwt = new Float64Array(k * k);
  for (let a = 0; a < k; a++) {
    for (let b = 0; b < k; b++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += w[a * k + j] * w[b * k + j];
      wwt[a * k + b] = s;
    }
  }
  const { values, vectors } = symmetricEigen(wwt, k);
  const invSqrt = new Float64Array(k * k);
  for (let a = 0; a < k; a++) {
    for (let b = 0; b < k; b++) {
      let s = 0;
      for (let c = 0; c < k; c++) s += (vectors[a * k + c] * vectors[b * k + c]) / Math.sqrt(Math.max(values[c], 1e-300));
      invSqrt[a * k + b] = s;
    }
  }
  const out = new Float64Array(k * k);
  for (let a = 0; a < k; a++) {
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let c = 0; c < k; c++) s += invSqrt[a * k + c] * w[c * k + j];
      out[a * k + j] = s;
    }
  }
  return out;
}

/**
 * Parallel (symmetric) FastICA with the logcosh contrast, G(u) = log cosh u, g = tanh, g' = 1 − tanh².
 * Whitening projects the centred data on the top k eigenvectors of its covariance, scaled by 1/√eigenvalue, so
 * the whitened data has identity covariance. Then each iteration replaces every row w of the unmixing matrix by
 * E[z g(wᵀz)] − E[g'(wᵀz)] w and decorrelates the rows symmetrically, until every row turns by less than `tol`
 * (|1 − |⟨w_new, w_old⟩|| < tol). The defaults follow scikit-learn's FastICA (200 iterations, tol 1e-4).
 * The initial unmixing matrix is drawn from `rng`, so the result is reproducible from the run seed.
 */
export function fastIca(x: Matrix, options: IcaOptions): IcaResult {
  const { scores, variances, k } = pca(x, options.components);
  if (k === 0) return { sources: matrix(x.rows, 0), k: 0, iterations: 0, converged: true };
  const n = x.rows;
  const z = scores;
  for (let i = 0; i < n; i++) for (let c = 0; c < k; c++) z.data[i * k + c] /= Math.sqrt(variances[c]);

  let w: Float64Array = new Float64Array(k * k);
  for (let i = 0; i < k * k; i++) w[i] = options.rng.normal();
  w = symmetricDecorrelate(w, k);

  const u = new Float64Array(n);
  let iterations = 0;
  let converged = false;
  for (let iter = 1; iter <= options.maxIter; iter++) {
    iterations = iter;
    const next = new Float64Array(k * k);
    for (let r = 0; r < k; r++) {
      let gPrimeSum = 0;
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < k; j++) s += z.data[i * k + j] * w[r * k + j];
        const g = Math.tanh(s);
        u[i] = g;
        gPrimeSum += 1 - g * g;
      }
      for (let j = 0; j < k; j++) {
        let s = 0;
        for (let i = 0; i < n; i++) s += z.data[i * k + j] * u[i];
        next[r * k + j] = s / n - (gPrimeSum / n) * w[r * k + j];
      }
    }
    const decorrelated = symmetricDecorrelate(next, k);
    let change = 0;
    for (let r = 0; r < k; r++) {
      let dot = 0;
      for (let j = 0; j < k; j++) dot += decorrelated[r * k + j] * w[r * k + j];
      change = Math.max(change, Math.abs(Math.abs(dot) - 1));
    }
    w = decorrelated;
    if (change < options.tol) {
      converged = true;
      break;
    }
  }
  const sources = matrix(n, k);
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < k; r++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += z.data[i * k + j] * w[r * k + j];
      sources.data[i * k + r] = s;
    }
  }
  return { sources, k, iterations, converged };
}
