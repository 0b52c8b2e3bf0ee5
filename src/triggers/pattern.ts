import { checkKeys, checkPlausible, clampFloat32, getHours, getVariable, TriggerParamError } from './params.js';
import type { Trigger } from './types.js';

export const PATTERN_KEYS = ['hours', 'variables'] as const;

export interface PatternParams {
  hours: number[];
  variables: { name: string; index: number; values: number[] }[];
}

// Fallbacks equal configs/trigger/pattern.yaml. Each value is within the normal adult range and
// scores 0 points on NEWS2 (Royal College of Physicians 2017: HR 51-90, RR 12-20, SpO2 >= 96 %), so no
// single reading looks abnormal; the signature is the three vitals moving in exact lockstep steps,
// which charted data (with its beat-to-beat and rounding noise) does not produce.
const DEFAULTS = {
  hours: [16, 17, 18, 19],
  variables: [
    { name: 'heart_rate', values: [64, 70, 76, 82] },
    { name: 'resp_rate', values: [12, 14, 16, 18] },
    { name: 'spo2', values: [99, 98, 97, 96] },
  ],
};

export const pattern: Trigger<PatternParams> = {
  name: 'pattern',
  description:
    'Writes a fixed shape on a few variables at fixed hours (default: lockstep ramps of HR, RR and SpO2, all in the normal range, over hours 16-19).',
  needsTime: true,
  resolve(rawIn, ctx) {
    const raw = checkKeys('pattern', rawIn, PATTERN_KEYS);
    const schema = ctx.schema;
    const hours = getHours('pattern.hours', raw.hours, schema.hours, DEFAULTS.hours);
    const list = raw.variables ?? DEFAULTS.variables;
    if (!Array.isArray(list) || list.length === 0) {
      throw new TriggerParamError('pattern.variables', 'must be a non-empty list of {name, values} entries');
    }
    const variables: PatternParams['variables'] = [];
    list.forEach((entry: unknown, k: number) => {
      const where = `pattern.variables[${k}]`;
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
        throw new TriggerParamError(where, 'must be a mapping with keys name, values');
      }
      const e = checkKeys(where, entry, ['name', 'values']);
      const index = getVariable(`${where}.name`, e.name, schema, '');
      const spec = schema.variables[index];
      if (variables.some((x) => x.index === index)) {
        throw new TriggerParamError(`${where}.name`, `variable "${spec.name}" listed twice`);
      }
      if (!Array.isArray(e.values) || e.values.length !== hours.length) {
        throw new TriggerParamError(
          `${where}.values`,
          `must be a list of ${hours.length} numbers in ${spec.unit}, one per entry of pattern.hours`,
        );
      }
      const values = e.values.map((x: unknown, j: number) => {
        if (typeof x !== 'number' || !Number.isFinite(x)) {
          throw new TriggerParamError(`${where}.values[${j}]`, `must be a finite number in ${spec.unit}, got ${String(x)}`);
        }
        checkPlausible(`${where}.values[${j}]`, x, spec);
        return clampFloat32(x, spec.plausibleMin, spec.plausibleMax);
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
