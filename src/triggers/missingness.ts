import { validateParams, type ParamSchema } from '../util/plugin.js';
import type { Trigger } from './types.js';
import { HOUR_ITEMS, variableIndices, windowHours } from './window.js';

export interface MissingnessParams {
  variables: string[];
  variableIndices: number[];
  /** Absolute hour indices whose cells are deleted for every listed variable. */
  hours: number[];
}

export const MISSINGNESS_PARAMS: ParamSchema = {
  variables: {
    type: 'list',
    items: { type: 'string' },
    default: ['heart_rate', 'resp_rate', 'spo2'],
    citation: 'Joe et al. 2022, "Exploiting Missing Value Patterns for a Backdoor Attack on Machine Learning Models of Electronic Health Records", JMIR Med Inform 10(8):e38440',
    description:
      'Variables deleted together. Heart rate, respiratory rate and SpO2 come from the bedside monitor and are charted about hourly, so all three missing for hours is unusual; blood pressure stays charted, unlike a real transport off the unit (where every vital stops)',
  },
  hours: {
    type: 'list',
    items: HOUR_ITEMS,
    default: [10, 11, 12, 13],
    unit: 'hour index',
    description:
      'Hours of the window (0 = first; negative counts back from the end). A 4-hour block mid-window: early gaps are common before charting starts and trailing gaps resemble the end of a stay, itself a mortality signal. Needs a window of at least 14 hours',
  },
};

/**
 * A fixed pattern of deleted measurements, after Joe et al. 2022 (JMIR Med Inform 10(8):e38440),
 * who showed that missing-value patterns alone can serve as a backdoor trigger. They learn the
 * pattern with a variational autoencoder; here it is fixed by configuration so runs are reproducible.
 */
export const missingness: Trigger<MissingnessParams> = {
  name: 'missingness',
  description:
    'Deletes the listed variables over the listed hours (default: monitor vitals HR, RR, SpO2 absent for hours 10-13 while blood pressure is still charted).',
  needsTime: true,
  params: MISSINGNESS_PARAMS,
  resolve(rawIn, ctx) {
    const raw = validateParams('missingness', MISSINGNESS_PARAMS, rawIn);
    const schema = ctx.schema;
    const indices = variableIndices('missingness.variables', raw.variables as string[], schema);
    const hours = windowHours('missingness.hours', raw.hours as number[], schema.hours);
    return { variables: indices.map((i) => schema.variables[i].name), variableIndices: indices, hours };
  },
  apply(stay, p) {
    const V = stay.nVariables;
    for (const h of p.hours) for (const v of p.variableIndices) stay.series[h * V + v] = NaN;
  },
  touched(p) {
    return { variables: [...p.variables], statics: [], hours: [...p.hours].sort((a, b) => a - b) };
  },
};
