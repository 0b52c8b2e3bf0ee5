/**
 * The small dense linear algebra the detectors need (row-major float64), in plain TypeScript: the matrices are
 * at most (training rows × penultimate units), and keeping this off the tfjs backend makes results identical on
 * every backend.
 */

export interface Matrix {
  rows: number;
  cols: number;
  /** rows × cols, row-major. */
  data: Float64Array;
}

export function matrix(rows: number, cols: number, data?: ArrayLike<number>): Matrix {
  if (data && data.length !== rows * cols) throw new Error(`matrix: ${data.length} values for ${rows} × ${cols}`);
  return { rows, cols, data: data ? Float64Array.from(data) : new Float64Array(rows * cols) };
}

export function selectRows(m: Matrix, rows: ArrayLike<number>): Matrix {
  const out = matrix(rows.length, m.cols);
  for (let k = 0; k < rows.length; k++) out.data.set(m.data.subarray(rows[k] * m.cols, (rows[k] + 1) * m.cols), k * m.cols);
  return out;
}

export function columnMeans(m: Matrix): Float64Array {
  const mean = new Float64Array(m.cols);
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) mean[j] += m.data[i * m.cols + j];
  if (m.rows > 0) for (let j = 0; j < m.cols; j++) mean[j] /= m.rows;
  return mean;
}

/** A copy with every column's mean subtracted. */
export function centred(m: Matrix): Matrix {
  const mean = columnMeans(m);
  const out = matrix(m.rows, m.cols);
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) out.data[i * m.cols + j] = m.data[i * m.cols + j] - mean[j];
  return out;
}

/** Xᵀ X / rows for an already-centred X: the (population) covariance, cols × cols. */
export function covariance(x: Matrix): Float64Array {
  const d = x.cols;
  const c = new Float64Array(d * d);
  for (let i = 0; i < x.rows; i++) {
    const off = i * d;
    for (let a = 0; a < d; a++) {
      const xa = x.data[off + a];
      if (xa === 0) continue;
      for (let b = a; b < d; b++) c[a * d + b] += xa * x.data[off + b];
    }
  }
  const n = Math.max(1, x.rows);
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      c[a * d + b] /= n;
      c[b * d + a] = c[a * d + b];
    }
  }
  return c;
}

export interface Eigen {
  /** Eigenvalues, largest first. */
  values: Float64Array;
  /** d × d; column k is the unit eigenvector of values[k], its largest-magnitude entry positive. */
  vectors: Float64Array;
}

/**
 * Eigen-decomposition of a symmetric d × d matrix by the cyclic Jacobi method. Exact to rounding and free of
 * random starts, unlike power iteration whose convergence depends on the eigengap; the matrices here are
 * covariances of at most a few hundred units, where its O(d³) per sweep is cheap.
 */
export function symmetricEigen(a: ArrayLike<number>, d: number): Eigen {
  if (a.length !== d * d) throw new Error(`symmetricEigen: ${a.length} values for ${d} × ${d}`);
  const A = Float64Array.from(a);
  const V = new Float64Array(d * d);
  for (let i = 0; i < d; i++) V[i * d + i] = 1;
  let total = 0;
  for (let i = 0; i < d * d; i++) total += A[i] * A[i];
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < d; p++) for (let q = p + 1; q < d; q++) off += A[p * d + q] * A[p * d + q];
    if (off <= 1e-30 * total || off === 0) break;
    for (let p = 0; p < d; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = A[p * d + q];
        if (apq === 0) continue;
        const theta = (A[q * d + q] - A[p * d + p]) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        // A ← Jᵀ A J with the rotation in the (p, q) plane chosen to zero A[p][q]; V ← V J accumulates it.
        for (let k = 0; k < d; k++) {
          const akp = A[k * d + p];
          const akq = A[k * d + q];
          A[k * d + p] = c * akp - s * akq;
          A[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = A[p * d + k];
          const aqk = A[q * d + k];
          A[p * d + k] = c * apk - s * aqk;
          A[q * d + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < d; k++) {
          const vkp = V[k * d + p];
          const vkq = V[k * d + q];
          V[k * d + p] = c * vkp - s * vkq;
          V[k * d + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: d }, (_, k) => k).sort((x, y) => A[y * d + y] - A[x * d + x] || x - y);
  const values = new Float64Array(d);
  const vectors = new Float64Array(d * d);
  order.forEach((src, k) => {
    values[k] = A[src * d + src];
    let big = 0;
    for (let i = 0; i < d; i++) if (Math.abs(V[i * d + src]) > Math.abs(V[big * d + src])) big = i;
    const sign = V[big * d + src] < 0 ? -1 : 1;
    for (let i = 0; i < d; i++) vectors[i * d + k] = sign * V[i * d + src];
  });
  return { values, vectors };
}

/** x (rows × d) times the first k columns of a d × d (column-vector) matrix. */
export function projectOnto(x: Matrix, vectors: Float64Array, k: number, scale?: Float64Array): Matrix {
  const d = x.cols;
  const out = matrix(x.rows, k);
  for (let i = 0; i < x.rows; i++) {
    for (let c = 0; c < k; c++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += x.data[i * d + j] * vectors[j * d + c];
      out.data[i * k + c] = scale ? s * scale[c] : s;
    }
  }
  return out;
}

export function median(values: ArrayLike<number>): number {
  const n = values.length;
  if (n === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return n % 2 === 1 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

/**
 * Median and robust scale of a sample: 1.4826 × MAD, the consistent estimator of the SD for normal data
 * (Rousseeuw & Croux 1993). When more than half the values tie so the MAD is 0, the fallback is
 * 1.253314 × the mean absolute deviation from the median, also SD-consistent for normal data (the convention of
 * Iglewicz & Hoaglin 1993's modified z-score); 0 when every value is equal.
 */
export function robustScale(values: ArrayLike<number>): { median: number; scale: number } {
  const med = median(values);
  const dev = Float64Array.from(values, (v) => Math.abs(v - med));
  const mad = median(dev);
  if (mad > 0) return { median: med, scale: 1.4826 * mad };
  let sum = 0;
  for (const v of dev) sum += v;
  const meanAd = dev.length > 0 ? sum / dev.length : 0;
  return { median: med, scale: 1.253314 * meanAd };
}
