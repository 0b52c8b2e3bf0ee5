/**
 * L2-regularised logistic regression fitted by Newton's method (iteratively reweighted least squares).
 * Used for reference AUROCs of a cohort (what simple summaries alone predict), not as a victim model.
 * Features are standardised on the training rows, so the penalty treats every feature alike; the intercept is
 * not penalised.
 */
export interface LogisticModel {
  /** Per-feature mean and standard deviation of the training rows (a constant feature keeps sd 1). */
  mean: Float64Array;
  sd: Float64Array;
  /** Intercept first, then one coefficient per standardised feature. */
  coef: Float64Array;
  iterations: number;
}

export interface LogisticOptions {
  /** Penalty λ on the squared coefficients of the standardised features (sum over rows, not mean). */
  l2?: number;
  maxIterations?: number;
  /** Stop when the largest coefficient change falls below this. */
  tolerance?: number;
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** Solves A x = b for a symmetric positive definite A (row-major, d×d) by Cholesky; A is not modified. */
export function solveSpd(a: Float64Array, b: Float64Array, d: number): Float64Array {
  const l = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * d + j];
      for (let k = 0; k < j; k++) s -= l[i * d + k] * l[j * d + k];
      if (i === j) {
        if (!(s > 0)) throw new Error('solveSpd: matrix is not positive definite');
        l[i * d + i] = Math.sqrt(s);
      } else {
        l[i * d + j] = s / l[j * d + j];
      }
    }
  }
  const y = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= l[i * d + k] * y[k];
    y[i] = s / l[i * d + i];
  }
  const x = new Float64Array(d);
  for (let i = d - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < d; k++) s -= l[k * d + i] * x[k];
    x[i] = s / l[i * d + i];
  }
  return x;
}

/** Fits on rows × features (row-major, `features` columns) with binary labels. Features must be finite. */
export function fitLogistic(x: ArrayLike<number>, labels: ArrayLike<number>, features: number, options: LogisticOptions = {}): LogisticModel {
  const n = labels.length;
  const l2 = options.l2 ?? 1;
  const maxIterations = options.maxIterations ?? 50;
  const tolerance = options.tolerance ?? 1e-8;
  if (x.length !== n * features) throw new Error(`fitLogistic: ${x.length} values for ${n} rows × ${features} features`);
  if (n === 0) throw new Error('fitLogistic: no rows');
  if (!(l2 > 0)) throw new Error(`fitLogistic: l2 must be > 0, got ${l2}`);
  const mean = new Float64Array(features);
  const sd = new Float64Array(features);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < features; j++) {
      const v = x[i * features + j];
      if (!Number.isFinite(v)) throw new Error(`fitLogistic: row ${i} feature ${j} is not finite`);
      mean[j] += v;
    }
    const y = labels[i];
    if (y !== 0 && y !== 1) throw new Error(`fitLogistic: label ${y} at row ${i} is not 0 or 1`);
  }
  for (let j = 0; j < features; j++) mean[j] /= n;
  for (let i = 0; i < n; i++) for (let j = 0; j < features; j++) sd[j] += (x[i * features + j] - mean[j]) ** 2;
  for (let j = 0; j < features; j++) sd[j] = Math.sqrt(sd[j] / n) || 1;

  const d = features + 1;
  const z = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    z[i * d] = 1;
    for (let j = 0; j < features; j++) z[i * d + j + 1] = (x[i * features + j] - mean[j]) / sd[j];
  }
  const coef = new Float64Array(d);
  let iterations = 0;
  for (; iterations < maxIterations; iterations++) {
    const grad = new Float64Array(d);
    const hess = new Float64Array(d * d);
    for (let i = 0; i < n; i++) {
      let eta = 0;
      for (let k = 0; k < d; k++) eta += coef[k] * z[i * d + k];
      const p = sigmoid(eta);
      const w = Math.max(p * (1 - p), 1e-12);
      const r = labels[i] - p;
      for (let a = 0; a < d; a++) {
        const za = z[i * d + a];
        grad[a] += r * za;
        for (let b = 0; b <= a; b++) hess[a * d + b] += w * za * z[i * d + b];
      }
    }
    for (let a = 1; a < d; a++) {
      grad[a] -= l2 * coef[a];
      hess[a * d + a] += l2;
    }
    // The intercept's diagonal gets a tiny ridge only so an all-one-class fit stays solvable.
    hess[0] += 1e-9;
    for (let a = 0; a < d; a++) for (let b = a + 1; b < d; b++) hess[a * d + b] = hess[b * d + a];
    const step = solveSpd(hess, grad, d);
    let change = 0;
    for (let k = 0; k < d; k++) {
      coef[k] += step[k];
      change = Math.max(change, Math.abs(step[k]));
    }
    if (change < tolerance) {
      iterations++;
      break;
    }
  }
  return { mean, sd, coef, iterations };
}

/** Predicted probabilities for rows × features (row-major). */
export function predictLogistic(model: LogisticModel, x: ArrayLike<number>): Float64Array {
  const features = model.mean.length;
  const n = x.length / features;
  if (!Number.isInteger(n)) throw new Error(`predictLogistic: ${x.length} values are not a multiple of ${features} features`);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let eta = model.coef[0];
    for (let j = 0; j < features; j++) eta += model.coef[j + 1] * ((x[i * features + j] - model.mean[j]) / model.sd[j]);
    out[i] = sigmoid(eta);
  }
  return out;
}
