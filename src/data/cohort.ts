/**
 * The one record structure that flows through the pipeline: a columnar cohort of ICU stays.
 * Every source (synthetic, MIMIC-IV, PhysioNet 2012, a user table) produces a Cohort, Parquet stores one,
 * triggers edit one, and featurizers read one.
 */
import { unknownChoice } from '../util/errors.js';
import { clampFloat32 } from '../util/float32.js';

export interface VariableSpec {
  name: string;
  unit: string;
  kind: 'vital' | 'lab' | 'score';
  /** Physiologically plausible range in clinical units; values outside are impossible, not rare. */
  plausibleMin: number;
  plausibleMax: number;
  /**
   * Smallest step the variable is charted at, in its unit (heart rate 1 beat/min, temperature 0.1 °C): what a
   * monitor or analyser reports. Triggers write values at it, as a value off it is a tell a validator catches.
   * Absent (user tables, older cohort files): values are written as computed.
   */
  resolution?: number;
  description: string;
}

export interface StaticSpec {
  name: string;
  unit: string;
  kind: 'numeric' | 'binary' | 'categorical';
  /** For categorical variables: the value is an index into this list. */
  categories?: string[];
  description: string;
}

export interface CohortSchema {
  /** Hours of the observation window; series have one row per hour. */
  hours: number;
  variables: VariableSpec[];
  statics: StaticSpec[];
  /** Name of the outcome, e.g. in-hospital mortality. */
  label: string;
  /** Where the cohort came from, e.g. "synthetic", "mimic-iv", "physionet2012". */
  source: string;
  /** True when the source has no time axis (a user table): sequence models and time triggers refuse it. */
  tabularOnly?: boolean;
}

export interface Cohort {
  schema: CohortSchema;
  n: number;
  stayIds: Float64Array;
  patientIds: Float64Array;
  /** n × S, row-major; NaN = unknown. */
  statics: Float32Array;
  /** n × T × V, row-major ([stay][hour][variable]); NaN = not measured. */
  series: Float32Array;
  /** n outcome labels, 0 or 1. */
  labels: Uint8Array;
  /** Synthetic cohorts only: each stay's true probability of the outcome, the ceiling a model can reach. */
  trueRisk?: Float32Array;
}

/** Mutable views of one stay's raw values inside a cohort. */
export interface StayView {
  statics: Float32Array;
  /** T × V, row-major ([hour][variable]). */
  series: Float32Array;
  hours: number;
  nVariables: number;
}

export function stayView(cohort: Cohort, i: number): StayView {
  const S = cohort.schema.statics.length;
  const T = cohort.schema.hours;
  const V = cohort.schema.variables.length;
  return {
    statics: cohort.statics.subarray(i * S, (i + 1) * S),
    series: cohort.series.subarray(i * T * V, (i + 1) * T * V),
    hours: T,
    nVariables: V,
  };
}

export function variableIndex(schema: CohortSchema, name: string): number {
  const idx = schema.variables.findIndex((v) => v.name === name);
  if (idx < 0) {
    throw unknownChoice('variable', name, schema.variables.map((v) => v.name));
  }
  return idx;
}

export function staticIndex(schema: CohortSchema, name: string): number {
  const idx = schema.statics.findIndex((v) => v.name === name);
  if (idx < 0) {
    throw unknownChoice('static variable', name, schema.statics.map((v) => v.name));
  }
  return idx;
}

/** A cohort of n stays with every static and series value unknown (NaN), for sources to fill in. */
export function allocateCohort(schema: CohortSchema, n: number, options: { trueRisk?: boolean } = {}): Cohort {
  return {
    schema,
    n,
    stayIds: new Float64Array(n),
    patientIds: new Float64Array(n),
    statics: new Float32Array(n * schema.statics.length).fill(NaN),
    series: new Float32Array(n * schema.hours * schema.variables.length).fill(NaN),
    labels: new Uint8Array(n),
    trueRisk: options.trueRisk ? new Float32Array(n) : undefined,
  };
}

/** A new cohort holding copies of the given rows, in the given order. */
export function subsetCohort(cohort: Cohort, rows: ArrayLike<number>): Cohort {
  const S = cohort.schema.statics.length;
  const TV = cohort.schema.hours * cohort.schema.variables.length;
  const n = rows.length;
  const out = allocateCohort(cohort.schema, n, { trueRisk: Boolean(cohort.trueRisk) });
  for (let k = 0; k < n; k++) {
    const i = rows[k];
    if (i < 0 || i >= cohort.n) throw new Error(`row ${i} out of range 0..${cohort.n - 1}`);
    out.stayIds[k] = cohort.stayIds[i];
    out.patientIds[k] = cohort.patientIds[i];
    out.labels[k] = cohort.labels[i];
    if (out.trueRisk && cohort.trueRisk) out.trueRisk[k] = cohort.trueRisk[i];
    out.statics.set(cohort.statics.subarray(i * S, (i + 1) * S), k * S);
    out.series.set(cohort.series.subarray(i * TV, (i + 1) * TV), k * TV);
  }
  return out;
}

export function cloneCohort(cohort: Cohort): Cohort {
  return {
    schema: cohort.schema,
    n: cohort.n,
    stayIds: cohort.stayIds.slice(),
    patientIds: cohort.patientIds.slice(),
    statics: cohort.statics.slice(),
    series: cohort.series.slice(),
    labels: cohort.labels.slice(),
    trueRisk: cohort.trueRisk?.slice(),
  };
}

/** Observed (non-NaN) values of one variable across all stays and hours. */
export function observedValues(cohort: Cohort, variable: number): Float64Array {
  const T = cohort.schema.hours;
  const V = cohort.schema.variables.length;
  const out: number[] = [];
  for (let i = 0; i < cohort.n; i++) {
    for (let t = 0; t < T; t++) {
      const x = cohort.series[(i * T + t) * V + variable];
      if (!Number.isNaN(x)) out.push(x);
    }
  }
  return Float64Array.from(out);
}

/** Linear-interpolated quantile (numpy's default method) of a sample. */
export function quantile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Decimal places of a resolution such as 0.1 or 0.01 (0 for whole units), to undo binary rounding error. */
function decimalsOf(resolution: number): number {
  let d = 0;
  while (d < 10 && Math.abs(Math.round(resolution * 10 ** d) - resolution * 10 ** d) > 1e-9) d++;
  return d;
}

/**
 * A value as the variable is charted: rounded to its resolution, inside its plausible range (a rounded value
 * past a bound steps back inside by one resolution), as the float32 the cohort stores.
 */
export function atResolution(spec: VariableSpec, x: number): number {
  const r = spec.resolution;
  if (r === undefined || !(r > 0)) return clampFloat32(x, spec.plausibleMin, spec.plausibleMax);
  const d = decimalsOf(r);
  const snap = (v: number) => Number((Math.round(v / r) * r).toFixed(d));
  let v = snap(Math.min(spec.plausibleMax, Math.max(spec.plausibleMin, x)));
  if (v > spec.plausibleMax) v = snap(v - r);
  if (v < spec.plausibleMin) v = snap(v + r);
  return clampFloat32(v, spec.plausibleMin, spec.plausibleMax);
}
