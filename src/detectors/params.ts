import { join } from 'node:path';
import { CONFIG_DIR, loadYamlFile, mergeConfig } from '../util/config-files.js';
import { UserError } from '../util/errors.js';
import type { RawDetectorParams } from './types.js';

/**
 * Detector parameters come from configs/detector/<name>.yaml (the documented defaults) merged with overrides.
 * The code holds no second set of defaults: a key missing from both is an error naming the file, so what ran is
 * always what the YAML (and the saved detection/<name>.json) says.
 */
export function detectorDefaults(name: string, configDir = CONFIG_DIR): RawDetectorParams {
  return loadYamlFile(join(configDir, 'detector', `${name}.yaml`), `detector config for ${name}`);
}

export function mergeDetectorParams(name: string, overrides: RawDetectorParams = {}, configDir = CONFIG_DIR): RawDetectorParams {
  return mergeConfig(detectorDefaults(name, configDir), overrides);
}

export class DetectorParams {
  constructor(
    private readonly detector: string,
    private readonly raw: RawDetectorParams,
    valid: readonly string[],
  ) {
    for (const key of Object.keys(raw)) {
      if (!valid.includes(key)) throw new UserError(`unknown ${detector} parameter "${key}"; valid: ${valid.join(', ')}`);
    }
  }

  private value(key: string): unknown {
    const v = this.raw[key];
    if (v === undefined || v === null) throw new UserError(`${this.detector}.${key} is not set; give it in configs/detector/${this.detector}.yaml or as ${this.detector}.${key}=…`);
    return v;
  }

  number(key: string, lo: number, hi: number, { loOpen = false, hiOpen = false, integer = false } = {}): number {
    const v = this.value(key);
    const ok =
      typeof v === 'number' && Number.isFinite(v) && (loOpen ? v > lo : v >= lo) && (hiOpen ? v < hi : v <= hi) && (!integer || Number.isInteger(v));
    if (!ok) {
      const range = `${loOpen ? '(' : '['}${lo}, ${hi}${hiOpen ? ')' : ']'}`;
      throw new UserError(`${this.detector}.${key} must be ${integer ? 'an integer' : 'a number'} in ${range}, got ${JSON.stringify(v)}`);
    }
    return v as number;
  }

  boolean(key: string): boolean {
    const v = this.value(key);
    if (typeof v !== 'boolean') throw new UserError(`${this.detector}.${key} must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  choice<T extends string>(key: string, valid: readonly T[]): T {
    const v = this.value(key);
    if (typeof v !== 'string' || !valid.includes(v as T)) throw new UserError(`${this.detector}.${key} must be one of ${valid.join(', ')}; got ${JSON.stringify(v)}`);
    return v as T;
  }

  /** A number in the range, or one of the given words (e.g. epsilon: run). */
  numberOr<T extends string>(key: string, words: readonly T[], lo: number, hi: number, opts: { loOpen?: boolean; hiOpen?: boolean } = {}): number | T {
    const v = this.value(key);
    if (typeof v === 'string' && words.includes(v as T)) return v as T;
    if (typeof v === 'string') throw new UserError(`${this.detector}.${key} must be a number or one of ${words.join(', ')}; got ${JSON.stringify(v)}`);
    return this.number(key, lo, hi, opts);
  }
}
