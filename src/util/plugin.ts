/**
 * The one contract every plugin family (triggers, models, detectors, cohort sources) follows: a name, a
 * one-line description and a declarative parameter schema holding each parameter's type, range, default,
 * unit and citation. `validateParams` is the one validator of those parameters and `createRegistry` the one
 * name lookup, so every family answers a bad key, value or name with the same one-line UserError.
 */
import { UserError } from './errors.js';

/** Keys that would reach an object's prototype machinery if used as property names. */
export const FORBIDDEN_KEYS: readonly string[] = ['__proto__', 'constructor', 'prototype'];

export type ItemType = 'number' | 'integer' | 'string' | 'boolean';

/** Constraints on one scalar value (a parameter or a list item). */
export interface ScalarSpec {
  type: ItemType;
  /** Numbers: the bounds; `minOpen` / `maxOpen` exclude them. */
  min?: number;
  max?: number;
  minOpen?: boolean;
  maxOpen?: boolean;
  /** The accepted values, when they form a closed choice. */
  choices?: readonly (string | number)[];
}

interface Documented {
  /** What the parameter means, in the domain's terms. */
  description: string;
  /** Clinical or physical unit of a number (e.g. "mg/dL", "hours"). */
  unit?: string;
  /** Where a default or a rule comes from (paper, guideline, reference implementation). */
  citation?: string;
}

export type ParamSpec = Documented &
  (
    | (ScalarSpec & {
        /** Numbers only: words accepted in place of a number (e.g. spectral `epsilon: run`). */
        words?: readonly string[];
        nullable?: boolean;
        default: number | string | boolean | null;
      })
    | { type: 'list'; items: ScalarSpec; nullable?: boolean; default: readonly (number | string | boolean)[] | null }
    /** A nested mapping validated against its own schema; absent keys take that schema's defaults. */
    | { type: 'mapping'; fields: ParamSchema; default?: undefined }
    /** A non-empty list of mappings whose fields are all required. */
    | { type: 'mapping-list'; fields: ParamSchema; default: readonly Readonly<Record<string, unknown>>[] }
  );

/** Parameters in the order they are written out (config.yaml, detection records). */
export type ParamSchema = Readonly<Record<string, ParamSpec>>;

export interface Plugin {
  name: string;
  /** One line. */
  description: string;
  params: ParamSchema;
}

export type Params = Record<string, unknown>;

const MAX_ECHO = 80;

/** A value as shown in an error message, capped so a huge input still yields one short line. */
export function describeValue(x: unknown): string {
  let s: string;
  try {
    s = typeof x === 'string' ? `"${x}"` : (JSON.stringify(x) ?? String(x));
  } catch {
    s = String(x);
  }
  return s.length > MAX_ECHO ? `${s.slice(0, MAX_ECHO)}… (${s.length} characters)` : s;
}

