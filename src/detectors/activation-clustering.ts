import { deriveRng } from '../engine/rng.js';
import { kMeans, silhouette } from './kmeans.js';
import { selectRows, type Matrix } from './linalg.js';
import { validateParams, type ParamSchema } from '../util/plugin.js';
import { fastIca, pcaReduce } from './reduce.js';
import { need, rowsByLabel, type Detector, type RawDetectorParams } from './types.js';

/**
 * Activation clustering (Chen et al. 2018, "Detecting Backdoor Attacks on Deep Neural Networks by Activation
 * Clustering"): within each training label, reduce the penultimate activations (ICA to 10 components in the
 * paper), split them in two with k-means, and call the smaller cluster poisoned only when the split is
 * lopsided (relative size) and, optionally, when the two clusters are well separated (silhouette).
 */
export interface ActivationClusteringParams {
  reduction: 'ica' | 'pca';
  components: number;
  /** `size`: flag the smaller cluster when it holds < size_threshold of its class; `silhouette`: also require silhouette ≥ silhouette_threshold. */
  rule: 'size' | 'silhouette';
  size_threshold: number;
  silhouette_threshold: number;
  kmeans_n_init: number;
  kmeans_max_iter: number;
  ica_max_iter: number;
  ica_tol: number;
}

const ART = 'IBM Adversarial Robustness Toolbox, ClusteringAnalyzer (the reference implementation by the paper\'s authors)';

export const ACTIVATION_CLUSTERING_PARAMS: ParamSchema = {
  reduction: { type: 'string', choices: ['ica', 'pca'], default: 'ica', description: 'Reduction before clustering: FastICA (logcosh contrast, as in the paper) or PCA', citation: 'Chen et al. 2018, arXiv:1811.03728' },
  components: { type: 'integer', min: 1, max: 1000, default: 10, description: 'Dimensions kept; Chen et al. reduce to 10 independent components', citation: 'Chen et al. 2018, arXiv:1811.03728' },
  rule: {
    type: 'string',
    choices: ['size', 'silhouette'],
    default: 'size',
    description:
      'Flag the smaller of the two clusters when it holds less than size_threshold of its class (size), and in addition only when the mean silhouette is at least silhouette_threshold (silhouette)',
  },
  size_threshold: { type: 'number', min: 0, minOpen: true, max: 0.5, default: 0.35, description: 'Relative size below which the smaller cluster is called poisoned', citation: ART },
  silhouette_threshold: { type: 'number', min: -1, max: 1, default: 0.1, description: 'Minimum mean silhouette for rule: silhouette', citation: ART },
  kmeans_n_init: { type: 'integer', min: 1, max: 1000, default: 10, description: 'k-means++ starts; the best by inertia is kept', citation: 'scikit-learn KMeans defaults' },
  kmeans_max_iter: { type: 'integer', min: 1, max: 100000, default: 300, description: 'Lloyd iterations per start', citation: 'scikit-learn KMeans defaults' },
  ica_max_iter: { type: 'integer', min: 1, max: 100000, default: 200, description: 'FastICA iteration limit', citation: 'scikit-learn FastICA defaults' },
  ica_tol: { type: 'number', min: 0, minOpen: true, max: 1, default: 1e-4, description: 'FastICA convergence tolerance', citation: 'scikit-learn FastICA defaults' },
};

/** Per class: the reduced activations' 2-means split and whether its smaller cluster is flagged. */
export interface ClassClustering {
  label: number;
  n: number;
  components: number;
  ica_iterations: number | null;
  ica_converged: boolean | null;
  small_cluster_size: number;
  relative_size: number;
  silhouette: number | null;
  flagged: boolean;
  reason: string;
}

function reduce(x: Matrix, params: ActivationClusteringParams, seed: number | string, label: number) {
  if (params.reduction === 'pca') return { sources: pcaReduce(x, params.components), iterations: null, converged: null };
  const ica = fastIca(x, { components: params.components, maxIter: params.ica_max_iter, tol: params.ica_tol, rng: deriveRng(seed, 'detector', 'activation_clustering', 'ica', label) });
  return { sources: ica.sources, iterations: ica.iterations, converged: ica.converged };
}

