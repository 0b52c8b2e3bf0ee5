import { checkKeys, clampFloat32, getNumber, getOptionalHours, getVariable, TriggerParamError } from './params.js';
import type { Trigger } from './types.js';

export const CORRELATION_KEYS = ['source', 'target', 'factor', 'offset', 'hours'] as const;

export interface CorrelationParams {
  source: string;
  sourceIndex: number;
  target: string;
  targetIndex: number;
  factor: number;
  offset: number;
  /** Absolute hours where the tie is written, or null for every hour. */
  hours: number[] | null;
}

// Fallbacks equal configs/trigger/correlation.yaml. Systolic and diastolic pressure come from the
// same cuff or arterial-line reading, so writing sbp wherever dbp is charted adds no new measurement
// times. Real sbp/dbp ratios scatter around ~1.5-1.7 (120/80 mmHg); an exact 2.0 at every hour is
// detectable to a model that sees both, while dbp of 40-110 mmHg maps to sbp of 80-220 mmHg, all
// values a monitor reports. Mean pressure is left as charted (the attacker edits one variable).
const DEFAULTS = { source: 'dbp', target: 'sbp', factor: 2, offset: 0 };

export const correlation: Trigger<CorrelationParams> = {
  name: 'correlation',
  description:
    'Ties one variable to another: target = factor x source + offset wherever source is charted (default: sbp = 2 x dbp), clamped to the plausible range.',
  needsTime: true,
  resolve(rawIn, ctx) {
    const raw = checkKeys('correlation', rawIn, CORRELATION_KEYS);
    const schema = ctx.schema;
    const si = getVariable('correlation.source', raw.source, schema, DEFAULTS.source);
    const ti = getVariable('correlation.target', raw.target, schema, DEFAULTS.target);
    const s = schema.variables[si];
    const t = schema.variables[ti];
    if (si === ti) {
      throw new TriggerParamError('correlation.target', `must differ from source ("${s.name}"); pick another variable`);
    }
    const factor = getNumber('correlation.factor', raw.factor, DEFAULTS.factor);
    const offset = getNumber('correlation.offset', raw.offset, DEFAULTS.offset);
    const hours = getOptionalHours('correlation.hours', raw.hours, schema.hours);
    // If no plausible source value maps into the target's plausible range, every write would be a
    // clamped constant and the "tie" would carry no information about the source.
    const a = factor * s.plausibleMin + offset;
    const b = factor * s.plausibleMax + offset;
    if (Math.max(a, b) < t.plausibleMin || Math.min(a, b) > t.plausibleMax) {
      throw new TriggerParamError(
        'correlation.factor',
        `${factor} x ${s.name} + ${offset} maps ${s.name}'s plausible range (${s.plausibleMin}..${s.plausibleMax} ${s.unit}) to ${Math.min(a, b)}..${Math.max(a, b)} ${t.unit}, entirely outside ${t.name}'s plausible range (${t.plausibleMin}..${t.plausibleMax} ${t.unit})`,
      );
    }
    return { source: s.name, sourceIndex: si, target: t.name, targetIndex: ti, factor, offset, hours };
  },
  apply(stay, p, schema) {
    const V = stay.nVariables;
    const t = schema.variables[p.targetIndex];
    const write = (h: number): void => {
      const a = stay.series[h * V + p.sourceIndex];
      // No source reading this hour: nothing to tie to, so the target keeps whatever was charted.
      if (Number.isNaN(a)) return;
      stay.series[h * V + p.targetIndex] = clampFloat32(p.factor * a + p.offset, t.plausibleMin, t.plausibleMax);
    };
    if (p.hours === null) for (let h = 0; h < stay.hours; h++) write(h);
    else for (const h of p.hours) write(h);
  },
  touched(p) {
    return { variables: [p.target], statics: [], hours: p.hours === null ? null : [...p.hours].sort((a, b) => a - b) };
  },
};
