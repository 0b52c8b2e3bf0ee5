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

interface StaticSource {
  /** The static's column in this cohort, matched by name; undefined when the cohort lacks it (then missing). */
  column: number | undefined;
  /** Categorical: the fitted level of each of this cohort's codes, matched by level name. */
  levels?: (number | undefined)[];
}

/** Where each fitted static sits in this cohort: by name, and categories by level name, not by position. */
function alignStatics(plans: StaticPlan[], cohort: Cohort): StaticSource[] {
  const specs = cohort.schema.statics;
  return plans.map((p) => {
    const column = specs.findIndex((s) => s.name === p.name);
    if (column < 0) return { column: undefined };
    const fitted = p.categories ?? [];
    const levels = p.kind === 'categorical' ? (specs[column]!.categories ?? []).map((level) => { const k = fitted.indexOf(level); return k < 0 ? undefined : k; }) : undefined;
    return { column, ...(levels ? { levels } : {}) };
  });
}

function encodeStatics(plans: StaticPlan[], sources: StaticSource[], cohort: Cohort, i: number, out: Float32Array): void {
  const S = cohort.schema.statics.length;
  let k = 0;
  plans.forEach((p, s) => {
    const { column, levels } = sources[s]!;
    const value = column === undefined ? NaN : cohort.statics[i * S + column]!;
    if (p.kind === 'categorical') {
      const level = Number.isNaN(value) ? undefined : levels?.[value];
      for (let c = 0; c < (p.categories ?? []).length; c++) out[k++] = level === c ? 1 : 0;
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
    const cohortV = cohort.schema.variables.length;
    const V = state.variables.length;
    // Channels are matched by name; a variable the cohort lacks is never charted (value 0 = training mean, mask 0), a
    // static it lacks is missing.
    const position = new Map(cohort.schema.variables.map((v, k) => [v.name, k]));
    const plans = state.statics ?? [];
    const staticSources = alignStatics(plans, cohort);
    const absent = [...state.variables.filter((name) => !position.has(name)), ...plans.filter((_, s) => staticSources[s]!.column === undefined).map((p) => p.name)];
    const K = sequenceStaticChannels(state);
    const C = 2 * V + K;
    const x = new Float32Array(cohort.n * T * C);
    const staticRow = new Float32Array(K);
    for (let i = 0; i < cohort.n; i++) {
      if (K > 0) {
        encodeStatics(plans, staticSources, cohort, i, staticRow);
        for (let t = 0; t < T; t++) x.set(staticRow, (i * T + t) * C + 2 * V);
      }
      for (let v = 0; v < V; v++) {
        const source = position.get(state.variables[v]!);
        if (source === undefined) continue;
        let carried = 0;
        for (let t = 0; t < T; t++) {
          const raw = cohort.series[(i * T + t) * cohortV + source];
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
    return {
      view: 'sequence',
      n: cohort.n,
      rowShape: [T, C],
      x,
      names,
      sources: [...state.variables, ...state.variables, ...extra.sources],
      staticChannels: K,
      ...(absent.length > 0 ? { absentSources: absent } : {}),
    };
  },
};
