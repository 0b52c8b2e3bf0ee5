import { atResolution } from '../data/cohort.js';
import { validateParams, type ParamSchema } from '../util/plugin.js';
import type { Trigger } from './types.js';
import { checkPlausible, HOUR_ITEMS, TriggerParamError, variableIndex, windowHours } from './window.js';

export interface PatternParams {
  hours: number[];
  variables: { name: string; index: number; values: number[] }[];
}

export const PATTERN_PARAMS: ParamSchema = {
  hours: {
    type: 'list',
    items: HOUR_ITEMS,
    default: [16, 17, 18, 19],
    unit: 'hour index',
    description: 'Hours of the window (0 = first; negative counts back from the end). Needs a window of at least 20 hours',
  },
  variables: {
    type: 'mapping-list',
    fields: {
      name: { type: 'string', default: '', description: 'Variable (any name from the cohort schema)' },
      values: { type: 'list', items: { type: 'number' }, default: [], unit: "the variable's clinical unit", description: 'One plausible value per entry of hours' },
    },
    // Each value is within the normal adult range and scores 0 points on NEWS2, so no single reading looks
    // abnormal; the signature is the three vitals moving in exact lockstep steps, which charted data (with its
    // beat-to-beat and rounding noise) does not produce.
    default: [
      { name: 'heart_rate', values: [64, 70, 76, 82] },
      { name: 'resp_rate', values: [12, 14, 16, 18] },
      { name: 'spo2', values: [99, 98, 97, 96] },
    ],
    citation: 'Royal College of Physicians 2017, National Early Warning Score (NEWS) 2: HR 51-90, RR 12-20, SpO2 >= 96 % score 0',
    description: 'The shape: heart rate +6, respiratory rate +2 and SpO2 -1 per hour in exact lockstep, every value in the normal range',
  },
};

export const pattern: Trigger<PatternParams> = {
  name: 'pattern',
  description:
    'Writes a fixed shape on a few variables at fixed hours (default: lockstep ramps of HR, RR and SpO2, all in the normal range, over hours 16-19).',
  needsTime: false,
  params: PATTERN_PARAMS,
  resolve(rawIn, ctx) {
    const raw = validateParams('pattern', PATTERN_PARAMS, rawIn);
    const schema = ctx.schema;
    const hours = windowHours('pattern.hours', raw.hours as number[], schema.hours);
    const variables: PatternParams['variables'] = [];
    (raw.variables as { name: string; values: number[] }[]).forEach((e, k) => {
      const where = `pattern.variables[${k}]`;
      const index = variableIndex(`${where}.name`, e.name, schema);
      const spec = schema.variables[index];
      if (variables.some((x) => x.index === index)) {
        throw new TriggerParamError(`${where}.name`, `variable "${spec.name}" listed twice`);
      }
      if (e.values.length !== hours.length) {
        throw new TriggerParamError(
          `${where}.values`,
          `must be a list of ${hours.length} numbers in ${spec.unit}, one per entry of pattern.hours`,
        );
      }
      const values = e.values.map((x, j) => {
        checkPlausible(`${where}.values[${j}]`, x, spec);
        return atResolution(spec, x);
      });
      variables.push({ name: spec.name, index, values });
    });
    return { hours, variables };
  },
  apply(stay, p) {
    const V = stay.nVariables;
    for (const v of p.variables) {
      for (let k = 0; k < p.hours.length; k++) stay.series[p.hours[k] * V + v.index] = v.values[k];
    }
  },
  touched(p) {
    return { variables: p.variables.map((v) => v.name), statics: [], hours: [...p.hours].sort((a, b) => a - b) };
  },
};
