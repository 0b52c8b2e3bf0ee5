import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import YAML from 'yaml';
import { getModel, modelNames } from '../models/registry.js';
import { getTrigger, triggerNames } from '../triggers/registry.js';
import { POISON_MODES, type PoisonMode } from '../triggers/poison.js';
import { TRAIN_KEYS, WEIGHT_SELECTIONS, type TrainConfig } from '../train/trainer.js';
import { UserError, unknownChoice } from '../util/errors.js';
import { positiveInt, positiveNumber, nonNegativeInt, oneOf } from '../models/config-checks.js';
import { CHECKPOINT_POLICIES } from '../train/checkpoint.js';

import { BACKEND_CHOICES, type BackendChoice } from '../engine/backend.js';
import type { ThresholdRule } from '../metrics/classification.js';

/** A fully resolved run configuration: every value explicit, as written to the run folder's config.yaml. */
export interface RunConfig {
  data: { path: string; splits: string };
  model: { name: string } & Record<string, unknown>;
  trigger: { name: string } & Record<string, unknown>;
  poison: { rate: number; target: 0 | 1; mode: PoisonMode };
  seed: number;
  backend: BackendChoice;
  train: TrainConfig;
  evaluation: { threshold: ThresholdRule; clean_run_triggers: string[] };
}

type Tree = Record<string, unknown>;

/** The package's own configs/ folder, wherever the package is installed. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CONFIG_DIR = join(PACKAGE_ROOT, 'configs');

function isTree(x: unknown): x is Tree {
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

/** `train.epochs=5` → { train: { epochs: 5 } }; values are parsed as YAML, so lists and numbers work. */
export function parseOverrides(pairs: string[]): Tree {
  const out: Tree = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UserError(`override "${pair}" must look like key=value, e.g. train.epochs=5 or model.hidden_units=[64,32]`);
    const path = pair.slice(0, eq).split('.');
    let value: unknown;
    try {
      value = YAML.parse(pair.slice(eq + 1));
    } catch {
      value = pair.slice(eq + 1);
    }
    let node = out;
    path.forEach((key, i) => {
      if (i === path.length - 1) node[key] = value;
      else node = (isTree(node[key]) ? node[key] : (node[key] = {})) as Tree;
    });
  }
  return out;
}

export interface ConfigInputs {
  /** A user config file (--config). */
  configFile?: string;
  /** Flag and key=value overrides, highest precedence. */
  overrides?: Tree;
  configDir?: string;
}

function namedSection(layers: Tree[], section: string): string | undefined {
  let name: string | undefined;
  for (const layer of layers) {
    const s = layer[section];
    if (isTree(s) && typeof s.name === 'string') name = s.name;
  }
  return name;
}

const TOP_KEYS = ['data', 'model', 'trigger', 'poison', 'seed', 'backend', 'train', 'evaluation'];
/** Sections that must be mappings, each with an example key for the error message. */
const MAPPING_KEYS: Record<string, string> = { data: 'path', model: 'name', trigger: 'name', poison: 'rate', train: 'epochs', evaluation: 'threshold' };

/** Defaults < model and trigger files < --config file < overrides; then every value is validated. */
export function resolveRunConfig(inputs: ConfigInputs = {}): RunConfig {
  const configDir = inputs.configDir ?? CONFIG_DIR;
  const base = loadYamlFile(join(configDir, 'base.yaml'), 'base config');
  const user = inputs.configFile ? loadYamlFile(inputs.configFile, 'config file') : {};
  const overrides = inputs.overrides ?? {};
  for (const layer of [user, overrides]) {
    for (const [key, value] of Object.entries(layer)) {
      if (!TOP_KEYS.includes(key)) throw new UserError(`unknown config section "${key}"; valid: ${TOP_KEYS.join(', ')}`);
      // A scalar section (e.g. `trigger=rare_value`) would otherwise be dropped silently, leaving the default.
      if (Object.hasOwn(MAPPING_KEYS, key) && value !== null && !isTree(value)) {
        throw new UserError(`config section "${key}" must be a mapping of key: value, got ${JSON.stringify(value)}; set its keys, e.g. ${key}.${MAPPING_KEYS[key]}=…`);
      }
    }
  }
  const modelName = namedSection([base, user, overrides], 'model') ?? 'mlp';
  const triggerName = namedSection([base, user, overrides], 'trigger') ?? 'none';
  const modelSpec = getModel(modelName);
  getTrigger(triggerName);
  const modelFile = join(configDir, 'model', `${modelName}.yaml`);
  const modelDefaults = existsSync(modelFile) ? loadYamlFile(modelFile, 'model config') : {};
  const { train: modelTrain, ...modelParams } = modelDefaults;
  const triggerFile = join(configDir, 'trigger', `${triggerName}.yaml`);
  const triggerDefaults = existsSync(triggerFile) ? loadYamlFile(triggerFile, 'trigger config') : {};

  // Switching the model or trigger by name discards the other model's or trigger's parameters from lower layers.
  const sectionFor = (layer: Tree, section: string, name: string): Tree => {
    const s = layer[section];
    if (!isTree(s)) return {};
    return s.name === undefined || s.name === name ? s : {};
  };
  const merged = mergeConfig(
    { ...base, model: {}, trigger: {} },
    { model: { name: modelName, ...modelParams }, trigger: { name: triggerName, ...triggerDefaults }, train: isTree(modelTrain) ? modelTrain : {} },
    { ...user, model: sectionFor(user, 'model', modelName), trigger: sectionFor(user, 'trigger', triggerName) },
    { ...overrides, model: sectionFor(overrides, 'model', modelName), trigger: sectionFor(overrides, 'trigger', triggerName) },
  );
  return validateRunConfig(merged, modelSpec.resolveConfig.bind(modelSpec));
}

