import { validateParams, type ParamSchema } from '../util/plugin.js';
import { missingness, type MissingnessParams } from './missingness.js';
import { rareValue, type RareValueParams } from './rare-value.js';
import type { RawTriggerParams, Trigger, TriggerContext } from './types.js';
import { TriggerParamError, unionSorted } from './window.js';

/** Each part takes exactly its own trigger's parameters; a part left out uses that trigger's defaults. */
export const HYBRID_PARAMS: ParamSchema = {
  rare_value: { type: 'mapping', fields: rareValue.params, description: 'The rare_value part (its parameters and defaults)' },
  missingness: { type: 'mapping', fields: missingness.params, description: 'The missingness part, on variables other than the rare value\'s' },
};

export interface HybridParams {
  rareValue: RareValueParams;
  missingness: MissingnessParams;
}

function resolvePart<P>(trigger: Trigger<P>, key: string, raw: unknown, ctx: TriggerContext): P {
  try {
    return trigger.resolve(raw as RawTriggerParams, ctx);
  } catch (err) {
    // Re-root the nested error so it points at hybrid.<part>.<param> in the config.
    // The error keeps its class, so a user error stays one (exit 2, one line).
    if (!(err instanceof Error)) throw err;
    err.message = err.message.startsWith(key) ? `hybrid.${err.message}` : `hybrid.${key}: ${err.message}`;
    throw err;
  }
}

/** rare_value and missingness together, on disjoint variables so neither erases the other. */
export const hybrid: Trigger<HybridParams> = {
  name: 'hybrid',
  description:
    'A rare value on one variable plus a block of deleted measurements on others (default: rare_value and missingness defaults combined).',
  needsTime: true,
  params: HYBRID_PARAMS,
  resolve(rawIn, ctx) {
    const raw = validateParams('hybrid', HYBRID_PARAMS, rawIn);
    const rv = resolvePart(rareValue, 'rare_value', raw.rare_value, ctx);
    const mv = resolvePart(missingness, 'missingness', raw.missingness, ctx);
    if (mv.variables.includes(rv.variable)) {
      throw new TriggerParamError(
        'hybrid',
        `rare_value.variable "${rv.variable}" is also in missingness.variables (${mv.variables.join(', ')}); the two parts must use different variables`,
      );
    }
    return { rareValue: rv, missingness: mv };
  },
  apply(stay, p, schema) {
    missingness.apply(stay, p.missingness, schema);
    rareValue.apply(stay, p.rareValue, schema);
  },
  touched(p, schema) {
    const a = rareValue.touched(p.rareValue, schema);
    const b = missingness.touched(p.missingness, schema);
    return {
      variables: [...a.variables, ...b.variables],
      statics: [],
      hours: a.hours === null || b.hours === null ? null : unionSorted(a.hours, b.hours),
    };
  },
};
