/**
 * Every trigger by name. Adding one means one file exporting a Trigger, one line here, and one
 * configs/trigger/<name>.yaml holding its documented defaults.
 *
 * needsTime: true whenever a trigger addresses specific hours or a temporal shape (an hour index, a
 * per-hour tie, a period, a within-stay mean). Such triggers refuse tabular-only sources, whose
 * "series" is a single row with no clinical time axis; only `none` works everywhere.
 */
import { correlation } from './correlation.js';
import { distributionShift } from './distribution-shift.js';
import { frequencyDomain } from './frequency-domain.js';
import { hybrid } from './hybrid.js';
import { missingness } from './missingness.js';
import { none } from './none.js';
import { pattern } from './pattern.js';
import { rareValue } from './rare-value.js';
import type { Trigger } from './types.js';
import { unknownChoice } from '../util/errors.js';

export const TRIGGERS: Readonly<Record<string, Trigger>> = {
  none,
  rare_value: rareValue,
  missingness,
  hybrid,
  pattern,
  correlation,
  frequency_domain: frequencyDomain,
  distribution_shift: distributionShift,
};

export function triggerNames(): string[] {
  return Object.keys(TRIGGERS);
}

export function getTrigger(name: string): Trigger {
  const t = Object.hasOwn(TRIGGERS, name) ? TRIGGERS[name] : undefined;
  if (!t) throw unknownChoice('trigger', name, triggerNames());
  return t;
}
