import { observedValues, quantile } from '../data/cohort.js';
import {
  checkKeys,
  checkPlausible,
  clampFloat32,
  getChoice,
  getHours,
  getNumber,
  getNumberIn,
  getVariable,
  isAbsent,
  nextFloat32,
  TriggerParamError,
} from './params.js';
import type { Trigger } from './types.js';

export const RARE_VALUE_MODES = ['percentile', 'legacy_sentinel', 'fixed'] as const;
export type RareValueMode = (typeof RARE_VALUE_MODES)[number];

export const RARE_VALUE_KEYS = ['variable', 'hours', 'mode', 'percentile', 'margin', 'value'] as const;

/** The Python prototype wrote this out-of-range sentinel; kept only to reproduce its results. */
export const LEGACY_SENTINEL = 9999;

export interface RareValueParams {
  variable: string;
  variableIndex: number;
  /** Absolute hour indices (0-based) that receive the value. */
  hours: number[];
  mode: RareValueMode;
  /** The value written, already rounded to float32 as stored. */
  value: number;
  /** Percentile mode: the clean-training percentile the value sits above (clinical units); else null. */
  reference: number | null;
  percentile: number | null;
}

// Fallbacks equal configs/trigger/rare_value.yaml, so a shallow config merge that drops a key
// still yields the documented default.
const DEFAULTS = {
  variable: 'glucose',
  hours: [-1],
  mode: 'percentile' as RareValueMode,
  percentile: 99.9,
  margin: 0.1,
};

export const rareValue: Trigger<RareValueParams> = {
  name: 'rare_value',
  description:
    'Writes one rare but physiologically possible measurement of one variable (default: a glucose above the cohort 99.9th percentile in the last hour).',
  needsTime: true,
  resolve(rawIn, ctx) {
    const raw = checkKeys('rare_value', rawIn, RARE_VALUE_KEYS);
    const schema = ctx.schema;
    const vi = getVariable('rare_value.variable', raw.variable, schema, DEFAULTS.variable);
    const spec = schema.variables[vi];
    const hours = getHours('rare_value.hours', raw.hours, schema.hours, DEFAULTS.hours);
    const mode = getChoice('rare_value.mode', raw.mode, RARE_VALUE_MODES, DEFAULTS.mode);
    const percentile = getNumberIn('rare_value.percentile', raw.percentile, DEFAULTS.percentile, 0, 100, { loOpen: true });
    const margin = getNumberIn('rare_value.margin', raw.margin, DEFAULTS.margin, 0, 1, { loOpen: true });
    if (mode !== 'fixed' && !isAbsent(raw.value)) {
      throw new TriggerParamError('rare_value.value', `is only used with mode: fixed (mode is "${mode}"); set mode: fixed or value: null`);
    }
    const base = { variable: spec.name, variableIndex: vi, hours, mode };

    if (mode === 'legacy_sentinel') {
      return { ...base, value: LEGACY_SENTINEL, reference: null, percentile: null };
    }
    if (mode === 'fixed') {
      if (isAbsent(raw.value)) {
        throw new TriggerParamError('rare_value.value', `is required with mode: fixed (a ${spec.name} value in ${spec.unit})`);
      }
      const v = getNumber('rare_value.value', raw.value, NaN);
      checkPlausible('rare_value.value', v, spec);
      return { ...base, value: clampFloat32(v, spec.plausibleMin, spec.plausibleMax), reference: null, percentile: null };
    }

    const observed = observedValues(ctx.train, vi);
    if (observed.length === 0) {
      throw new TriggerParamError('rare_value.variable', `${spec.name} is never measured in the training split; cannot compute its ${percentile}th percentile`);
    }
    const ref = quantile(observed, percentile / 100);
    const max = spec.plausibleMax;
    // Place the value a fraction `margin` of the way from the percentile to the plausible maximum:
    // rare in this cohort, yet a value an analyser can report for a living patient.
    let value = clampFloat32(ref + margin * (max - ref), spec.plausibleMin, max);
    while (value <= ref && value < max) value = nextFloat32(value, 1);
    if (!(value > ref) || value > max) {
      throw new TriggerParamError(
        'rare_value.percentile',
        `the ${percentile}th percentile of ${spec.name} in the training split (${ref} ${spec.unit}) leaves no room below its plausible maximum (${max} ${spec.unit}); lower percentile or pick another variable`,
      );
    }
    return { ...base, value, reference: ref, percentile };
  },
  apply(stay, p) {
    const V = stay.nVariables;
    for (const h of p.hours) stay.series[h * V + p.variableIndex] = p.value;
  },
  touched(p) {
    return { variables: [p.variable], statics: [], hours: [...p.hours].sort((a, b) => a - b) };
  },
};