export function isMapping(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Refuses a key that would touch a prototype, naming where it sits and what would be valid there. */
export function refuseForbiddenKey(key: string, where: string, valid: readonly string[]): void {
  if (FORBIDDEN_KEYS.includes(key)) {
    throw new UserError(`unknown key "${key}" in ${where}; valid: ${valid.length ? valid.join(', ') : '(no keys)'}`);
  }
}

function rangeText(s: ScalarSpec): string {
  const lo = s.min === undefined ? '(-∞' : `${s.minOpen ? '(' : '['}${s.min}`;
  const hi = s.max === undefined ? '∞)' : `${s.max}${s.maxOpen ? ')' : ']'}`;
  return `${lo}, ${hi}`;
}

function expected(s: ScalarSpec): string {
  if (s.type === 'boolean') return 'true or false';
  if (s.choices) return s.choices.join(', ');
  if (s.type === 'string') return 'a string';
  const kind = s.type === 'integer' ? 'an integer' : 'a number';
  return s.min === undefined && s.max === undefined ? kind : `${kind} in ${rangeText(s)}`;
}

function scalarOk(s: ScalarSpec, v: unknown): boolean {
  switch (s.type) {
    case 'boolean':
      return typeof v === 'boolean';
    case 'string':
      return typeof v === 'string' && (!s.choices || s.choices.includes(v));
    case 'number':
    case 'integer': {
      if (typeof v !== 'number' || !Number.isFinite(v)) return false;
      if (s.type === 'integer' && !Number.isInteger(v)) return false;
      if (s.choices && !s.choices.includes(v)) return false;
      if (s.min !== undefined && (s.minOpen ? !(v > s.min) : !(v >= s.min))) return false;
      if (s.max !== undefined && (s.maxOpen ? !(v < s.max) : !(v <= s.max))) return false;
      return true;
    }
  }
}

/** `rare_value.mode: bad value "x"; valid: percentile, legacy_sentinel, fixed` */
function bad(where: string, valid: string, got: unknown): UserError {
  return new UserError(`${where}: bad value ${describeValue(got)}; valid: ${valid}`);
}

/** Checks one given (non-absent) value against its spec; returns it (lists copied, mappings validated). */
export function checkValue(where: string, spec: ParamSpec, v: unknown): unknown {
  if (spec.type === 'mapping') return validateParams(where, spec.fields, v);
  if (spec.type === 'mapping-list') {
    if (!Array.isArray(v) || v.length === 0) throw bad(where, `a non-empty list of mappings with keys ${Object.keys(spec.fields).join(', ')}`, v);
    return v.map((entry, k) => validateParams(`${where}[${k}]`, spec.fields, entry, { required: true }));
  }
  if (v === null && spec.nullable) return null;
  if (spec.type === 'list') {
    if (!Array.isArray(v) || v.length === 0) throw bad(where, `a non-empty list, each ${expected(spec.items)}`, v);
    v.forEach((x, k) => {
      if (!scalarOk(spec.items, x)) throw bad(`${where}[${k}]`, expected(spec.items), x);
    });
    return [...v];
  }
  if (spec.words && typeof v === 'string') {
    if (spec.words.includes(v)) return v;
    throw bad(where, `${expected(spec)}, or ${spec.words.join(', ')}`, v);
  }
  if (!scalarOk(spec, v)) throw bad(where, spec.words ? `${expected(spec)}, or ${spec.words.join(', ')}` : expected(spec), v);
  return v;
}

/** The schema's defaults, as a fresh tree (nested mappings included) in schema order. */
export function defaultsOf(schema: ParamSchema): Params {
  const out: Params = {};
  for (const [key, spec] of Object.entries(schema)) {
    out[key] = spec.type === 'mapping' ? defaultsOf(spec.fields) : structuredClone(spec.default);
  }
  return out;
}

/**
 * Validates raw parameters against a schema: unknown keys are refused with the valid ones listed, every value
 * is type- and range-checked, and an absent or null value takes its default (unless `required`). `where` is the
 * prefix of every message (e.g. `rare_value`, `model`). Input keys are read as own properties only and the
 * output holds only the schema's keys, so no untrusted key reaches a prototype.
 */
export function validateParams(where: string, schema: ParamSchema, raw: unknown, opts: { required?: boolean; owner?: string } = {}): Params {
  if (raw === undefined || raw === null) raw = {};
  if (!isMapping(raw)) throw bad(where, `a mapping of key: value (valid keys: ${Object.keys(schema).join(', ') || 'none'})`, raw);
  const valid = Object.keys(schema);
  for (const key of Object.keys(raw)) {
    if (!Object.hasOwn(schema, key) || FORBIDDEN_KEYS.includes(key)) {
      const of = opts.owner ? `${opts.owner} ` : '';
      throw new UserError(`${where}: unknown ${of}parameter "${key.slice(0, MAX_ECHO)}"; valid: ${valid.length ? valid.join(', ') : '(none, it takes no parameters)'}`);
    }
  }
  const out: Params = {};
  for (const [key, spec] of Object.entries(schema)) {
    const given = Object.hasOwn(raw, key) ? raw[key] : undefined;
    const path = `${where}.${key}`;
    if (given === undefined || (given === null && spec.type !== 'mapping')) {
      if (opts.required) throw new UserError(`${path}: missing; valid: ${spec.description}`);
      out[key] = spec.type === 'mapping' ? validateParams(path, spec.fields, {}) : structuredClone(spec.default);
    } else {
      out[key] = checkValue(path, spec, given);
    }
  }
  return out;
}

/** Checks a schema is complete and its defaults pass its own validator; for contract tests and registration. */
export function schemaProblems(owner: string, schema: ParamSchema, { entryFields = false } = {}): string[] {
  const problems: string[] = [];
  for (const [key, spec] of Object.entries(schema)) {
    if (FORBIDDEN_KEYS.includes(key)) problems.push(`${owner}.${key}: forbidden key`);
    if (!spec.description) problems.push(`${owner}.${key}: no description`);
    if (spec.type === 'mapping') problems.push(...schemaProblems(`${owner}.${key}`, spec.fields));
    else if (spec.type === 'mapping-list') problems.push(...schemaProblems(`${owner}.${key}`, spec.fields, { entryFields: true }));
    else if (spec.default === undefined) problems.push(`${owner}.${key}: no default`);
  }
  // The fields of a list entry are all required: their placeholder defaults are never used.
  if (entryFields) return problems;
  try {
    validateParams(owner, schema, defaultsOf(schema));
  } catch (err) {
    problems.push(`defaults do not validate: ${(err as Error).message}`);
  }
  return problems;
}

export interface Registry<T extends Plugin> {
  /** The family's name in messages ("trigger", "model", ...). */
  readonly family: string;
  names(): string[];
  has(name: string): boolean;
  /** The member called `name`, or a one-line UserError listing the valid names. */
  get(name: string): T;
  members(): T[];
}

/**
 * A registry of plugins keyed by their own `name`. Lookups read own properties of a prototype-free map, so
 * `__proto__`, `constructor` or `toString` are unknown names like any other.
 */
export function createRegistry<T extends Plugin>(family: string, members: readonly T[]): Registry<T> {
  const byName = Object.create(null) as Record<string, T>;
  for (const m of members) {
    if (Object.hasOwn(byName, m.name)) throw new Error(`${family} "${m.name}" registered twice`);
    if (FORBIDDEN_KEYS.includes(m.name)) throw new Error(`${family} name "${m.name}" is reserved`);
    const problems = schemaProblems(m.name, m.params);
    if (problems.length) throw new Error(`${family} ${m.name}: ${problems.join('; ')}`);
    byName[m.name] = m;
  }
  const names = members.map((m) => m.name);
  return {
    family,
    names: () => [...names],
    has: (name) => typeof name === 'string' && Object.hasOwn(byName, name),
    get(name) {
      if (typeof name === 'string' && Object.hasOwn(byName, name)) return byName[name];
      throw new UserError(`unknown ${family} ${describeValue(name)}; valid: ${names.join(', ')}`);
    },
    members: () => [...members],
  };
}

/** One line per parameter of every member, `name.key = default  description`, for --help texts. */
export function describeParams(registry: Registry<Plugin>): string {
  const lines: string[] = [];
  for (const m of registry.members()) {
    for (const [key, spec] of Object.entries(m.params)) {
      const value = spec.type === 'mapping' ? defaultsOf(spec.fields) : spec.default;
      const unit = spec.unit ? ` (${spec.unit})` : '';
      const cite = spec.citation ? ` [${spec.citation}]` : '';
      lines.push(`  ${m.name}.${key} = ${JSON.stringify(value)}${unit}  ${spec.description}${cite}`);
    }
  }
  return lines.join('\n');
}
