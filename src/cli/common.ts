import { Command, Option } from 'commander';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UserError, unknownChoice } from '../util/errors.js';
import { BACKEND_CHOICES, setDefaultThreads } from '../engine/backend.js';
import { POISON_MODES } from '../triggers/poison.js';

export function parseList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export function parseNumberList(what: string, { integers = false }: { integers?: boolean } = {}) {
  return (value: string): number[] =>
    parseList(value).map((s) => {
      const x = Number(s);
      if (!Number.isFinite(x)) throw new UserError(`${what} must be numbers separated by commas, got "${s}"`);
      if (integers && (!/^[-+]?\d+$/.test(s) || !Number.isSafeInteger(x))) throw new UserError(`${what} must be integers separated by commas, got "${s}"`);
      return x;
    });
}

/** A comma-separated list of choices (e.g. --targets 1,0), each refused unless it is one of `choices`. */
export function parseChoiceList<T extends string | number>(what: string, choices: readonly T[]) {
  return (value: string): T[] =>
    parseList(value).map((s) => {
      const found = choices.find((c) => String(c) === s);
      if (found === undefined) throw unknownChoice(`${what} value`, s, choices.map(String));
      return found;
    });
}

export function parseIntArg(what: string, { min = Number.MIN_SAFE_INTEGER }: { min?: number } = {}) {
  return (value: string): number => {
    const x = Number(value);
    if (!/^\s*[-+]?\d+\s*$/.test(value) || !Number.isSafeInteger(x)) throw new UserError(`${what} must be an integer, got "${value}"`);
    if (x < min) throw new UserError(`${what} must be an integer ≥ ${min}, got "${value}"`);
    return x;
  };
}

export function parseNumberArg(what: string) {
  return (value: string): number => {
    const x = Number(value);
    if (value.trim() === '' || !Number.isFinite(x)) throw new UserError(`${what} must be a number, got "${value}"`);
    return x;
  };
}

/**
 * `--data` takes a cohort file or the name of a cohort built by `backdoor cohort` (data/cohorts/<name>/). Without
 * `--splits`, a splits.json beside the data file is used (as `backdoor cohort` writes it).
 */
function resolveDataArg(data: string, splits?: string): { path: string; splits?: string } {
  let path = data;
  if (!/[\\/]/.test(data) && !/\.(parquet|csv)$/i.test(data)) {
    path = join('data', 'cohorts', data, 'cohort.parquet');
    if (!existsSync(path)) {
      throw new UserError(`no cohort named "${data}" (looked for ${path}); build it with \`backdoor cohort ${data} ...\` or give a .parquet file`);
    }
  }
  if (splits) return { path, splits };
  const beside = join(dirname(path), 'splits.json');
  return existsSync(beside) ? { path, splits: beside } : { path };
}

/** Options shared by the commands that train: where data and runs live and how to override config. */
export function addRunOptions(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'YAML config file layered over the defaults (configs/base.yaml)')
    .option('--data <file|name>', 'cohort Parquet file, or a cohort name from `backdoor cohort` (default: data.path in config, data/dev/dev.parquet)')
    .option('--splits <file>', 'splits JSON file (default: splits.json beside --data, else data.splits in config, data/splits/splits.json)')
    .option('--runs-dir <dir>', 'folder that receives run folders', 'runs')
    .option('--epochs <n>', 'maximum training epochs (default: train.epochs in config, 40)', parseIntArg('--epochs'))
    .option('--target <label>', 'attack target label, 0 or 1 (default: poison.target, 1)', parseIntArg('--target'))
    .addOption(new Option('--mode <mode>', 'poisoning mode (default: poison.mode, dirty)').choices([...POISON_MODES]))
    .addOption(new Option('--backend <name>', 'compute backend (default: backend in config, auto)').choices([...BACKEND_CHOICES]))
    .option('--variant <name>', 'name of this config variant (e.g. potassium): runs go to runs/{model}/{trigger}@{name}/… so runs differing only in config share a runs folder (default: variant in config, none)')
    .option('--threads <n>', 'compute threads of the torch backend (default 1: sweeps run one process per core)', parseIntArg('--threads'))
    .option('--force', 'rerun runs whose folder is already complete', false)
    .option('--json', 'print the results as JSON on stdout', false)
    .option('-v, --verbose', 'print per-epoch progress', false)
    .argument('[overrides...]', 'config overrides as key=value, e.g. train.batch_size=128 model.hidden_units=[64,32]; a flag and an override of the same key must agree');
}

export interface RunFlags {
  config?: string;
  data?: string;
  splits?: string;
  runsDir: string;
  epochs?: number;
  target?: number;
  mode?: string;
  backend?: string;
  variant?: string;
  threads?: number;
  force: boolean;
  json: boolean;
  verbose: boolean;
}

/**
 * Flags become overrides on top of key=value pairs. A flag and a pair that set one key to different values
 * (`--seed 4 seed=5`) are refused, not silently resolved.
 */
export function flagOverrides(flags: RunFlags & { seed?: number }, pairs: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, any> = structuredClone(pairs);
  const section = (key: string) => (out[key] = typeof out[key] === 'object' && out[key] !== null ? out[key] : {});
  const set = (flag: string, node: Record<string, unknown>, key: string, path: string, value: unknown) => {
    if (Object.hasOwn(node, key) && JSON.stringify(node[key]) !== JSON.stringify(value)) {
      throw new UserError(`${flag} ${JSON.stringify(value)} conflicts with the override ${path}=${JSON.stringify(node[key])}; give one of them`);
    }
    node[key] = value;
  };
  if (flags.data) {
    const resolved = resolveDataArg(flags.data, flags.splits);
    set('--data', section('data'), 'path', 'data.path', resolved.path);
    const data = section('data');
    if (flags.splits) set('--splits', data, 'splits', 'data.splits', flags.splits);
    else if (resolved.splits !== undefined && !Object.hasOwn(data, 'splits')) data.splits = resolved.splits;
  } else if (flags.splits) set('--splits', section('data'), 'splits', 'data.splits', flags.splits);
  if (flags.epochs !== undefined) set('--epochs', section('train'), 'epochs', 'train.epochs', flags.epochs);
  if (flags.target !== undefined) set('--target', section('poison'), 'target', 'poison.target', flags.target);
  if (flags.mode) set('--mode', section('poison'), 'mode', 'poison.mode', flags.mode);
  if (flags.backend) set('--backend', out, 'backend', 'backend', flags.backend);
  if (flags.seed !== undefined) set('--seed', out, 'seed', 'seed', flags.seed);
  if (flags.variant !== undefined) set('--variant', out, 'variant', 'variant', flags.variant);
  // Threads change speed, not the experiment, so they are an engine setting rather than a config key.
  if (flags.threads !== undefined) setDefaultThreads(flags.threads);
  return out;
}
