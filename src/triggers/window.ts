/**
 * Checks of trigger parameters against the cohort they run on (variable names, the observation window,
 * plausible ranges): the part of validation that needs the cohort schema. Type, range and defaults are checked
 * before, by the plugin schema (src/util/plugin.ts). Errors are one line naming `<trigger>.<param>`.
 */
import type { CohortSchema, VariableSpec } from '../data/cohort.js';
import { UserError } from '../util/errors.js';
import { describeValue } from '../util/plugin.js';

export class TriggerParamError extends UserError {
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = 'TriggerParamError';
  }
}

export function variableIndex(where: string, name: unknown, schema: CohortSchema): number {
  const names = schema.variables.map((v) => v.name);
  const idx = typeof name === 'string' ? names.indexOf(name) : -1;
  if (idx < 0) throw new TriggerParamError(where, `unknown variable ${describeValue(name)}; valid: ${names.join(', ') || '(the cohort has no variables)'}`);
  return idx;
}

/** Distinct variables, as indices in the order given. */
export function variableIndices(where: string, list: readonly unknown[], schema: CohortSchema): number[] {
  const out: number[] = [];
  for (const name of list) {
    const idx = variableIndex(where, name, schema);
    if (out.includes(idx)) throw new TriggerParamError(where, `variable "${String(name)}" listed twice`);
    out.push(idx);
  }
  return out;
}

/**
 * Hour indices of the observation window. Negative indices count back from the end (-1 = the last hour), so a
 * default such as "the last charted hour" means the same thing for any window length. Returns absolute indices
 * in the order given; duplicates (after resolving negatives) are an error.
 */
export function windowHours(where: string, list: readonly number[], hours: number): number[] {
  const out: number[] = [];
  for (const h of list) {
    if (!Number.isInteger(h) || h < -hours || h >= hours) {
      throw new TriggerParamError(
        where,
        `hour ${describeValue(h)} is out of range for a ${hours}-hour window; valid: 0..${hours - 1}, or -${hours}..-1 counting back from the last hour`,
      );
    }
    const abs = h < 0 ? hours + h : h;
    if (out.includes(abs)) throw new TriggerParamError(where, `hour ${abs} listed twice (negative hours count back from ${hours})`);
    out.push(abs);
  }
  return out;
}

export function checkPlausible(where: string, value: number, spec: VariableSpec): void {
  if (!(value >= spec.plausibleMin && value <= spec.plausibleMax)) {
    throw new TriggerParamError(
      where,
      `${value} ${spec.unit} is outside the plausible range of ${spec.name} (${spec.plausibleMin}..${spec.plausibleMax} ${spec.unit})`,
    );
  }
}

export function unionSorted(...lists: number[][]): number[] {
  return [...new Set(lists.flat())].sort((a, b) => a - b);
}

/** Hours every trigger schema takes: integers, negative counting back from the window's end. */
export const HOUR_ITEMS = { type: 'integer' } as const;
