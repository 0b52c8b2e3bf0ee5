import type { Cohort } from '../cohort.js';
import { quantile } from '../cohort.js';
import { meanSd, type Featurizer, type Features } from './types.js';

/** Per-variable aggregates over the observation window; `count` is the number of charted hours. */
const AGGREGATES = ['mean', 'min', 'max', 'last', 'count'] as const;

interface ColumnPlan {
  name: string;
  source: string;
  /** Imputation value for a missing aggregate or static (train median), applied before scaling. */
  impute: number;
  mean: number;
  sd: number;
  /** Indicator columns and one-hot columns are left unscaled. */
  scaled: boolean;
}

export interface TabularState {
  columns: ColumnPlan[];
}

/**
 * The raw (unscaled, unimputed) tabular matrix: for each variable its aggregates and a missing indicator
 * (1 when the variable was never charted in the window), then the static variables, with numeric statics
 * followed by a missing indicator and categorical statics one-hot encoded.
 */
function rawTabular(cohort: Cohort): { names: string[]; sources: string[]; scaled: boolean[]; x: Float64Array; F: number } {
  const { schema, n } = cohort;
  const T = schema.hours;
  const V = schema.variables.length;
  const S = schema.statics.length;
  const names: string[] = [];
  const sources: string[] = [];
  const scaled: boolean[] = [];
  for (const v of schema.variables) {
    for (const agg of AGGREGATES) {
      names.push(`${v.name}_${agg}`);
      sources.push(v.name);
      scaled.push(true);
    }
    names.push(`${v.name}_missing`);
    sources.push(v.name);
    scaled.push(false);
  }
  for (const s of schema.statics) {
    if (s.kind === 'categorical') {
      for (const cat of s.categories ?? []) {
        names.push(`${s.name}=${cat}`);
        sources.push(s.name);
        scaled.push(false);
      }
    } else {
      names.push(s.name);
      sources.push(s.name);
      scaled.push(s.kind === 'numeric');
      names.push(`${s.name}_missing`);
      sources.push(s.name);
      scaled.push(false);
    }
  }
  const F = names.length;
  const x = new Float64Array(n * F);
  for (let i = 0; i < n; i++) {
    let f = i * F;
    const base = i * T * V;
    for (let v = 0; v < V; v++) {
      let count = 0;
      let sum = 0;
      let min = Infinity;
      let max = -Infinity;
      let last = NaN;
      for (let t = 0; t < T; t++) {
        const value = cohort.series[base + t * V + v];
        if (Number.isNaN(value)) continue;
        count++;
        sum += value;
        if (value < min) min = value;
        if (value > max) max = value;
        last = value;
      }
      const seen = count > 0;
      x[f++] = seen ? sum / count : NaN;
      x[f++] = seen ? min : NaN;
      x[f++] = seen ? max : NaN;
      x[f++] = last;
      x[f++] = count;
      x[f++] = seen ? 0 : 1;
    }
    for (let s = 0; s < S; s++) {
      const spec = schema.statics[s];
      const value = cohort.statics[i * S + s];
      if (spec.kind === 'categorical') {
        for (let c = 0; c < (spec.categories ?? []).length; c++) x[f++] = value === c ? 1 : 0;
      } else {
        x[f++] = value;
        x[f++] = Number.isNaN(value) ? 1 : 0;
      }
    }
  }
  return { names, sources, scaled, x, F };
}

/** The raw value of a column the cohort does not have: a variable never charted, a static never recorded. */
function neverCharted(column: string): number {
  if (column.endsWith('_missing')) return 1;
  if (column.endsWith('_count')) return 0;
  // A category level the cohort does not know is never this row's level.
  if (column.includes('=')) return 0;
  return NaN;
}

export const tabularFeaturizer: Featurizer<TabularState> = {
  view: 'tabular',
  fit(train: Cohort): TabularState {
    const raw = rawTabular(train);
    const columns: ColumnPlan[] = raw.names.map((name, j) => {
      const column = new Float64Array(train.n);
      for (let i = 0; i < train.n; i++) column[i] = raw.x[i * raw.F + j];
      const finite = column.filter((value) => !Number.isNaN(value));
      const impute = finite.length > 0 ? quantile(finite, 0.5) : 0;
      for (let i = 0; i < column.length; i++) if (Number.isNaN(column[i])) column[i] = impute;
      const { mean, sd } = raw.scaled[j] ? meanSd(column) : { mean: 0, sd: 1 };
      return { name, source: raw.sources[j], impute, mean, sd, scaled: raw.scaled[j] };
    });
    return { columns };
  },
  transform(state: TabularState, cohort: Cohort): Features {
    const raw = rawTabular(cohort);
    const F = state.columns.length;
    // Columns are matched by name (variable and aggregate, or static and category level), so a cohort with other
    // variables, another order or other category levels lines up; a column the cohort lacks reads as never charted.
    const position = new Map(raw.names.map((name, j) => [name, j]));
    const absent = new Set<string>();
    const x = new Float32Array(cohort.n * F);
    for (let j = 0; j < F; j++) {
      const c = state.columns[j];
      const k = position.get(c.name);
      if (k === undefined) absent.add(c.source);
      const fill = k === undefined ? neverCharted(c.name) : NaN;
      for (let i = 0; i < cohort.n; i++) {
        let value = k === undefined ? fill : raw.x[i * raw.F + k];
        if (Number.isNaN(value)) value = c.impute;
        x[i * F + j] = (value - c.mean) / c.sd;
      }
    }
    return {
      view: 'tabular',
      n: cohort.n,
      rowShape: [F],
      x,
      names: state.columns.map((c) => c.name),
      sources: state.columns.map((c) => c.source),
      ...(absent.size > 0 ? { absentSources: [...absent].sort() } : {}),
    };
  },
};
