import { checkKeys, clampFloat32, getNumber, getNumberIn, getVariable, TriggerParamError } from './params.js';
import type { Trigger } from './types.js';

export const FREQUENCY_DOMAIN_KEYS = ['variable', 'period_hours', 'amplitude', 'phase_radians'] as const;

export interface FrequencyDomainParams {
  variable: string;
  variableIndex: number;
  periodHours: number;
  /** Clinical units of the variable. */
  amplitude: number;
  phaseRadians: number;
}

// Fallbacks equal configs/trigger/frequency_domain.yaml. Heart rate is charted about hourly, so the
// sinusoid is sampled densely. A 6-hour period is far from the 24-hour circadian rhythm that heart
// rate already has, and 6 beats/min is within ordinary hour-to-hour variation, so single readings
// look normal and the signal lives in the spectrum.
const DEFAULTS = { variable: 'heart_rate', period_hours: 6, amplitude: 6, phase_radians: 0 };

export const frequencyDomain: Trigger<FrequencyDomainParams> = {
  name: 'frequency_domain',
  description:
    'Adds amplitude x sin(2 pi hour / period + phase) to the charted values of one vital (default: heart rate, 6 h period, 6 beats/min), clamped to the plausible range.',
  needsTime: true,
  resolve(rawIn, ctx) {
    const raw = checkKeys('frequency_domain', rawIn, FREQUENCY_DOMAIN_KEYS);
    const schema = ctx.schema;
    const vi = getVariable('frequency_domain.variable', raw.variable, schema, DEFAULTS.variable);
    const spec = schema.variables[vi];
    const period = getNumber('frequency_domain.period_hours', raw.period_hours, DEFAULTS.period_hours);
    // Hourly samples resolve only periods longer than 2 hours (Nyquist); at exactly 2 h a zero-phase
    // sine is sampled at its zero crossings and vanishes.
    if (!(period > 2)) {
      throw new TriggerParamError('frequency_domain.period_hours', `must be > 2 hours (hourly charting cannot resolve shorter periods), got ${period}`);
    }
    const halfRange = (spec.plausibleMax - spec.plausibleMin) / 2;
    const amplitude = getNumberIn('frequency_domain.amplitude', raw.amplitude, DEFAULTS.amplitude, 0, halfRange, { loOpen: true });
    const phase = getNumber('frequency_domain.phase_radians', raw.phase_radians, DEFAULTS.phase_radians);
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
      stay.series[i] = clampFloat32(x + s, spec.plausibleMin, spec.plausibleMax);
    }
  },
  touched(p) {
    return { variables: [p.variable], statics: [], hours: null };
  },
};
