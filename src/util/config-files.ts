import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import YAML from 'yaml';
import { UserError } from './errors.js';

export type Tree = Record<string, unknown>;

/** The package's own configs/ folder, wherever the package is installed. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CONFIG_DIR = join(PACKAGE_ROOT, 'configs');

export function isTree(x: unknown): x is Tree {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Deep merge for config layers: mappings merge key by key, anything else (lists included) replaces. */
export function mergeConfig(...layers: Tree[]): Tree {
  const out: Tree = {};
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer)) {
      out[key] = isTree(value) && isTree(out[key]) ? mergeConfig(out[key] as Tree, value) : structuredClone(value);
    }
  }
  return out;
}

export function loadYamlFile(path: string, what: string): Tree {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new UserError(`${what} not found: ${path}`);
  }
  let parsed: unknown;
  try {
    parsed = YAML.parse(text);
  } catch (err) {
    throw new UserError(`${what} ${path} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (!isTree(parsed)) throw new UserError(`${what} ${path} must be a YAML mapping of key: value`);
  return parsed;
}

