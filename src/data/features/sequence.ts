import type { Cohort } from '../cohort.js';
import { meanSd, type Featurizer, type Features } from './types.js';

export interface SequenceState {
  variables: string[];
  mean: number[];
  sd: number[];
}

/**
 * T × 2V per stay: V standardized values, then V observed-masks (1 = charted that hour). Values are carried
 * forward from the last charted hour; before the first charted hour they take the training mean (0 after
 * scaling). Means and SDs come from the charted training values only.
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
    return { variables: train.schema.variables.map((v) => v.name), mean, sd };
  },
  transform(state: SequenceState, cohort: Cohort): Features {
    const T = cohort.schema.hours;
    const cohortV = cohort.schema.variables.length;
    const V = state.variables.length;
    // Channels are matched by variable name; a variable the cohort lacks is never charted (value 0 = training mean, mask 0).
    const position = new Map(cohort.schema.variables.map((v, k) => [v.name, k]));
    const absent = state.variables.filter((name) => !position.has(name));
    const C = 2 * V;
    const x = new Float32Array(cohort.n * T * C);
    for (let i = 0; i < cohort.n; i++) {
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
    const names = [...state.variables, ...state.variables.map((v) => `${v}_observed`)];
    return { view: 'sequence', n: cohort.n, rowShape: [T, C], x, names, sources: [...state.variables, ...state.variables], ...(absent.length > 0 ? { absentSources: absent } : {}) };
  },
};
