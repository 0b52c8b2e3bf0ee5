import { UserError } from '../../util/errors.js';
import type { Cohort } from '../cohort.js';
import { meanSd, type Featurizer, type Features } from './types.js';

/** How one static becomes channels: numeric/binary → value (standardised if numeric) + missing indicator; categorical → one-hot. */
interface StaticPlan {
  name: string;
  kind: 'numeric' | 'binary' | 'categorical';
  categories?: string[];
  mean: number;
  sd: number;
}

export interface SequenceState {
  variables: string[];
  mean: number[];
  sd: number[];
  /** Absent in states fitted before statics joined the sequence view: those runs keep their 2V channels. */
  statics?: StaticPlan[];
}

function staticChannelNames(plans: StaticPlan[]): { names: string[]; sources: string[] } {
  const names: string[] = [];
  const sources: string[] = [];
  for (const p of plans) {
    const own = p.kind === 'categorical' ? (p.categories ?? []).map((c) => `${p.name}=${c}`) : [p.name, `${p.name}_missing`];
    names.push(...own);
    sources.push(...own.map(() => p.name));
  }
  return { names, sources };
}

/** The channels that carry the statics, at the end of every hour's row; 0 for states without statics. */
export function sequenceStaticChannels(state: SequenceState): number {
  return staticChannelNames(state.statics ?? []).names.length;
}

function encodeStatics(plans: StaticPlan[], cohort: Cohort, i: number, out: Float32Array): void {
  const S = cohort.schema.statics.length;
  let k = 0;
  plans.forEach((p, s) => {
    const value = cohort.statics[i * S + s];
    if (p.kind === 'categorical') {
      for (let c = 0; c < (p.categories ?? []).length; c++) out[k++] = value === c ? 1 : 0;
    } else {
      const missing = Number.isNaN(value);
      out[k++] = missing ? 0 : (value - p.mean) / p.sd;
      out[k++] = missing ? 1 : 0;
    }
  });
}

/**
 * T × (2V + K) per stay: V standardized values, then V observed-masks (1 = charted that hour), then K static
 * channels repeated at every hour (numeric statics standardised with a missing indicator, categorical one-hot;
 * sequence models read them once and join them to their sequence representation). Values are carried forward
 * from the last charted hour; before the first charted hour they take the training mean (0 after scaling).
 * Means and SDs come from the charted training values only.
 */
export const sequenceFeaturizer: Featurizer<SequenceState> = {
  view: 'sequence',
  fit(train: Cohort): SequenceState {
    const T = train.schema.hours;
    const V = train.schema.variables.length;
    const mean: number[] = [];
    const sd: number[] = [];
    for (let v = 0; v < V; v++) {
      const values: number[] = [];
      for (let i = 0; i < train.n; i++) {
        for (let t = 0; t < T; t++) {
          const x = train.series[(i * T + t) * V + v];
          if (!Number.isNaN(x)) values.push(x);
        }
      }
      const stats = meanSd(values);
      mean.push(stats.mean);
      sd.push(stats.sd);
    }
    const S = train.schema.statics.length;
    const statics = train.schema.statics.map((spec, s): StaticPlan => {
      const values = Array.from({ length: train.n }, (_, i) => train.statics[i * S + s]);
      const { mean: m, sd: d } = spec.kind === 'numeric' ? meanSd(values) : { mean: 0, sd: 1 };
      return { name: spec.name, kind: spec.kind, ...(spec.categories ? { categories: [...spec.categories] } : {}), mean: m, sd: d };
    });
    return { variables: train.schema.variables.map((v) => v.name), mean, sd, statics };
  },
  transform(state: SequenceState, cohort: Cohort): Features {
    const T = cohort.schema.hours;
    const V = cohort.schema.variables.length;
    if (V !== state.variables.length) throw new UserError(`sequence featurizer was fitted on ${state.variables.length} variables but this cohort has ${V}`);
    const plans = state.statics ?? [];
    if (plans.length > 0 && plans.map((p) => p.name).join() !== cohort.schema.statics.map((s) => s.name).join()) {
      throw new UserError(`sequence featurizer was fitted on statics ${plans.map((p) => p.name).join(', ')} but this cohort has ${cohort.schema.statics.map((s) => s.name).join(', ') || 'none'}`);
    }
    const K = sequenceStaticChannels(state);
    const C = 2 * V + K;
    const x = new Float32Array(cohort.n * T * C);
    const staticRow = new Float32Array(K);
    for (let i = 0; i < cohort.n; i++) {
      if (K > 0) {
        encodeStatics(plans, cohort, i, staticRow);
        for (let t = 0; t < T; t++) x.set(staticRow, (i * T + t) * C + 2 * V);
      }
      for (let v = 0; v < V; v++) {
        let carried = 0;
        for (let t = 0; t < T; t++) {
          const raw = cohort.series[(i * T + t) * V + v];
          const out = (i * T + t) * C;
          if (!Number.isNaN(raw)) {
            carried = (raw - state.mean[v]) / state.sd[v];
            x[out + V + v] = 1;
          }
          x[out + v] = carried;
        }
      }
    }
    const extra = staticChannelNames(plans);
    const names = [...state.variables, ...state.variables.map((v) => `${v}_observed`), ...extra.names];
    return { view: 'sequence', n: cohort.n, rowShape: [T, C], x, names, sources: [...state.variables, ...state.variables, ...extra.sources], staticChannels: K };
  },
};
