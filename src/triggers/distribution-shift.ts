import { checkKeys, getNumberIn, getVariableList } from './params.js';
import type { Trigger } from './types.js';

export const DISTRIBUTION_SHIFT_KEYS = ['variables', 'strength'] as const;

export interface DistributionShiftParams {
  variables: string[];
  variableIndices: number[];
  /** 0 = unchanged, 1 = every charted value replaced by the stay's mean. */
  strength: number;
}

// Fallbacks equal configs/trigger/distribution_shift.yaml. Shrinking hourly vitals halfway to their
// own mean keeps each stay's mean (and so mean-based features) but halves within-stay variability,
// a shift only the spread, extremes and trend features see. The result is a convex combination of
// charted values, so it never leaves the range the stay itself already showed.
const DEFAULTS = { variables: ['heart_rate', 'mbp', 'resp_rate'], strength: 0.5 };

export const distributionShift: Trigger<DistributionShiftParams> = {
  name: 'distribution_shift',
  description:
    "Pulls the charted values of the listed variables toward the stay's own mean by a fraction strength (default: HR, MAP, RR halfway).",
  needsTime: true,
  resolve(rawIn, ctx) {
    const raw = checkKeys('distribution_shift', rawIn, DISTRIBUTION_SHIFT_KEYS);
    const schema = ctx.schema;
    const variableIndices = getVariableList('distribution_shift.variables', raw.variables, schema, DEFAULTS.variables);
    const strength = getNumberIn('distribution_shift.strength', raw.strength, DEFAULTS.strength, 0, 1);
    return { variables: variableIndices.map((i) => schema.variables[i].name), variableIndices, strength };
  },
  apply(stay, p) {
    const V = stay.nVariables;
    const T = stay.hours;
    for (const v of p.variableIndices) {
      let sum = 0;
      let n = 0;
      for (let h = 0; h < T; h++) {
        const x = stay.series[h * V + v];
        if (!Number.isNaN(x)) {
          sum += x;
          n++;
        }
      }
      // Never charted in this stay: there is no mean to move toward, and no value to move.
      if (n === 0) continue;
      const mean = sum / n;
      for (let h = 0; h < T; h++) {
        const i = h * V + v;
        const x = stay.series[i];
        if (!Number.isNaN(x)) stay.series[i] = x + p.strength * (mean - x);
      }
    }
  },
  touched(p) {
    return { variables: [...p.variables], statics: [], hours: null };
  },
};
