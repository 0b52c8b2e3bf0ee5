/**
 * Every trigger by name. Adding one means one file exporting a Trigger (its parameter schema holds the
 * documented defaults) and one line here.
 *
 * needsTime: true when a trigger needs a clinical time axis: a block of deleted hours (missingness, hybrid), a
 * period (frequency_domain) or a within-stay mean over hours (distribution_shift). Such triggers refuse
 * tabular-only sources, whose "series" is one 1-hour row. Value triggers (rare_value, pattern, correlation) write
 * values into named variables and work on a table too: there, hour 0 (or -1) is the table's one row, so
 * rare_value writes one column's value, pattern joint values of several columns, correlation ties one column to another.
 */
import { createRegistry } from '../util/plugin.js';
import { correlation } from './correlation.js';
import { distributionShift } from './distribution-shift.js';
import { frequencyDomain } from './frequency-domain.js';
import { hybrid } from './hybrid.js';
import { missingness } from './missingness.js';
import { none } from './none.js';
import { pattern } from './pattern.js';
import { rareValue } from './rare-value.js';
import type { Trigger } from './types.js';

export const TRIGGER_REGISTRY = createRegistry<Trigger<any>>('trigger', [
  none,
  rareValue,
  missingness,
  hybrid,
  pattern,
  correlation,
  frequencyDomain,
  distributionShift,
]);

/** Name → trigger, a prototype-free map (for iteration; look names up with getTrigger). */
export const TRIGGERS: Readonly<Record<string, Trigger<any>>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, Trigger<any>>, Object.fromEntries(TRIGGER_REGISTRY.members().map((t) => [t.name, t]))),
);

export function triggerNames(): string[] {
  return TRIGGER_REGISTRY.names();
}

export function getTrigger(name: string): Trigger<any> {
  return TRIGGER_REGISTRY.get(name);
}
