/**
 * Turner et al.'s hardening for label-consistent poisoning: before the trigger is stamped on target-class rows
 * (no label change), each row is perturbed within plausible clinical bounds so that a clean surrogate model
 * misclassifies it. The model then cannot fit those rows from their clinical picture and leans on the trigger.
 * Here the perturbation is projected gradient descent (Madry et al. 2018) on the surrogate's loss, in clinical
 * units: each charted value moves at most ε (per variable) from its original, stays in its plausible range and is
 * written at its charting resolution. Only charted values move; missingness is left as it was.
 */
import { atResolution, type Cohort } from '../data/cohort.js';
import { fitLogistic, type LogisticModel } from '../metrics/logistic.js';
import { validateParams, type ParamSchema } from '../util/plugin.js';
import { UserError } from '../util/errors.js';

export const LABEL_CONSISTENT_CITATION =
  'Turner, Tsipras & Madry 2019, "Label-Consistent Backdoor Attacks", arXiv:1912.02771 (adversarial perturbation of the poisoned target-class inputs); PGD: Madry et al. 2018, "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR';

export const LABEL_CONSISTENT_PARAMS: ParamSchema = {
  epsilon: {
    type: 'mapping-list',
    fields: {
      variable: { type: 'string', default: null, description: 'Variable name from the cohort schema' },
      epsilon: { type: 'number', min: 0, minOpen: true, default: null, unit: "the variable's clinical unit", description: 'Largest change of one charted value' },
    },
    // Bounds within ordinary hour-to-hour or draw-to-draw variation (about one measurement-noise SD), so a
    // perturbed stay still reads as the same patient.
    default: [
      { variable: 'heart_rate', epsilon: 5 },
      { variable: 'sbp', epsilon: 6 },
      { variable: 'dbp', epsilon: 4 },
      { variable: 'mbp', epsilon: 4 },
      { variable: 'resp_rate', epsilon: 2 },
      { variable: 'spo2', epsilon: 1 },
      { variable: 'temperature', epsilon: 0.2 },
      { variable: 'lactate', epsilon: 0.3 },
      { variable: 'creatinine', epsilon: 0.2 },
      { variable: 'bun', epsilon: 3 },
      { variable: 'wbc', epsilon: 1 },
      { variable: 'platelets', epsilon: 15 },
      { variable: 'sodium', epsilon: 2 },
      { variable: 'potassium', epsilon: 0.2 },
      { variable: 'bicarbonate', epsilon: 2 },
    ],
    unit: 'clinical units per variable',
    description: 'Per variable, the largest change PGD may make to a charted value (variables not listed are left alone)',
    citation: LABEL_CONSISTENT_CITATION,
  },
  steps: { type: 'integer', min: 1, default: 10, description: 'PGD steps', citation: 'Madry et al. 2018' },
  step_fraction: {
    type: 'number',
    min: 0,
    minOpen: true,
    max: 1,
    default: 0.25,
    description: 'Step size as a share of each variable\'s ε (2.5 ε / steps with 10 steps, Madry et al.\'s rule)',
    citation: 'Madry et al. 2018',
  },
  surrogate: {
    type: 'string',
    choices: ['logistic'],
    default: 'logistic',
    description: 'Clean surrogate: an L2 logistic regression on each variable\'s mean and last charted value, fitted on the clean training split (the attacker needs no access to the victim)',
  },
  surrogate_l2: { type: 'number', min: 0, minOpen: true, default: 1, description: 'L2 penalty of the surrogate (on standardised features)' },
};

export interface LabelConsistentParams {
  epsilon: { variable: string; epsilon: number }[];
  steps: number;
  step_fraction: number;
  surrogate: 'logistic';
  surrogate_l2: number;
}

export function resolveLabelConsistent(raw: unknown): LabelConsistentParams {
  return validateParams('poison.label_consistent', LABEL_CONSISTENT_PARAMS, raw) as unknown as LabelConsistentParams;
}

/** Per stay, for each variable: the mean and the last charted value (NaN when never charted). */
function surrogateFeatures(cohort: Cohort, rows: ArrayLike<number>): Float64Array {
  const T = cohort.schema.hours;
  const V = cohort.schema.variables.length;
  const x = new Float64Array(rows.length * 2 * V);
  for (let k = 0; k < rows.length; k++) {
    const base = rows[k] * T * V;
    for (let v = 0; v < V; v++) {
      let sum = 0;
      let n = 0;
      let last = NaN;
      for (let t = 0; t < T; t++) {
        const value = cohort.series[base + t * V + v];
        if (Number.isNaN(value)) continue;
        sum += value;
        n++;
        last = value;
      }
      x[k * 2 * V + 2 * v] = n > 0 ? sum / n : NaN;
      x[k * 2 * V + 2 * v + 1] = last;
    }
  }
  return x;
}

