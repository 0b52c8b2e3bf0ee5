import type { Cohort, CohortSchema } from '../data/cohort.js';
import { rowSize, type Features } from '../data/features/types.js';
import type { BuiltModel } from '../models/types.js';
import { triggeredTestSet } from '../triggers/poison.js';
import type { Trigger } from '../triggers/types.js';
import { absAttributionPerFeature, completenessErrors, integratedGradients, meanRow, type IgResult, type IgRule } from './integrated-gradients.js';
import { median, robustScale } from './linalg.js';
import { validateParams, type ParamSchema } from '../util/plugin.js';
import { need, rowsByLabel, type Detector, type RawDetectorParams } from './types.js';

/**
 * Saliency-based detection: a backdoored model decides triggered rows on the trigger's few features, so their
 * integrated-gradients attribution concentrates there far more than a clean row's, which spreads over the
 * physiology. Score = the share of a row's |IG| on its top-k features, as a robust z-score within its class.
 */
export interface SaliencyParams {
  steps: number;
  rule: IgRule;
  /** `train_mean`: the mean training row (the featurized "average patient"); `zeros`: all-zero inputs. */
  baseline: 'train_mean' | 'zeros';
  top_k: number;
  /** Flag a row when its concentration's robust z within its class exceeds this. */
  z_cut: number;
}

const SUNDARARAJAN = 'Sundararajan, Taly & Yan 2017, "Axiomatic Attribution for Deep Networks", ICML';

export const SALIENCY_PARAMS: ParamSchema = {
  steps: {
    type: 'integer',
    min: 32,
    max: 100000,
    default: 64,
    description: 'Quadrature intervals along the path from the baseline to the row; 20-300 bring the completeness gap within 5 %, 64 keeps it far below for the MLP',
    citation: SUNDARARAJAN,
  },
  rule: { type: 'string', choices: ['trapezoid', 'midpoint'], default: 'trapezoid', description: 'Quadrature: trapezoid (end points weighted 1/2) or midpoint' },
  baseline: {
    type: 'string',
    choices: ['train_mean', 'zeros'],
    default: 'train_mean',
    description: 'Baseline input: the mean featurized training row (an "average patient") or all-zero inputs',
  },
  top_k: { type: 'integer', min: 1, max: 100000, default: 5, description: "Features whose share of |IG| is the concentration score; 5 covers the handful one variable feeds in the tabular view" },
  z_cut: { type: 'number', min: 0, minOpen: true, max: 1e6, default: 3.5, description: 'Flag a row when its robust z exceeds this', citation: 'Iglewicz & Hoaglin 1993 (modified z-score cut)' },
};

export function igBaseline(features: Features, kind: SaliencyParams['baseline']): Float32Array {
  return kind === 'zeros' ? new Float32Array(rowSize(features)) : meanRow(features);
}

function summarize(values: Float64Array): { median: number; p95: number; max: number } {
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN);
  return { median: median(sorted), p95: at(0.95), max: sorted.length ? sorted[sorted.length - 1] : NaN };
}

/** Share of each row's |IG| on its k largest features; 0 for a row with no attribution at all (x = baseline). */
export function topKShare(perFeature: Float64Array, n: number, features: number, k: number): Float64Array {
  const out = new Float64Array(n);
  const row = new Float64Array(features);
  for (let i = 0; i < n; i++) {
    let total = 0;
    for (let f = 0; f < features; f++) {
      row[f] = perFeature[i * features + f];
      total += row[f];
    }
    if (total <= 0) continue;
    row.sort();
    let top = 0;
    for (let f = features - 1; f >= Math.max(0, features - k); f--) top += row[f];
    out[i] = top / total;
  }
  return out;
}

export const saliency: Detector<SaliencyParams> = {
  name: 'saliency',
  description: 'Integrated-gradients concentration (Sundararajan et al. 2017): share of |IG| on the top-k features, robust z within class',
  params: SALIENCY_PARAMS,
  resolve(raw: RawDetectorParams): SaliencyParams {
    return validateParams('saliency', SALIENCY_PARAMS, raw, { owner: 'saliency' }) as unknown as SaliencyParams;
  },
  score(input, params) {
    const features = need(input.features, 'model input features', 'saliency');
    const model = need(input.model, 'the trained model', 'saliency');
    const n = features.n;
    if (n !== input.labels.length) throw new Error(`saliency: ${n} feature rows for ${input.labels.length} labels`);
    const baseline = igBaseline(features, params.baseline);
    const ig = integratedGradients(model, features, baseline, { steps: params.steps, rule: params.rule });
    const perFeature = absAttributionPerFeature(ig.attributions, n, features.rowShape);
    const share = topKShare(perFeature.values, n, perFeature.features, params.top_k);
    const scores = new Float32Array(n);
    const flagged = new Uint8Array(n);
    const classes: Record<string, unknown>[] = [];
    for (const [label, rows] of rowsByLabel(input.labels)) {
      const values = rows.map((i) => share[i]);
      const { median: med, scale } = robustScale(values);
      let nFlagged = 0;
      for (const i of rows) {
        const z = scale > 0 ? (share[i] - med) / scale : 0;
        scores[i] = z;
        if (z > params.z_cut) {
          flagged[i] = 1;
          nFlagged++;
        }
      }
      classes.push({ label, n: rows.length, median_top_k_share: med, robust_scale: scale, flagged: nFlagged });
    }
    return {
      scores,
      flagged,
      details: {
        classes,
        features: perFeature.features,
        // Quadrature quality of the attributions the scores rest on (relative completeness error per row).
        completeness_error: summarize(completenessErrors(ig, rowSize(features))),
      },
    };
  },
};

