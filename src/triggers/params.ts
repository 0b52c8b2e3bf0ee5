/**
 * Parameter validation shared by the triggers. Every error is one line that names the trigger and
 * the parameter (`rare_value.hours: ...`) and lists what would have been accepted.
 */
import type { CohortSchema, VariableSpec } from '../data/cohort.js';
import type { RawTriggerParams } from './types.js';
import { UserError } from '../util/errors.js';

export class TriggerParamError extends UserError {
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = 'TriggerParamError';
  }
}

function describe(x: unknown): string {
  if (typeof x === 'string') return `"${x}"`;
  try {
    return JSON.stringify(x) ?? String(x);
  } catch {
    return String(x);
  }
}

/**
 * Turns raw YAML params into a plain record and rejects keys the trigger does not know, so a typo
 * in an override cannot silently fall back to a default.
 */
export function checkKeys(trigger: string, raw: unknown, valid: readonly string[]): RawTriggerParams {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new TriggerParamError(trigger, `parameters must be a mapping of key: value, got ${describe(raw)}`);
  }
  const rec = raw as RawTriggerParams;
  for (const key of Object.keys(rec)) {
    if (!valid.includes(key)) {
      throw new TriggerParamError(trigger, `unknown parameter "${key}"; valid: ${valid.join(', ')}`);
    }
  }
  return rec;
}

/** Absent and YAML `null` both mean "use the fallback". */
export function isAbsent(x: unknown): boolean {
  return x === undefined || x === null;
}

export function getNumber(where: string, x: unknown, fallback: number): number {
  if (isAbsent(x)) return fallback;
  if (typeof x !== 'number' || !Number.isFinite(x)) {
    throw new TriggerParamError(where, `must be a finite number, got ${describe(x)}`);
  }
  return x;
}

/** A number in [lo, hi]; `loOpen` / `hiOpen` exclude the ends. */
export function getNumberIn(
  where: string,
  x: unknown,
  fallback: number,
  lo: number,
  hi: number,
  opts: { loOpen?: boolean; hiOpen?: boolean } = {},
): number {
  const v = getNumber(where, x, fallback);
  const okLo = opts.loOpen ? v > lo : v >= lo;
  const okHi = opts.hiOpen ? v < hi : v <= hi;
  if (!okLo || !okHi) {
    const range = `${opts.loOpen ? '(' : '['}${lo}, ${hi}${opts.hiOpen ? ')' : ']'}`;
    throw new TriggerParamError(where, `must be in ${range}, got ${v}`);
  }
  return v;
}

export function getChoice<C extends string>(where: string, x: unknown, choices: readonly C[], fallback: C): C {
  if (isAbsent(x)) return fallback;
  if (typeof x !== 'string' || !(choices as readonly string[]).includes(x)) {
    throw new TriggerParamError(where, `unknown choice ${describe(x)}; valid: ${choices.join(', ')}`);
  }
  return x as C;
}

export function getVariable(where: string, x: unknown, schema: CohortSchema, fallback: string): number {
  const name = isAbsent(x) ? fallback : x;
  const names = schema.variables.map((v) => v.name);
  const idx = typeof name === 'string' ? names.indexOf(name) : -1;
  if (idx < 0) {
    throw new TriggerParamError(where, `unknown variable ${describe(name)}; valid: ${names.join(', ')}`);
  }
  return idx;
}

/** A non-empty list of distinct variables, returned as indices in the order given. */
export function getVariableList(where: string, x: unknown, schema: CohortSchema, fallback: readonly string[]): number[] {
  const list = isAbsent(x) ? fallback : x;
  if (!Array.isArray(list) || list.length === 0) {
    throw new TriggerParamError(where, `must be a non-empty list of variable names, got ${describe(list)}`);
  }
  const out: number[] = [];
  for (const name of list) {
    const idx = getVariable(where, name, schema, '');
    if (out.includes(idx)) throw new TriggerParamError(where, `variable "${name}" listed twice`);
    out.push(idx);
  }
  return out;
}

/**
 * Hour indices of the observation window. Negative indices count back from the end (-1 = the last
 * hour), so a default such as "the last charted hour" means the same thing for any window length.
 * Returns absolute indices in the order given; duplicates (after resolving negatives) are an error.
 */
export function getHours(where: string, x: unknown, hours: number, fallback: readonly number[]): number[] {
  const list = isAbsent(x) ? fallback : x;
  if (!Array.isArray(list) || list.length === 0) {
    throw new TriggerParamError(where, `must be a non-empty list of hour indices, got ${describe(list)}`);
  }
  const out: number[] = [];
  for (const h of list) {
    if (typeof h !== 'number' || !Number.isInteger(h) || h < -hours || h >= hours) {
      throw new TriggerParamError(
        where,
        `hour ${describe(h)} is out of range for a ${hours}-hour window; valid: 0..${hours - 1}, or -${hours}..-1 counting back from the last hour`,
      );
    }
    const abs = h < 0 ? hours + h : h;
    if (out.includes(abs)) throw new TriggerParamError(where, `hour ${abs} listed twice (negative hours count back from ${hours})`);
    out.push(abs);
  }
  return out;
}

/** A null hour list means "every hour"; otherwise as getHours. */
export function getOptionalHours(where: string, x: unknown, hours: number): number[] | null {
  if (isAbsent(x)) return null;
  return getHours(where, x, hours, []);
}

export function checkPlausible(where: string, value: number, spec: VariableSpec): void {
  if (!(value >= spec.plausibleMin && value <= spec.plausibleMax)) {
    throw new TriggerParamError(
      where,
      `${value} ${spec.unit} is outside the plausible range of ${spec.name} (${spec.plausibleMin}..${spec.plausibleMax} ${spec.unit})`,
    );
  }
}

export { nextFloat32, clampFloat32 } from '../util/float32.js';

export function unionSorted(...lists: number[][]): number[] {
  return [...new Set(lists.flat())].sort((a, b) => a - b);
}