export interface Surrogate {
  model: LogisticModel;
  /** Training means of each feature, imputed where a variable was never charted. */
  fill: Float64Array;
}

/** Fits the clean surrogate on every row of `train` (the clean training split, before poisoning). */
export function fitSurrogate(train: Cohort, l2: number): Surrogate {
  const rows = Array.from({ length: train.n }, (_, i) => i);
  const x = surrogateFeatures(train, rows);
  const F = 2 * train.schema.variables.length;
  const fill = new Float64Array(F);
  const counts = new Float64Array(F);
  x.forEach((value, j) => {
    if (!Number.isNaN(value)) {
      fill[j % F] += value;
      counts[j % F]++;
    }
  });
  for (let f = 0; f < F; f++) fill[f] = counts[f] > 0 ? fill[f] / counts[f] : 0;
  for (let j = 0; j < x.length; j++) if (Number.isNaN(x[j])) x[j] = fill[j % F];
  return { model: fitLogistic(x, train.labels, F, { l2 }), fill };
}

/** The surrogate's logit for one stay of `cohort`. */
export function surrogateLogit(s: Surrogate, cohort: Cohort, row: number): number {
  const f = surrogateFeatures(cohort, [row]);
  let z = s.model.coef[0];
  for (let j = 0; j < f.length; j++) z += (s.model.coef[j + 1] * ((Number.isNaN(f[j]) ? s.fill[j] : f[j]) - s.model.mean[j])) / s.model.sd[j];
  return z;
}

/**
 * Perturbs the given rows of `cohort` in place: PGD that raises the surrogate's loss on each row's own label,
 * so the surrogate leans toward the other class. Returns how many values changed.
 */
export function hardenRows(cohort: Cohort, rows: ArrayLike<number>, surrogate: Surrogate, params: LabelConsistentParams): number {
  const { schema } = cohort;
  const T = schema.hours;
  const V = schema.variables.length;
  const epsilon = new Float64Array(V);
  for (const { variable, epsilon: e } of params.epsilon) {
    const v = schema.variables.findIndex((spec) => spec.name === variable);
    if (v < 0) throw new UserError(`poison.label_consistent.epsilon: unknown variable "${variable}"; valid: ${schema.variables.map((s) => s.name).join(', ')}`);
    epsilon[v] = e;
  }
  const { coef, sd } = surrogate.model;
  let changed = 0;
  for (let k = 0; k < rows.length; k++) {
    const i = rows[k];
    const base = i * T * V;
    const original = cohort.series.slice(base, base + T * V);
    const x = Float64Array.from(original);
    // The surrogate is linear in each variable's mean (weight 1/count per charted hour) and last value (weight 1
    // on the last charted hour), so ∂logit/∂x[t, v] is fixed by the charting pattern, which PGD does not change.
    const grad = new Float64Array(T * V);
    for (let v = 0; v < V; v++) {
      if (epsilon[v] === 0) continue;
      let count = 0;
      let lastT = -1;
      for (let t = 0; t < T; t++) {
        if (!Number.isNaN(x[t * V + v])) {
          count++;
          lastT = t;
        }
      }
      if (count === 0) continue;
      for (let t = 0; t < T; t++) if (!Number.isNaN(x[t * V + v])) grad[t * V + v] = coef[1 + 2 * v] / sd[2 * v] / count;
      grad[lastT * V + v] += coef[2 + 2 * v] / sd[2 * v + 1];
    }
    // Loss ℓ = −log p(y | x); ∂ℓ/∂logit = p − y, whose sign is −1 for y = 1 and +1 for y = 0 (p in (0, 1)).
    const direction = cohort.labels[i] === 1 ? -1 : 1;
    for (let step = 0; step < params.steps; step++) {
      for (let j = 0; j < T * V; j++) {
        const v = j % V;
        if (epsilon[v] === 0 || Number.isNaN(x[j]) || grad[j] === 0) continue;
        const spec = schema.variables[v];
        const moved = x[j] + params.step_fraction * epsilon[v] * direction * Math.sign(grad[j]);
        const lo = Math.max(spec.plausibleMin, original[j] - epsilon[v]);
        const hi = Math.min(spec.plausibleMax, original[j] + epsilon[v]);
        x[j] = Math.min(hi, Math.max(lo, moved));
      }
    }
    for (let j = 0; j < T * V; j++) {
      if (Number.isNaN(x[j]) || x[j] === original[j]) continue;
      const spec = schema.variables[j % V];
      let value = atResolution(spec, x[j]);
      // Rounding may step past ε when the original is off the resolution grid: step back toward the original.
      if (Math.abs(value - original[j]) > epsilon[j % V] + 1e-6 && spec.resolution) value = atResolution(spec, value - Math.sign(value - original[j]) * spec.resolution);
      if (value !== original[j]) changed++;
      cohort.series[base + j] = value;
    }
  }
  return changed;
}
