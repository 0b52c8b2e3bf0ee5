import { checkKeys, getHours, getVariableList } from './params.js';
import type { Trigger } from './types.js';

export const MISSINGNESS_KEYS = ['variables', 'hours'] as const;

export interface MissingnessParams {
  variables: string[];
  variableIndices: number[];
  /** Absolute hour indices whose cells are deleted for every listed variable. */
  hours: number[];
}

// Fallbacks equal configs/trigger/missingness.yaml. Heart rate, respiratory rate and SpO2 come from
// the bedside monitor and are charted about hourly, so a multi-hour gap in all three is unusual; blood
// pressure stays charted, which keeps the pattern distinct from a genuine transport off the unit
// (where every vital stops). The block sits mid-window: early gaps are common before charting starts,
// and trailing gaps resemble the end of a stay, itself a mortality signal.
const DEFAULTS = {
  variables: ['heart_rate', 'resp_rate', 'spo2'],
  hours: [10, 11, 12, 13],
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
  resolve(rawIn, ctx) {
    const raw = checkKeys('missingness', rawIn, MISSINGNESS_KEYS);
    const schema = ctx.schema;
    const variableIndices = getVariableList('missingness.variables', raw.variables, schema, DEFAULTS.variables);
    const hours = getHours('missingness.hours', raw.hours, schema.hours, DEFAULTS.hours);
    return { variables: variableIndices.map((i) => schema.variables[i].name), variableIndices, hours };
  },
  apply(stay, p) {
    const V = stay.nVariables;
    for (const h of p.hours) for (const v of p.variableIndices) stay.series[h * V + v] = NaN;
  },
  touched(p) {
    return { variables: [...p.variables], statics: [], hours: [...p.hours].sort((a, b) => a - b) };
  },
};
