import type { Cohort } from '../cohort.js';

export type ViewName = 'tabular' | 'sequence';

/** Model inputs derived from a cohort: row-major float32, one row per stay. */
export interface Features {
  view: ViewName;
  n: number;
  /** Shape of one row: [F] for tabular, [T, C] for sequence. */
  rowShape: number[];
  x: Float32Array;
  /** One name per feature (tabular) or per channel (sequence). */
  names: string[];
  /** The raw cohort variable (series or static) each feature or channel derives from. */
  sources: string[];
  /** Variables the featurizer was fitted on that this cohort lacks: imputed as never charted. */
  absentSources?: string[];
  /** Sequence view: the last channels of every hour that carry the statics (the same at every hour). */
  staticChannels?: number;
}

/**
 * Derives model inputs from records. `fit` sees only the training split (after poisoning, as a real pipeline
 * would); its state is plain JSON so a run folder can store it and `evaluate` can reuse it.
 */
export interface Featurizer<State> {
  view: ViewName;
  fit(train: Cohort): State;
  transform(state: State, cohort: Cohort): Features;
}

export function rowSize(features: Pick<Features, 'rowShape'>): number {
  return features.rowShape.reduce((a, b) => a * b, 1);
}

/** Mean and population standard deviation of the finite values; sd falls back to 1 when there is no spread. */
export function meanSd(values: ArrayLike<number>): { mean: number; sd: number } {
  let n = 0;
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (Number.isFinite(x)) {
      sum += x;
      n++;
    }
  }
  const mean = n > 0 ? sum / n : 0;
  let ss = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (Number.isFinite(x)) ss += (x - mean) ** 2;
  }
  const sd = n > 1 ? Math.sqrt(ss / n) : 0;
  return { mean, sd: sd > 1e-8 ? sd : 1 };
}
