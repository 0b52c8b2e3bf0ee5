import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { getModel, modelNames } from '../models/registry.js';
import { getTrigger, triggerNames } from '../triggers/registry.js';
import { POISON_MODES, type PoisonMode } from '../triggers/poison.js';
import { resolveLabelConsistent, type LabelConsistentParams } from '../triggers/label-consistent.js';
import { TRAIN_KEYS, WEIGHT_SELECTIONS, type TrainConfig } from '../train/trainer.js';
import { UserError, unknownChoice } from '../util/errors.js';
import { checkValue, defaultsOf, describeValue, validateParams, type ScalarSpec } from '../util/plugin.js';
import { CHECKPOINT_POLICIES } from '../train/checkpoint.js';
import { PACKAGE_ROOT, CONFIG_DIR, mergeConfig, loadYamlFile, parseYaml, refuseKey, isTree, type Tree } from '../util/config-files.js';
import { checkCleanRunTriggers, type CleanRunTrigger } from './false-trigger.js';
import { BACKEND_CHOICES, type BackendChoice } from '../engine/backend.js';
import type { ThresholdRule } from '../metrics/classification.js';

/** A fully resolved run configuration: every value explicit, as written to the run folder's config.yaml. */
export interface RunConfig {
  data: { path: string; splits: string };
  model: { name: string } & Record<string, unknown>;
  trigger: { name: string } & Record<string, unknown>;
  /** `label_consistent` is present only in that mode, so other runs' configs are as before. */
  poison: { rate: number; target: 0 | 1; mode: PoisonMode; label_consistent?: LabelConsistentParams };
  seed: number;
  backend: BackendChoice;
  train: TrainConfig;
  evaluation: { threshold: ThresholdRule; clean_run_triggers: CleanRunTrigger[] };
  /**
   * A name that tells this config apart from others of the same model, trigger, rate and seed (e.g. a rare_value on
   * potassium beside one on glucose): part of the run folder's path and identity. Absent in most runs, whose
   * folders and run ids are as before variants existed.
   */
  variant?: string;
}

export { falseTriggerName, falseTriggerVariants, type CleanRunTrigger } from './false-trigger.js';

export { PACKAGE_ROOT, CONFIG_DIR, mergeConfig, loadYamlFile };

