import type { RunRecord } from './collect.js';

export const CLEAN_TRIGGER = 'none';

/** A clean baseline run: trigger none at rate 0. */
export function isClean(r: RunRecord): boolean {
  return r.metrics.trigger === CLEAN_TRIGGER && r.metrics.poison_rate === 0;
}
