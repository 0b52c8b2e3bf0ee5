import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import YAML from 'yaml';
import { UserError } from './errors.js';
import { FORBIDDEN_KEYS, isMapping } from './plugin.js';

export type Tree = Record<string, unknown>;

/** The package's own configs/ folder, wherever the package is installed. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CONFIG_DIR = join(PACKAGE_ROOT, 'configs');

export const isTree: (x: unknown) => x is Tree = isMapping;

/**
 * Config keys come from files and the command line, so none may name a prototype: `__proto__`, `constructor`
 * and `prototype` are refused wherever they sit, as an unknown key.
 */
export function refuseKey(key: string, path: string, where: string): void {
  if (FORBIDDEN_KEYS.includes(key)) {
    throw new UserError(`unknown key "${key}" at ${path ? `${path}.` : ''}${key} in ${where}; valid: any key but ${FORBIDDEN_KEYS.join(', ')}`);
  }
}

/** Deep merge for config layers: mappings merge key by key, anything else (lists included) replaces. */
export function mergeConfig(...layers: Tree[]): Tree {
  const out: Tree = {};
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer)) {
      refuseKey(key, '', 'a config layer');
      const prev = Object.hasOwn(out, key) ? out[key] : undefined;
      out[key] = isTree(value) && isTree(prev) ? mergeConfig(prev, value) : structuredClone(value);
    }
  }
  return out;
}

/**
 * Parses YAML into plain data, refusing prototype-named keys at any depth. Mappings are first read as Maps, so a
 * `__proto__:` key is seen (a plain-object conversion would swallow it into the prototype and drop it silently).
 */
export function parseYaml(text: string, where: string, at = ''): unknown {
  const doc = YAML.parseDocument(text);
  if (doc.errors.length > 0) throw new Error(doc.errors[0]!.message);
  const plain = (x: unknown, path: string): unknown => {
    if (x instanceof Map) {
      const out: Tree = {};
      for (const [k, v] of x) {
        const key = String(k);
        refuseKey(key, path, where);
        out[key] = plain(v, path ? `${path}.${key}` : key);
      }
      return out;
    }
    if (Array.isArray(x)) return x.map((v, i) => plain(v, `${path}[${i}]`));
    return x;
  };
  return plain(doc.toJS({ mapAsMap: true }), at);
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
    parsed = parseYaml(text, `${what} ${path}`);
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${what} ${path} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (!isTree(parsed)) throw new UserError(`${what} ${path} must be a YAML mapping of key: value`);
  return parsed;
}
