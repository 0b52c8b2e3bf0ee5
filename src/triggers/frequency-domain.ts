import { atResolution } from '../data/cohort.js';
import { validateParams, type ParamSchema } from '../util/plugin.js';
import type { Trigger } from './types.js';
import { TriggerParamError, variableIndex } from './window.js';

export interface FrequencyDomainParams {
  variable: string;
  variableIndex: number;
  periodHours: number;
  /** Clinical units of the variable. */
  amplitude: number;
  phaseRadians: number;
}

export const FREQUENCY_DOMAIN_PARAMS: ParamSchema = {
  variable: {
    type: 'string',
    default: 'heart_rate',
    description: 'Variable (any name from the cohort schema). Heart rate is charted about hourly, so the sinusoid is sampled densely',
  },
  period_hours: {
    type: 'number',
    min: 2,
    minOpen: true,
    default: 6,
    unit: 'hours',
    // Hourly samples resolve only periods longer than 2 hours (Nyquist); at exactly 2 h a zero-phase sine is
    // sampled at its zero crossings and vanishes.
    description: 'Period, > 2 hours (hourly charting cannot resolve shorter ones); 6 h is far from the 24 h circadian rhythm heart rate already shows',
  },
  amplitude: {
    type: 'number',
    min: 0,
    minOpen: true,
    default: 6,
    unit: "the variable's clinical unit",
    description: "Peak deviation, at most half the variable's plausible range; 6 beats/min is within ordinary hour-to-hour variation, so single readings look normal",
  },
  phase_radians: { type: 'number', default: 0, unit: 'radians', description: 'Phase shift (0 = the sinusoid crosses zero rising at hour 0)' },
};

export const frequencyDomain: Trigger<FrequencyDomainParams> = {
  name: 'frequency_domain',
  description:
    'Adds amplitude x sin(2 pi hour / period + phase) to the charted values of one vital (default: heart rate, 6 h period, 6 beats/min), rounded to its charting resolution and clamped to the plausible range.',
  needsTime: true,
  params: FREQUENCY_DOMAIN_PARAMS,
  resolve(rawIn, ctx) {
    const raw = validateParams('frequency_domain', FREQUENCY_DOMAIN_PARAMS, rawIn);
    const schema = ctx.schema;
    const vi = variableIndex('frequency_domain.variable', raw.variable, schema);
    const spec = schema.variables[vi];
    const period = raw.period_hours as number;
    const halfRange = (spec.plausibleMax - spec.plausibleMin) / 2;
    const amplitude = raw.amplitude as number;
    if (amplitude > halfRange) {
      throw new TriggerParamError('frequency_domain.amplitude', `bad value ${amplitude}; valid: a number in (0, ${halfRange}] (half of ${spec.name}'s plausible range)`);
    }
    const phase = raw.phase_radians as number;
    return { variable: spec.name, variableIndex: vi, periodHours: period, amplitude, phaseRadians: phase };
  },
  apply(stay, p, schema) {
    const V = stay.nVariables;
    const spec = schema.variables[p.variableIndex];
    for (let h = 0; h < stay.hours; h++) {
      const i = h * V + p.variableIndex;
      const x = stay.series[i];
      // Only charted readings are shifted: inventing readings would add a missingness signal too.
      if (Number.isNaN(x)) continue;
      const s = p.amplitude * Math.sin((2 * Math.PI * h) / p.periodHours + p.phaseRadians);
      stay.series[i] = atResolution(spec, x + s);
    }
  },
  touched(p) {
    return { variables: [p.variable], statics: [], hours: null };
  },
};
