import { validateParams } from '../util/plugin.js';
import type { Trigger } from './types.js';

export type NoneParams = Record<string, never>;

/** The clean baseline: poisoned rows keep their values, so only the flipped labels remain. */
export const none: Trigger<NoneParams> = {
  name: 'none',
  description: 'Changes nothing (clean baseline; poisoning reduces to label flipping).',
  // No time axis needed: the one trigger a tabular-only source can use.
  needsTime: false,
  params: {},
  resolve(raw) {
    validateParams('none', {}, raw);
    return {};
  },
  apply() {},
  touched() {
    return { variables: [], statics: [], hours: [] };
  },
};