/** `train.epochs=5` → { train: { epochs: 5 } }; values are parsed as YAML, so lists and numbers work. */
export function parseOverrides(pairs: string[]): Tree {
  const out: Tree = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UserError(`override "${pair}" must look like key=value, e.g. train.epochs=5 or model.hidden_units=[64,32]`);
    const path = pair.slice(0, eq).split('.');
    const where = `override "${pair.slice(0, eq)}=…"`;
    path.forEach((key, i) => {
      if (key === '') throw new UserError(`${where} has an empty key; write dotted keys such as train.epochs=5`);
      refuseKey(key, path.slice(0, i).join('.'), where);
    });
    let value: unknown;
    try {
      value = parseYaml(pair.slice(eq + 1), where, path.join('.'));
    } catch (err) {
      if (err instanceof UserError) throw err;
      value = pair.slice(eq + 1);
    }
    let node = out;
    path.forEach((key, i) => {
      const child = Object.hasOwn(node, key) ? node[key] : undefined;
      if (i === path.length - 1) node[key] = value;
      else node = (isTree(child) ? child : (node[key] = {})) as Tree;
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
    if (isTree(s) && Object.hasOwn(s, 'name') && typeof s.name === 'string') name = s.name;
  }
  return name;
}

const TOP_KEYS = ['data', 'model', 'trigger', 'poison', 'seed', 'backend', 'train', 'evaluation', 'variant'];

/** A variant name is one path component: letters, digits, '_' and '-', starting with a letter or digit. */
const VARIANT_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/;

export function checkVariant(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !VARIANT_NAME.test(value)) {
    throw new UserError(`variant must be a name of 1 to 40 letters, digits, '_' or '-' (starting with a letter or digit), got ${describeValue(value)}`);
  }
  return value;
}
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
      refuseKey(key, '', 'the config');
      if (!TOP_KEYS.includes(key)) throw new UserError(`unknown config section "${key}"; valid: ${TOP_KEYS.join(', ')}`);
      // A scalar section (e.g. `trigger=rare_value`) would otherwise be dropped silently, leaving the default.
      if (Object.hasOwn(MAPPING_KEYS, key) && value !== null && !isTree(value)) {
        throw new UserError(`config section "${key}" must be a mapping of key: value, got ${describeValue(value)}; set its keys, e.g. ${key}.${MAPPING_KEYS[key]}=…`);
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
  const triggerParams = triggerDefaults(triggerName);

  // Switching the model or trigger by name discards the other model's or trigger's parameters from lower layers.
  const sectionFor = (layer: Tree, section: string, name: string): Tree => {
    const s = Object.hasOwn(layer, section) ? layer[section] : undefined;
    if (!isTree(s)) return {};
    return !Object.hasOwn(s, 'name') || s.name === name ? s : {};
  };
  const merged = mergeConfig(
    { ...base, model: {}, trigger: {} },
    { model: { name: modelName, ...modelParams }, trigger: { name: triggerName, ...triggerParams }, train: isTree(modelTrain) ? modelTrain : {} },
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
  if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) throw new UserError(`poison rate must be a number in [0, 1), got ${describeValue(rate)}`);
  const target = poisonRaw.target;
  if (target !== 0 && target !== 1) throw new UserError(`poison target must be 0 or 1, got ${describeValue(target)}`);
  const mode = poisonRaw.mode;
  if (!POISON_MODES.includes(mode as PoisonMode)) throw unknownChoice('poison mode', String(mode), POISON_MODES);
  if (poisonRaw.label_consistent !== undefined && mode !== 'label_consistent') throw new UserError(`poison.label_consistent is only used with poison mode label_consistent (mode is "${String(mode)}")`);
  const seed = tree.seed;
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) throw new UserError(`seed must be an integer ≥ 0, got ${describeValue(seed)}; valid: 0..${Number.MAX_SAFE_INTEGER}`);
  const backend = tree.backend;
  if (!(BACKEND_CHOICES as readonly string[]).includes(backend as string)) throw unknownChoice('backend', String(backend), BACKEND_CHOICES);
  const trainRaw = isTree(tree.train) ? tree.train : {};
  for (const key of Object.keys(trainRaw)) if (!TRAIN_KEYS.includes(key as keyof TrainConfig)) throw new UserError(`unknown train setting "${key}"; valid: ${TRAIN_KEYS.join(', ')}`);
  const need = <T>(key: keyof TrainConfig, spec: ScalarSpec, fallback?: T): T =>
    (trainRaw[key] === undefined && fallback !== undefined ? fallback : checkValue(`train.${key}`, { ...spec, description: key, default: null }, trainRaw[key])) as T;
  const train: TrainConfig = {
    epochs: need('epochs', { type: 'integer', min: 1 }),
    batch_size: need('batch_size', { type: 'integer', min: 1 }),
    learning_rate: need('learning_rate', { type: 'number', min: 0, minOpen: true }),
    patience: need('patience', { type: 'integer', min: 0 }),
    pos_weight: need('pos_weight', { type: 'number', min: 0, minOpen: true }),
    checkpoints: need('checkpoints', { type: 'string', choices: CHECKPOINT_POLICIES }, 'best_last'),
    select: need('select', { type: 'string', choices: WEIGHT_SELECTIONS }, 'best'),
  };
  const evalRaw = isTree(tree.evaluation) ? tree.evaluation : {};
  const threshold = evalRaw.threshold ?? 0.5;
  if (!(threshold === 'max_f1' || threshold === 'youden' || (typeof threshold === 'number' && threshold > 0 && threshold < 1))) {
    throw new UserError(`evaluation.threshold must be a number in (0, 1), max_f1 or youden; got ${describeValue(threshold)}`);
  }
  const cleanRunTriggers = checkCleanRunTriggers(evalRaw.clean_run_triggers ?? 'all');
  const variant = checkVariant(tree.variant);
  const triggerTree = tree.trigger as Tree;
  const { name: triggerName, ...triggerParams } = triggerTree;
  validateParams(String(triggerName), getTrigger(String(triggerName)).params, triggerParams);
  if (triggerName === 'none' && rate > 0) {
    throw new UserError(`trigger none with poison rate ${rate} would relabel rows without a trigger, which is neither a backdoor nor a clean run; use a trigger, or poison rate 0 for a clean run`);
  }
  return {
    data: { path: data.path, splits: data.splits },
    model,
    trigger: triggerTree as RunConfig['trigger'],
    poison: mode === 'label_consistent' ? { rate, target, mode, label_consistent: resolveLabelConsistent(poisonRaw.label_consistent) } : { rate, target, mode: mode as PoisonMode },
    seed,
    backend: backend as BackendChoice,
    train,
    evaluation: { threshold: threshold as ThresholdRule, clean_run_triggers: cleanRunTriggers },
    ...(variant === undefined ? {} : { variant }),
  };
}

/** A trigger's default parameters (its schema's), e.g. for evaluating a trigger on a clean run. */
export function triggerDefaults(name: string): Tree {
  return defaultsOf(getTrigger(name).params);
}

export function splitTriggerConfig(trigger: RunConfig['trigger']): { name: string; params: Tree } {
  const { name, ...params } = trigger;
  return { name, params };
}

export { modelNames, triggerNames };
