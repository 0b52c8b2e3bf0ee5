import type { RunRecord } from './collect.js';
import { isCleanBaseline } from '../runs/records.js';

export const CLEAN_TRIGGER = 'none';

/** A clean baseline run: trigger none at rate 0. */
export function isClean(r: RunRecord): boolean {
  return isCleanBaseline(r.metrics);
}
