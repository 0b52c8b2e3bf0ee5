import { UserError } from '../util/errors.js';

export function checkKeys(owner: string, raw: Record<string, unknown>, valid: string[]): void {
  for (const key of Object.keys(raw)) {
    if (!valid.includes(key)) throw new UserError(`unknown ${owner} setting "${key}"; valid: ${valid.join(', ')}`);
  }
}

export function positiveInt(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new UserError(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return value;
}

export function positiveNumber(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new UserError(`${name} must be a positive number, got ${JSON.stringify(value)}`);
  return value;
}

export function nonNegativeInt(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw new UserError(`${name} must be an integer ≥ 0, got ${JSON.stringify(value)}`);
  return value;
}

/** A probability-like value in [0, 1). */
export function rateIn01(name: string, value: unknown): number {
  if (typeof value !== 'number' || !(value >= 0 && value < 1)) throw new UserError(`${name} must be a number in [0, 1), got ${JSON.stringify(value)}`);
  return value;
}

export function oneOf<T extends string>(name: string, value: unknown, valid: readonly T[]): T {
  if (typeof value !== 'string' || !valid.includes(value as T)) throw new UserError(`${name} must be one of ${valid.join(', ')}; got ${JSON.stringify(value)}`);
  return value as T;
}