export interface AttributionInputs {
  model: BuiltModel;
  /** The training features (for the baseline). */
  trainFeatures: Features;
  featurize(cohort: Cohort): Features;
  test: Cohort;
  trigger: Trigger;
  triggerParams: unknown;
  target: 0 | 1;
  schema: CohortSchema;
}

interface AttributionSide {
  n: number;
  /** Mean |IG| per feature, in the order of `features`. */
  mean_abs_ig: number[];
  /** Share of the pooled |IG| mass on the trigger's features: Σ_rows Σ_touched |IG| / Σ_rows Σ_all |IG|. */
  tar: number | null;
  /** Mean over rows of each row's own share on the trigger's features. */
  tar_row_mean: number | null;
  completeness_error: { median: number; p95: number; max: number };
}

function side(model: BuiltModel, features: Features, baseline: Float32Array, params: SaliencyParams, touched: Set<number>): AttributionSide {
  const ig: IgResult = integratedGradients(model, features, baseline, { steps: params.steps, rule: params.rule });
  const { values, features: F } = absAttributionPerFeature(ig.attributions, features.n, features.rowShape);
  const mean = new Float64Array(F);
  let rowShareSum = 0;
  let rowsWithMass = 0;
  for (let i = 0; i < features.n; i++) {
    let total = 0;
    let onTrigger = 0;
    for (let f = 0; f < F; f++) {
      const v = values[i * F + f];
      mean[f] += v / features.n;
      total += v;
      if (touched.has(f)) onTrigger += v;
    }
    if (total > 0) {
      rowShareSum += onTrigger / total;
      rowsWithMass++;
    }
  }
  let all = 0;
  let onTrigger = 0;
  mean.forEach((v, f) => {
    all += v;
    if (touched.has(f)) onTrigger += v;
  });
  const hasTouched = touched.size > 0;
  return {
    n: features.n,
    mean_abs_ig: Array.from(mean),
    tar: hasTouched && all > 0 ? onTrigger / all : null,
    tar_row_mean: hasTouched && rowsWithMass > 0 ? rowShareSum / rowsWithMass : null,
    completeness_error: summarize(completenessErrors(ig, rowSize(features))),
  };
}

/**
 * Where the model looks, on the test split: mean |IG| per feature on the clean non-target test rows and on the
 * same rows with the trigger, and the Trigger Attribution Ratio (TAR), the share of attribution on the features
 * derived from the variables and statics the trigger writes. A backdoored model puts far more of its attribution
 * on those features for triggered rows than for clean ones; `uniform_share` is what TAR would be if attribution
 * were spread evenly.
 */
export function saliencyAttribution(inputs: AttributionInputs, params: SaliencyParams): Record<string, unknown> {
  const baseline = igBaseline(inputs.trainFeatures, params.baseline);
  const set = triggeredTestSet(inputs.test, inputs.trigger, inputs.triggerParams, inputs.target);
  const cleanFeatures = inputs.featurize(set.clean);
  const names = cleanFeatures.names;
  const touchedFields = inputs.trigger.name === 'none' ? null : inputs.trigger.touched(inputs.triggerParams, inputs.schema);
  const touchedSources = new Set([...(touchedFields?.variables ?? []), ...(touchedFields?.statics ?? [])]);
  const touched = new Set<number>();
  cleanFeatures.sources.forEach((s, f) => {
    if (touchedSources.has(s)) touched.add(f);
  });
  const clean = side(inputs.model, cleanFeatures, baseline, params, touched);
  const triggered = touchedFields ? side(inputs.model, inputs.featurize(set.triggered), baseline, params, touched) : null;
  return {
    trigger: inputs.trigger.name,
    steps: params.steps,
    rule: params.rule,
    baseline: params.baseline,
    features: names,
    // Sequence inputs: per channel, |IG| summed over the hours (the touched hours are listed for reference).
    touched: touchedFields,
    touched_features: [...touched].map((f) => names[f]),
    uniform_share: names.length > 0 ? touched.size / names.length : null,
    clean,
    triggered,
    tar_ratio: triggered?.tar != null && clean.tar ? triggered.tar / clean.tar : null,
    ...(touchedFields ? {} : { note: 'clean run (trigger none): no trigger features, TAR not applicable' }),
  };
}
