import { selectRows, type Matrix } from './linalg.js';
import { inverseSqrt, principalProjection, queScores, robustCovariance, whiten } from './robust.js';
import { validateParams, type ParamSchema } from '../util/plugin.js';
import { need, resolveEpsilon, rowsByLabel, type Detector, type RawDetectorParams } from './types.js';

/**
 * SPECTRE (Hayase, Kong, Somani & Oh, ICML 2021): per class, project the representations on their top k principal
 * directions, estimate the clean mean and covariance robustly, whiten with that estimate, and score each row by
 * quantum entropy (QUE). Whitening with a robust covariance removes the clean data's own large-variance directions,
 * which fool plain spectral signatures when the clean distribution is heavy-tailed or the poison is a small fraction.
 */
export interface SpectreParams {
  epsilon: number | 'run';
  alpha: number;
  dims: number | 'auto';
  robust_factor: number;
  removal_factor: number;
  classes: 'identified' | 'every';
}

const HAYASE = 'Hayase, Kong, Somani & Oh 2021, "SPECTRE: Defending Against Backdoor Attacks Using Robust Statistics", ICML';

export const SPECTRE_PARAMS: ParamSchema = {
  epsilon: {
    type: 'number',
    min: 0,
    max: 0.5,
    words: ['run'],
    default: 0.05,
    description: "Assumed upper bound on the poison rate (share of the training split); `run` uses the run's configured rate (an oracle)",
    citation: HAYASE,
  },
  alpha: { type: 'number', min: 0, minOpen: true, max: 100, default: 4, description: 'QUE exponent: 0 → Mahalanobis score, ∞ → top-direction (spectral) score', citation: HAYASE },
  dims: {
    type: 'integer',
    min: 1,
    max: 4096,
    words: ['auto'],
    default: 'auto',
    description: 'Principal directions kept before robust estimation; `auto` tries k = 1, 4, 9, …, 64 (capped at the units and at a tenth of the kept rows) and keeps the k with the largest QUE statistic, as the reference code does',
    citation: HAYASE,
  },
  robust_factor: { type: 'number', min: 0, max: 10, default: 2, description: 'The robust filter may drop up to robust_factor × ε × n rows of a class', citation: HAYASE },
  removal_factor: {
    type: 'number',
    min: 0,
    minOpen: true,
    max: 10,
    default: 1.5,
    description: 'Rows flagged: removal_factor × ε × n (at most the class), n the training split; the reference code removes 1.5 × the poison count it is given',
    citation: HAYASE,
  },
  classes: {
    type: 'string',
    choices: ['identified', 'every'],
    default: 'identified',
    description:
      "identified: flag rows only in the label with the largest QUE statistic, the paper's target-label identifier (its Algorithm 4), which estimates the poison rate as ε there and 0 elsewhere; every: flag removal_factor × ε × n rows in every label",
    citation: HAYASE,
  },
};

interface ClassFit {
  scores: Float64Array;
  statistic: number;
  dims: number;
}

function fitClass(reps: Matrix, dims: number, limit: number, alpha: number): ClassFit {
  const x = principalProjection(reps, dims);
  const est = robustCovariance(x, limit);
  const z = whiten(x, est.mean, inverseSqrt(est.cov, x.cols));
  const { scores, statistic } = queScores(z, alpha);
  return { scores, statistic, dims: x.cols };
}

/**
 * k = 1, 4, 9, …, 64 as in the reference code, capped at the units and at a tenth of the rows the robust filter
 * keeps: a covariance in k dimensions estimated from fewer than 10·k rows whitens noise, and the QUE statistic
 * then favours the largest k for no reason but sample size.
 */
export function candidateDims(units: number, keptRows: number): number[] {
  const top = Math.max(1, Math.min(64, units, Math.floor(keptRows / 10)));
  const out = new Set<number>();
  for (let k = 0; k < 8; k++) out.add(Math.min(top, Math.round((1 + (k * (Math.sqrt(64) - 1)) / 7) ** 2)));
  return [...out].sort((a, b) => a - b);
}

