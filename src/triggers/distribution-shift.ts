import { atResolution } from '../data/cohort.js';
import { validateParams, type ParamSchema } from '../util/plugin.js';
import type { Trigger } from './types.js';
import { variableIndices } from './window.js';

export interface DistributionShiftParams {
  variables: string[];
  variableIndices: number[];
  /** 0 = unchanged, 1 = every charted value replaced by the stay's mean. */
  strength: number;
}

// Shrinking hourly vitals halfway to their own mean keeps each stay's mean (and so mean-based features) but
// halves within-stay variability, a shift only the spread, extremes and trend features see. The result is a
// convex combination of charted values, so it never leaves the range the stay itself already showed; it is written at
// the variable's charting resolution (a rounded value stays within that range, whose ends are charted values).
export const DISTRIBUTION_SHIFT_PARAMS: ParamSchema = {
  variables: {
    type: 'list',
    items: { type: 'string' },
    default: ['heart_rate', 'mbp', 'resp_rate'],
    description:
      'Variables to shift: hourly monitor vitals (heart rate, mean arterial pressure, respiratory rate), whose within-stay variability feeds the spread, extreme and trend features',
  },
  strength: {
    type: 'number',
    min: 0,
    max: 1,
    default: 0.5,
    description: 'Fraction of the way to the stay mean: 0 = unchanged, 1 = flat at the mean; 0.5 halves hour-to-hour deviations',
  },
};

export const distributionShift: Trigger<DistributionShiftParams> = {
  name: 'distribution_shift',
  description:
    "Pulls the charted values of the listed variables toward the stay's own mean by a fraction strength (default: HR, MAP, RR halfway).",
  needsTime: true,
  params: DISTRIBUTION_SHIFT_PARAMS,
  resolve(rawIn, ctx) {
    const raw = validateParams('distribution_shift', DISTRIBUTION_SHIFT_PARAMS, rawIn);
    const schema = ctx.schema;
    const indices = variableIndices('distribution_shift.variables', raw.variables as string[], schema);
    return { variables: indices.map((i) => schema.variables[i].name), variableIndices: indices, strength: raw.strength as number };
  },
  apply(stay, p, schema) {
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
        if (!Number.isNaN(x)) stay.series[i] = atResolution(schema.variables[v], x + p.strength * (mean - x));
      }
    }
  },
  touched(p) {
    return { variables: [...p.variables], statics: [], hours: null };
  },
};
