import { centred, covariance, selectRows, symmetricEigen } from './linalg.js';
import { validateParams, type ParamSchema } from '../util/plugin.js';
import { need, resolveEpsilon, rowsByLabel, type Detector, type RawDetectorParams } from './types.js';

/**
 * Spectral signatures (Tran, Li & Madry, NeurIPS 2018): within each class, poisoned rows leave a trace in the
 * top singular direction of the centred representations. Score = squared projection on that direction; the
 * paper removes the 1.5·ε·n highest-scoring rows of each class, ε being an assumed upper bound on the
 * number of poisoned rows.
 */
export interface SpectralParams {
  /** Assumed poison rate ε, or `run`: the run's configured rate (an oracle, for upper-bound analyses). */
  epsilon: number | 'run';
  /** Multiplier of the assumed count: Tran et al. remove 1.5·ε rows per class. */
  removal_factor: number;
  /** What ε is a share of: the whole training split (the paper's count of poisoned examples) or each class. */
  epsilon_scope: 'training_set' | 'class';
  /** `none`: the paper's raw score; `class_mean`: scores divided by their class mean (one relative scale per class). */
  normalize: 'class_mean' | 'none';
}

const TRAN = 'Tran, Li & Madry 2018, "Spectral Signatures in Backdoor Attacks", NeurIPS, Algorithm 1';

export const SPECTRAL_PARAMS: ParamSchema = {
  epsilon: {
    type: 'number',
    min: 0,
    max: 0.5,
    words: ['run'],
    default: 0.05,
    description:
      "Assumed poison rate: the defender's guess of the share of poisoned rows, which sets how many rows are flagged. `run` uses the run's configured rate instead: an oracle, for upper-bound analyses only",
    citation: TRAN,
  },
  removal_factor: {
    type: 'number',
    min: 0,
    minOpen: true,
    max: 10,
    default: 1.5,
    description: 'The top removal_factor x epsilon x (n_train or the class size) rows of each class are flagged, at most the whole class',
    citation: TRAN,
  },
  epsilon_scope: {
    type: 'string',
    choices: ['training_set', 'class'],
    default: 'training_set',
    description:
      'What epsilon is a share of: training_set (the paper\'s bound on the number of poisoned examples, the same base as poison.rate) or class (each class\'s size; removes too few rows where all poison sits in one class)',
  },
  normalize: {
    type: 'string',
    choices: ['class_mean', 'none'],
    default: 'none',
    description:
      "none: the paper's raw squared projections; class_mean: each class's scores divided by their mean. Changes only the ranking across classes (the AUROC), never the flag rule",
  },
};

export const spectral: Detector<SpectralParams> = {
  name: 'spectral',
  description: 'Spectral signatures (Tran et al. 2018): squared projection on the top singular vector of the centred penultimate representations, per class',
  params: SPECTRAL_PARAMS,
  resolve(raw: RawDetectorParams): SpectralParams {
    return validateParams('spectral', SPECTRAL_PARAMS, raw, { owner: 'spectral' }) as unknown as SpectralParams;
  },
  score(input, params) {
    const reps = need(input.representation, 'penultimate representations', 'spectral')();
    const n = input.labels.length;
    if (reps.rows !== n) throw new Error(`spectral: ${reps.rows} representation rows for ${n} labels`);
    const epsilon = resolveEpsilon(params.epsilon, input, 'spectral');
    const scores = new Float32Array(n);
    const flagged = new Uint8Array(n);
    const classes: Record<string, unknown>[] = [];
    for (const [label, rows] of rowsByLabel(input.labels)) {
      const x = centred(selectRows(reps, rows));
      const { values, vectors } = symmetricEigen(covariance(x), x.cols);
      const d = x.cols;
      const raw = new Float64Array(rows.length);
      let sum = 0;
      for (let k = 0; k < rows.length; k++) {
        let proj = 0;
        for (let j = 0; j < d; j++) proj += x.data[k * d + j] * vectors[j * d];
        raw[k] = proj * proj;
        sum += raw[k];
      }
      const mean = sum / rows.length;
      const divisor = params.normalize === 'class_mean' && mean > 0 ? mean : 1;
      rows.forEach((i, k) => (scores[i] = raw[k] / divisor));
      const base = params.epsilon_scope === 'class' ? rows.length : n;
      const remove = Math.min(rows.length, Math.floor(params.removal_factor * epsilon * base));
      // Ties broken by row order so the flagged set is reproducible.
      const order = rows.map((_, k) => k).sort((a, b) => raw[b] - raw[a] || a - b);
      for (let r = 0; r < remove; r++) flagged[rows[order[r]]] = 1;
      let trace = 0;
      for (const v of values) trace += Math.max(v, 0);
      classes.push({
        label,
        n: rows.length,
        flagged: remove,
        top_eigenvalue: values[0] ?? 0,
        top_variance_share: trace > 0 ? values[0] / trace : 0,
      });
    }
    return { scores, flagged, details: { epsilon_used: epsilon, classes } };
  },
};