/**
 * The poison rate SPECTRE acts on, per label. The paper takes the rate from the defender as an upper bound ε: none
 * of its algorithms (SPECTRE, QUEscore, k-IDENTIFIER, target-label identifier) fits it to the data, and its
 * reference code is handed the poison count and removes 1.5 × it (`limit2 = 1.5`). What it does infer is where the
 * poison sits: its target-label identifier (Algorithm 4) names the label whose
 * robustly whitened representations have the largest QUE statistic tr(Σ′Q)/tr(Q), and the removal is done there.
 * `identified` gives that label ε and every other label 0; `every` gives every label ε (the poisoned label unknown).
 * A tie on the statistic goes to the lower label, so the choice never depends on map order.
 */
export function poisonRateEstimates(stats: readonly { label: number; statistic: number }[], epsilon: number, mode: 'identified' | 'every'): Map<number, number> {
  const out = new Map<number, number>();
  if (mode === 'every') {
    for (const { label } of stats) out.set(label, epsilon);
    return out;
  }
  const target = identifyTargetLabel(stats);
  for (const { label } of stats) out.set(label, label === target ? epsilon : 0);
  return out;
}

/** The label with the largest QUE statistic (the paper's Algorithm 4); null when there is no label. */
export function identifyTargetLabel(stats: readonly { label: number; statistic: number }[]): number | null {
  let target: { label: number; statistic: number } | null = null;
  for (const s of stats) if (target === null || s.statistic > target.statistic || (s.statistic === target.statistic && s.label < target.label)) target = s;
  return target?.label ?? null;
}

export const spectre: Detector<SpectreParams> = {
  name: 'spectre',
  description: 'SPECTRE (Hayase et al. 2021): robust covariance whitening of the penultimate representations, then quantum-entropy scores, per class',
  params: SPECTRE_PARAMS,
  resolve(raw: RawDetectorParams): SpectreParams {
    return validateParams('spectre', SPECTRE_PARAMS, raw, { owner: 'spectre' }) as unknown as SpectreParams;
  },
  score(input, params) {
    const reps = need(input.representation, 'penultimate representations', 'spectre')();
    const n = input.labels.length;
    if (reps.rows !== n) throw new Error(`spectre: ${reps.rows} representation rows for ${n} labels`);
    const epsilon = resolveEpsilon(params.epsilon, input, 'spectre');
    const scores = new Float32Array(n);
    const flagged = new Uint8Array(n);
    const fits: { label: number; rows: number[]; fit: ClassFit }[] = [];
    for (const [label, rows] of rowsByLabel(input.labels)) {
      const x = selectRows(reps, rows);
      // ε bounds the poison share of the whole training split, all of which may sit in this class.
      const limit = Math.min(rows.length, params.robust_factor * epsilon * n);
      const tried = params.dims === 'auto' ? candidateDims(reps.cols, rows.length - Math.floor(limit)) : [Math.min(params.dims, reps.cols)];
      let best: ClassFit | null = null;
      for (const k of tried) {
        const fit = fitClass(x, k, limit, params.alpha);
        if (best === null || fit.statistic > best.statistic) best = fit;
      }
      rows.forEach((i, k) => (scores[i] = best!.scores[k]));
      fits.push({ label, rows, fit: best! });
    }
    const stats = fits.map(({ label, fit }) => ({ label, statistic: fit.statistic }));
    const rates = poisonRateEstimates(stats, epsilon, params.classes);
    const classes: Record<string, unknown>[] = [];
    for (const { label, rows, fit } of fits) {
      const rate = rates.get(label) ?? 0;
      const remove = Math.min(rows.length, Math.round(params.removal_factor * rate * n));
      const order = rows.map((_, k) => k).sort((a, b) => fit.scores[b] - fit.scores[a] || a - b);
      for (let r = 0; r < remove; r++) flagged[rows[order[r]]] = 1;
      classes.push({ label, n: rows.length, dims: fit.dims, que_statistic: fit.statistic, poison_rate_estimate: rate, flagged: remove });
    }
    const identified = params.classes === 'identified' ? identifyTargetLabel(stats) : null;
    return { scores, flagged, details: { epsilon_used: epsilon, classes_flagged: params.classes, identified_label: identified, classes } };
  },
};