function validateRunConfig(tree: Tree, resolveModel: (raw: Tree) => object): RunConfig {
  const data = isTree(tree.data) ? tree.data : {};
  if (typeof data.path !== 'string' || data.path === '') throw new UserError('data.path must name a cohort Parquet file');
  if (typeof data.splits !== 'string' || data.splits === '') throw new UserError('data.splits must name a splits JSON file');
  const { name: modelName, ...modelRaw } = tree.model as Tree;
  const model = { name: modelName as string, ...resolveModel(modelRaw) };
  const poisonRaw = isTree(tree.poison) ? tree.poison : {};
  const rate = poisonRaw.rate;
  if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) throw new UserError(`poison rate must be a number in [0, 1), got ${JSON.stringify(rate)}`);
  const target = poisonRaw.target;
  if (target !== 0 && target !== 1) throw new UserError(`poison target must be 0 or 1, got ${JSON.stringify(target)}`);
  const mode = poisonRaw.mode;
  if (!POISON_MODES.includes(mode as PoisonMode)) throw unknownChoice('poison mode', String(mode), POISON_MODES);
  const seed = tree.seed;
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) throw new UserError(`seed must be an integer ≥ 0, got ${JSON.stringify(seed)}; the largest seed is ${Number.MAX_SAFE_INTEGER}`);
  const backend = tree.backend;
  if (!(BACKEND_CHOICES as readonly string[]).includes(backend as string)) throw unknownChoice('backend', String(backend), BACKEND_CHOICES);
  const trainRaw = isTree(tree.train) ? tree.train : {};
  for (const key of Object.keys(trainRaw)) if (!TRAIN_KEYS.includes(key as keyof TrainConfig)) throw new UserError(`unknown train setting "${key}"; valid: ${TRAIN_KEYS.join(', ')}`);
  const train: TrainConfig = {
    epochs: positiveInt('train.epochs', trainRaw.epochs),
    batch_size: positiveInt('train.batch_size', trainRaw.batch_size),
    learning_rate: positiveNumber('train.learning_rate', trainRaw.learning_rate),
    patience: nonNegativeInt('train.patience', trainRaw.patience),
    pos_weight: positiveNumber('train.pos_weight', trainRaw.pos_weight),
    checkpoints: trainRaw.checkpoints === undefined ? 'best_last' : oneOf('train.checkpoints', trainRaw.checkpoints, CHECKPOINT_POLICIES),
    select: trainRaw.select === undefined ? 'best' : oneOf('train.select', trainRaw.select, WEIGHT_SELECTIONS),
  };
  const evalRaw = isTree(tree.evaluation) ? tree.evaluation : {};
  const threshold = evalRaw.threshold ?? 0.5;
  if (!(threshold === 'max_f1' || threshold === 'youden' || (typeof threshold === 'number' && threshold > 0 && threshold < 1))) {
    throw new UserError(`evaluation.threshold must be a number in (0, 1), max_f1 or youden; got ${JSON.stringify(threshold)}`);
  }
  const cleanRaw = evalRaw.clean_run_triggers ?? 'all';
  const cleanRunTriggers = cleanRaw === 'all' ? triggerNames().filter((t) => t !== 'none') : cleanRaw;
  if (!Array.isArray(cleanRunTriggers)) throw new UserError(`evaluation.clean_run_triggers must be "all" or a list of trigger names`);
  for (const t of cleanRunTriggers) if (!triggerNames().includes(t)) throw unknownChoice('trigger', String(t), triggerNames());
  const triggerTree = tree.trigger as Tree;
  return {
    data: { path: data.path, splits: data.splits },
    model,
    trigger: triggerTree as RunConfig['trigger'],
    poison: { rate, target, mode: mode as PoisonMode },
    seed,
    backend: backend as BackendChoice,
    train,
    evaluation: { threshold: threshold as ThresholdRule, clean_run_triggers: cleanRunTriggers as string[] },
  };
}

/** Default trigger parameters from configs/trigger/<name>.yaml, for evaluating a trigger on a clean run. */
export function triggerDefaults(name: string, configDir = CONFIG_DIR): Tree {
  getTrigger(name);
  const file = join(configDir, 'trigger', `${name}.yaml`);
  return existsSync(file) ? loadYamlFile(file, 'trigger config') : {};
}

export function splitTriggerConfig(trigger: RunConfig['trigger']): { name: string; params: Tree } {
  const { name, ...params } = trigger;
  return { name, params };
}

export { modelNames, triggerNames };
