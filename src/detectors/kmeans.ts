import type { Rng } from '../engine/rng.js';
import type { Matrix } from './linalg.js';

export interface KMeansResult {
  /** Cluster of each row, 0..k−1. */
  assignment: Int32Array;
  /** k × cols. */
  centroids: Float64Array;
  sizes: number[];
  /** Sum of squared distances of rows to their centroid. */
  inertia: number;
}

function sqDist(x: Matrix, i: number, c: Float64Array, j: number): number {
  const d = x.cols;
  let s = 0;
  for (let t = 0; t < d; t++) {
    const diff = x.data[i * d + t] - c[j * d + t];
    s += diff * diff;
  }
  return s;
}

/**
 * Greedy k-means++ seeding (Arthur & Vassilvitskii 2007, with scikit-learn's greedy variant): each next centre is
 * the best, by the resulting potential, of 2 + ⌊ln k⌋ candidates drawn with probability ∝ squared distance to
 * the nearest chosen centre. The greedy trials make a start in a poor local optimum much rarer.
 */
function seedCentroids(x: Matrix, k: number, rng: Rng): Float64Array {
  const d = x.cols;
  const c = new Float64Array(k * d);
  const first = rng.int(x.rows);
  c.set(x.data.subarray(first * d, (first + 1) * d), 0);
  const trials = 2 + Math.floor(Math.log(k));
  const nearest = new Float64Array(x.rows);
  for (let i = 0; i < x.rows; i++) nearest[i] = sqDist(x, i, c, 0);
  for (let j = 1; j < k; j++) {
    let total = 0;
    for (let i = 0; i < x.rows; i++) total += nearest[i];
    let bestPick = -1;
    let bestPotential = Infinity;
    for (let t = 0; t < trials; t++) {
      let pick: number;
      if (!(total > 0)) {
        pick = rng.int(x.rows);
      } else {
        let target = rng.next() * total;
        pick = x.rows - 1;
        for (let i = 0; i < x.rows; i++) {
          target -= nearest[i];
          if (target < 0) {
            pick = i;
            break;
          }
        }
      }
      const candidate = x.data.subarray(pick * d, (pick + 1) * d);
      let potential = 0;
      for (let i = 0; i < x.rows; i++) potential += Math.min(nearest[i], sqDist(x, i, candidate, 0));
      if (potential < bestPotential) {
        bestPotential = potential;
        bestPick = pick;
      }
    }
    c.set(x.data.subarray(bestPick * d, (bestPick + 1) * d), j * d);
    for (let i = 0; i < x.rows; i++) nearest[i] = Math.min(nearest[i], sqDist(x, i, c, j));
  }
  return c;
}

function lloyd(x: Matrix, centroids: Float64Array, k: number, maxIter: number): KMeansResult {
  const d = x.cols;
  const assignment = new Int32Array(x.rows).fill(-1);
  const c = centroids;
  for (let iter = 0; iter < maxIter; iter++) {
    let changed = false;
    for (let i = 0; i < x.rows; i++) {
      let best = 0;
      let bestD = Infinity;
      for (let j = 0; j < k; j++) {
        const dist = sqDist(x, i, c, j);
        if (dist < bestD) {
          bestD = dist;
          best = j;
        }
      }
      if (assignment[i] !== best) {
        assignment[i] = best;
        changed = true;
      }
    }
    if (!changed) break;
    const sums = new Float64Array(k * d);
    const counts = new Array<number>(k).fill(0);
    for (let i = 0; i < x.rows; i++) {
      const j = assignment[i];
      counts[j]++;
      for (let t = 0; t < d; t++) sums[j * d + t] += x.data[i * d + t];
    }
    // An emptied cluster keeps its previous centre rather than collapsing to the origin.
    for (let j = 0; j < k; j++) if (counts[j] > 0) for (let t = 0; t < d; t++) c[j * d + t] = sums[j * d + t] / counts[j];
  }
  const sizes = new Array<number>(k).fill(0);
  let inertia = 0;
  for (let i = 0; i < x.rows; i++) {
    sizes[assignment[i]]++;
    inertia += sqDist(x, i, c, assignment[i]);
  }
  return { assignment, centroids: c, sizes, inertia };
}

/** Lloyd's k-means from `nInit` k-means++ starts drawn from `rng`; the run with the least inertia wins. */
export function kMeans(x: Matrix, k: number, rng: Rng, options: { nInit: number; maxIter: number }): KMeansResult {
  if (x.rows < k) throw new Error(`kMeans: ${x.rows} rows cannot form ${k} clusters`);
  let best: KMeansResult | null = null;
  for (let r = 0; r < options.nInit; r++) {
    const result = lloyd(x, seedCentroids(x, k, rng), k, options.maxIter);
    if (!best || result.inertia < best.inertia) best = result;
  }
  return best!;
}

/**
 * Mean silhouette coefficient (Rousseeuw 1987) with Euclidean distance: for each row, (b − a)/max(a, b) with a the
 * mean distance to the rest of its own cluster and b the mean distance to the nearest other cluster; rows alone
 * in their cluster count 0, as in scikit-learn. O(n²): exact, no subsampling.
 */
export function silhouette(x: Matrix, assignment: Int32Array, k: number): number {
  const n = x.rows;
  const d = x.cols;
  const sizes = new Array<number>(k).fill(0);
  for (let i = 0; i < n; i++) sizes[assignment[i]]++;
  if (sizes.filter((s) => s > 0).length < 2) return NaN;
  const sums = new Float64Array(k);
  let total = 0;
  for (let i = 0; i < n; i++) {
    sums.fill(0);
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      let s = 0;
      for (let t = 0; t < d; t++) {
        const diff = x.data[i * d + t] - x.data[j * d + t];
        s += diff * diff;
      }
      sums[assignment[j]] += Math.sqrt(s);
    }
    const own = assignment[i];
    if (sizes[own] <= 1) continue;
    const a = sums[own] / (sizes[own] - 1);
    let b = Infinity;
    for (let c = 0; c < k; c++) if (c !== own && sizes[c] > 0) b = Math.min(b, sums[c] / sizes[c]);
    const m = Math.max(a, b);
    total += m > 0 ? (b - a) / m : 0;
  }
  return total / n;
}