export const activationClustering: Detector<ActivationClusteringParams> = {
  name: 'activation_clustering',
  description: 'Activation clustering (Chen et al. 2018): per class, ICA-reduced penultimate activations split by 2-means; a small cluster is flagged',
  params: ACTIVATION_CLUSTERING_PARAMS,
  resolve(raw: RawDetectorParams): ActivationClusteringParams {
    return validateParams('activation_clustering', ACTIVATION_CLUSTERING_PARAMS, raw, { owner: 'activation_clustering' }) as unknown as ActivationClusteringParams;
  },
  score(input, params) {
    const reps = need(input.representation, 'penultimate representations', 'activation_clustering')();
    const n = input.labels.length;
    if (reps.rows !== n) throw new Error(`activation_clustering: ${reps.rows} representation rows for ${n} labels`);
    const scores = new Float32Array(n);
    const flagged = new Uint8Array(n);
    const classes: ClassClustering[] = [];
    for (const [label, rows] of rowsByLabel(input.labels)) {
      const base = { label, n: rows.length };
      if (rows.length < 4) {
        classes.push({ ...base, components: 0, ica_iterations: null, ica_converged: null, small_cluster_size: 0, relative_size: 0, silhouette: null, flagged: false, reason: 'too few rows to cluster' });
        continue;
      }
      const reduced = reduce(selectRows(reps, rows), params, input.seed, label);
      const x = reduced.sources;
      const rng = deriveRng(input.seed, 'detector', 'activation_clustering', 'kmeans', label);
      const km = x.cols > 0 ? kMeans(x, 2, rng, { nInit: params.kmeans_n_init, maxIter: params.kmeans_max_iter }) : null;
      if (!km || km.sizes[0] === 0 || km.sizes[1] === 0) {
        classes.push({ ...base, components: x.cols, ica_iterations: reduced.iterations, ica_converged: reduced.converged, small_cluster_size: 0, relative_size: 0, silhouette: null, flagged: false, reason: 'the activations do not split into two clusters' });
        continue;
      }
      // The smaller cluster; on an exact tie cluster 1, which is as arbitrary as any choice (and 0.5 ≥ any threshold).
      const small = km.sizes[0] < km.sizes[1] ? 0 : 1;
      const relativeSize = km.sizes[small] / rows.length;
      const sil = silhouette(x, km.assignment, 2);
      const bySize = relativeSize < params.size_threshold;
      const bySilhouette = sil >= params.silhouette_threshold;
      const flag = params.rule === 'size' ? bySize : bySize && bySilhouette;
      const reason = !bySize
        ? `smaller cluster holds ${(100 * relativeSize).toFixed(1)}% of the class, not below ${(100 * params.size_threshold).toFixed(1)}%`
        : params.rule === 'silhouette' && !bySilhouette
          ? `silhouette ${sil.toFixed(3)} below ${params.silhouette_threshold}`
          : 'small, separate cluster';
      // Continuous score: how much nearer a row sits to the small cluster's centre than to the large one's,
      // m = (d_large − d_small)/(d_large + d_small) ∈ [−1, 1], weighted by how lopsided the split is,
      // (1 − 2·relative size) ∈ [0, 1): an even split (no evidence of a minority) scores every row 0, so one
      // ranking across classes is meaningful; within a class the order is the membership order.
      const weight = 1 - 2 * relativeSize;
      const d = x.cols;
      rows.forEach((i, k) => {
        let dSmall = 0;
        let dLarge = 0;
        for (let t = 0; t < d; t++) {
          const v = x.data[k * d + t];
          dSmall += (v - km.centroids[small * d + t]) ** 2;
          dLarge += (v - km.centroids[(1 - small) * d + t]) ** 2;
        }
        dSmall = Math.sqrt(dSmall);
        dLarge = Math.sqrt(dLarge);
        const margin = dSmall + dLarge > 0 ? (dLarge - dSmall) / (dSmall + dLarge) : 0;
        scores[i] = weight * margin;
        if (flag && km.assignment[k] === small) flagged[i] = 1;
      });
      classes.push({
        ...base,
        components: d,
        ica_iterations: reduced.iterations,
        ica_converged: reduced.converged,
        small_cluster_size: km.sizes[small],
        relative_size: relativeSize,
        silhouette: Number.isFinite(sil) ? sil : null,
        flagged: flag,
        reason,
      });
    }
    return { scores, flagged, details: { classes } };
  },
};
