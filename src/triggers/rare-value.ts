import { atResolution, observedValues, quantile } from '../data/cohort.js';
import { nextFloat32 } from '../util/float32.js';
import { validateParams, type ParamSchema } from '../util/plugin.js';
import type { Trigger } from './types.js';
import { checkPlausible, HOUR_ITEMS, TriggerParamError, variableIndex, windowHours } from './window.js';

export const RARE_VALUE_MODES = ['percentile', 'legacy_sentinel', 'fixed'] as const;
export type RareValueMode = (typeof RARE_VALUE_MODES)[number];


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

export const RARE_VALUE_PARAMS: ParamSchema = {
  variable: {
    type: 'string',
    default: 'glucose',
    description:
      'Variable that receives the value (any name from the cohort schema). Glucose: hyperglycaemic crises (DKA, hyperosmolar state) do produce readings of 600-1200 mg/dL, so a reviewer would not reject one as an error, yet it is rare in an ICU cohort; the plausible ceiling (2200 mg/dL) leaves room above the 99.9th percentile; and point-of-care checks are frequent, so one extra reading is not conspicuous',
  },
  hours: {
    type: 'list',
    items: HOUR_ITEMS,
    default: [-1],
    unit: 'hour index',
    description:
      'Hours of the window (0 = first) receiving the value; negative counts back from the end. -1, the last hour, is the reading last-value featurizers keep and recurrent models see last, for any window length',
  },
  mode: {
    type: 'string',
    choices: RARE_VALUE_MODES,
    default: 'percentile',
    description:
      'percentile: beyond the clean training split\'s `percentile` of the variable (see margin); legacy_sentinel: 9999, the Python prototype\'s physically impossible sentinel (only to reproduce it); fixed: `value`, in clinical units',
  },
  percentile: {
    type: 'number',
    min: 0,
    minOpen: true,
    max: 100,
    default: 99.9,
    unit: 'percent',
    description: 'Percentile of the clean training split\'s charted values (all stays and hours)',
  },
  margin: {
    type: 'number',
    min: 0,
    minOpen: true,
    max: 1,
    default: 0.1,
    description:
      'Percentile mode: value = p + margin x (plausible maximum - p). 0.1 with glucose gives about 525 mg/dL on the synthetic cohort (p99.9 about 340 mg/dL): above the cohort\'s extreme, typical of a hyperglycaemic crisis, far below the analyser ceiling',
  },
  value: {
    type: 'number',
    nullable: true,
    default: null,
    description: 'Fixed mode only: the value in the variable\'s clinical units (must be plausible; written at its charting resolution); null in the other modes',
  },
};

export const rareValue: Trigger<RareValueParams> = {
  name: 'rare_value',
  description:
    'Writes one rare but physiologically possible measurement of one variable (default: a glucose above the cohort 99.9th percentile in the last hour).',
  needsTime: false,
  params: RARE_VALUE_PARAMS,
  resolve(rawIn, ctx) {
    const raw = validateParams('rare_value', RARE_VALUE_PARAMS, rawIn);
    const schema = ctx.schema;
    const vi = variableIndex('rare_value.variable', raw.variable, schema);
    const spec = schema.variables[vi];
    const hours = windowHours('rare_value.hours', raw.hours as number[], schema.hours);
    const mode = raw.mode as RareValueMode;
    const percentile = raw.percentile as number;
    const margin = raw.margin as number;
    if (mode !== 'fixed' && raw.value !== null) {
      throw new TriggerParamError('rare_value.value', `is only used with mode: fixed (mode is "${mode}"); set mode: fixed or value: null`);
    }
    const base = { variable: spec.name, variableIndex: vi, hours, mode };

    if (mode === 'legacy_sentinel') {
      return { ...base, value: LEGACY_SENTINEL, reference: null, percentile: null };
    }
    if (mode === 'fixed') {
      if (raw.value === null) {
        throw new TriggerParamError('rare_value.value', `is required with mode: fixed (a ${spec.name} value in ${spec.unit})`);
      }
      const v = raw.value as number;
      checkPlausible('rare_value.value', v, spec);
      return { ...base, value: atResolution(spec, v), reference: null, percentile: null };
    }

    const observed = observedValues(ctx.train, vi);
    if (observed.length === 0) {
      throw new TriggerParamError('rare_value.variable', `${spec.name} is never measured in the training split; cannot compute its ${percentile}th percentile`);
    }
    const ref = quantile(observed, percentile / 100);
    const max = spec.plausibleMax;
    // Place the value a fraction `margin` of the way from the percentile to the plausible maximum:
    // rare in this cohort, yet a value an analyser can report for a living patient.
    // Written at the variable's charting resolution (glucose in whole mg/dL), the first step above the percentile at least.
    let value = atResolution(spec, ref + margin * (max - ref));
    while (value <= ref && value < max) value = spec.resolution ? atResolution(spec, value + spec.resolution) : nextFloat32(value, 1);
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
