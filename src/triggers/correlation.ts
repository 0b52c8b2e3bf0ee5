import { atResolution } from '../data/cohort.js';
import { validateParams, type ParamSchema } from '../util/plugin.js';
import type { Trigger } from './types.js';
import { HOUR_ITEMS, TriggerParamError, variableIndex, windowHours } from './window.js';

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

// Systolic and diastolic pressure come from the same cuff or arterial-line reading, so writing sbp wherever dbp
// is charted adds no new measurement times. Real sbp/dbp ratios scatter around ~1.5-1.7 (120/80 mmHg); an exact
// 2.0 at every hour is detectable to a model that sees both, while dbp of 40-110 mmHg maps to sbp of 80-220 mmHg,
// all values a monitor reports. Mean pressure is left as charted (the attacker edits one variable).
export const CORRELATION_PARAMS: ParamSchema = {
  source: { type: 'string', default: 'dbp', description: 'Variable read (any name from the cohort schema): diastolic blood pressure' },
  target: { type: 'string', default: 'sbp', description: 'Variable overwritten: systolic blood pressure, from the same reading as diastolic' },
  factor: { type: 'number', default: 2, unit: 'target units per source unit', description: 'Multiplier; real systolic/diastolic ratios scatter around 1.5-1.7, an exact 2.0 is detectable' },
  offset: { type: 'number', default: 0, unit: "the target's unit", description: 'Added after the multiplication' },
  hours: {
    type: 'list',
    items: HOUR_ITEMS,
    nullable: true,
    default: null,
    unit: 'hour index',
    description: 'Hours where the tie is written (0 = first; negative counts back from the end); null = every hour',
  },
};

export const correlation: Trigger<CorrelationParams> = {
  name: 'correlation',
  description:
    'Ties one variable to another: target = factor x source + offset wherever source is charted (default: sbp = 2 x dbp), clamped to the plausible range.',
  needsTime: false,
  params: CORRELATION_PARAMS,
  resolve(rawIn, ctx) {
    const raw = validateParams('correlation', CORRELATION_PARAMS, rawIn);
    const schema = ctx.schema;
    const si = variableIndex('correlation.source', raw.source, schema);
    const ti = variableIndex('correlation.target', raw.target, schema);
    const s = schema.variables[si];
    const t = schema.variables[ti];
    if (si === ti) {
      throw new TriggerParamError('correlation.target', `must differ from source ("${s.name}"); pick another variable`);
    }
    const factor = raw.factor as number;
    const offset = raw.offset as number;
    const hours = raw.hours === null ? null : windowHours('correlation.hours', raw.hours as number[], schema.hours);
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
      stay.series[h * V + p.targetIndex] = atResolution(t, p.factor * a + p.offset);
    };
    if (p.hours === null) for (let h = 0; h < stay.hours; h++) write(h);
    else for (const h of p.hours) write(h);
  },
  touched(p) {
    return { variables: [p.target], statics: [], hours: p.hours === null ? null : [...p.hours].sort((a, b) => a - b) };
  },
};
