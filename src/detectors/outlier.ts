import { rowSize } from '../data/features/types.js';
import { robustScale } from './linalg.js';
import { validateParams, type ParamSchema } from '../util/plugin.js';
import { need, type Detector, type RawDetectorParams } from './types.js';

/**
 * A model-free baseline on the model's input features: per feature, a robust z-score against the training
 * rows' median and MAD (robust to the poisoned rows themselves, which are a small minority), and per row the
 * largest |z| over features. An out-of-range or extreme trigger value trips it; a trigger inside the normal
 * range should not, which is the point of having it as a baseline.
 */
export interface OutlierParams {
  /** Flag a row when its largest robust |z| exceeds this. */
  z_cut: number;
  /** Skip features taking at most two distinct values in training (indicators, one-hot, masks): a z-score of a flag is meaningless. */
  skip_binary: boolean;
}

export const OUTLIER_PARAMS: ParamSchema = {
  z_cut: {
    type: 'number',
    min: 0,
    minOpen: true,
    max: 1e6,
    default: 6,
    description:
      'Flag a row when its largest robust |z| exceeds this. 6 rather than the single-variable 3.5: the maximum over ~100 heavy-tailed features exceeds 3.5 for many clean stays, while 6 is a one-in-a-billion event for one normal feature',
    citation: 'Iglewicz & Hoaglin 1993 (the 3.5 cut for one variable)',
  },
  skip_binary: {
    type: 'boolean',
    default: true,
    description: 'Skip features with at most two distinct training values (missing indicators, one-hot categories, masks): their z-score measures only how rare the flag is',
  },
};

export const outlier: Detector<OutlierParams> = {
  name: 'outlier',
  description: 'Robust z-score baseline: largest |x − median|/(1.4826·MAD) over the model input features',
  params: OUTLIER_PARAMS,
  resolve(raw: RawDetectorParams): OutlierParams {
    return validateParams('outlier', OUTLIER_PARAMS, raw, { owner: 'outlier' }) as unknown as OutlierParams;
  },
  score(input, params) {
    const features = need(input.features, 'model input features', 'outlier');
    const n = features.n;
    if (n !== input.labels.length) throw new Error(`outlier: ${n} feature rows for ${input.labels.length} labels`);
    const size = rowSize(features);
    const scores = new Float32Array(n);
    const arg = new Int32Array(n).fill(-1);
    const column = new Float64Array(n);
    let used = 0;
    let skippedBinary = 0;
    let skippedConstant = 0;
    for (let f = 0; f < size; f++) {
      for (let i = 0; i < n; i++) column[i] = features.x[i * size + f];
      if (params.skip_binary && distinctAtMost(column, 2)) {
        skippedBinary++;
        continue;
      }
      const { median, scale } = robustScale(column);
      if (!(scale > 0)) {
        skippedConstant++;
        continue;
      }
      used++;
      for (let i = 0; i < n; i++) {
        const z = Math.abs(column[i] - median) / scale;
        if (z > scores[i]) {
          scores[i] = z;
          arg[i] = f;
        }
      }
    }
    const flagged = new Uint8Array(n);
    const byFeature = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      if (scores[i] > params.z_cut) {
        flagged[i] = 1;
        const name = featureName(features.names, features.rowShape, arg[i]);
        byFeature.set(name, (byFeature.get(name) ?? 0) + 1);
      }
    }
    const topFeatures = [...byFeature.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 10);
    return {
      scores,
      flagged,
      details: {
        features_used: used,
        features_skipped_binary: skippedBinary,
        features_skipped_constant: skippedConstant,
        // Which feature most often carried a flagged row's largest z: where the outliers are.
        flagged_by_feature: Object.fromEntries(topFeatures),
      },
    };
  },
};

function distinctAtMost(values: Float64Array, k: number): boolean {
  const seen = new Set<number>();
  for (const v of values) {
    seen.add(v);
    if (seen.size > k) return false;
  }
  return true;
}

/** Tabular features have one name each; a sequence element [t, c] is named by its channel and hour. */
function featureName(names: string[], rowShape: number[], f: number): string {
  if (rowShape.length === 1) return names[f] ?? `feature_${f}`;
  const channels = rowShape[rowShape.length - 1];
  return `${names[f % channels] ?? `channel_${f % channels}`}@h${Math.floor(f / channels)}`;
}
