import { join } from 'node:path';
import { falseTriggerVariants, loadYamlFile, CONFIG_DIR, type RunConfig } from './config.js';
import { expandGrid, planRuns, runBatch, selectShard, type BatchOutcome, type PlannedRun, type Shard } from './batch.js';
import { modelNames } from '../models/registry.js';
import { triggerNames } from '../triggers/registry.js';
import { detectorNames } from '../detectors/registry.js';
import { runDirFor } from '../runs/layout.js';
import { writeRunsSummary } from '../runs/summary.js';
import { UserError, unknownChoice } from '../util/errors.js';
import type { ProgressReporter } from '../util/progress.js';
import type { DetectionStep } from './run-with-detection.js';

/** A benchmark grid, as declared in configs/benchmark/*.yaml. */
export interface SweepSpec {
  models: string[];
  triggers: string[];
  poison_rates: number[];
  seeds: number[];
  /** Also run the clean baselines (trigger none, rate 0) of every model and seed. */
  baseline: boolean;
  detectors: string[];
  /**
   * The detectors were chosen as `all`, not one by one: a method that does not apply to a run's model (fine_pruning
   * on the TabTransformer) is skipped on that run with its reason, where a method named explicitly is refused.
   */
  all_detectors?: boolean;
  defend: boolean;
  /** Run-config overrides applied to every run (data, train, evaluation, ...). */
  overrides: Record<string, unknown>;
  /** Overrides for the runs of one model, over `overrides` (e.g. { tcn: { train: { epochs: 8 } } }). */
  per_model: Record<string, Record<string, unknown>>;
  /** Detectors run on one model's runs in addition to `detectors` (e.g. { mlp: [saliency] }). */
  extra_detectors: Record<string, string[]>;
}

const SPEC_KEYS = ['models', 'triggers', 'poison_rates', 'seeds', 'baseline', 'detectors', 'defend', 'overrides', 'per_model', 'extra_detectors', 'variant'];

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function list<T>(file: string, key: string, value: unknown, check: (x: unknown) => x is T): T[] {
  if (!Array.isArray(value) || !value.every(check)) throw new UserError(`${file}: ${key} must be a list`);
  return value;
}

export function profilePath(profile: string): string {
  return join(CONFIG_DIR, 'benchmark', `${profile}.yaml`);
}

/** Reads and validates a grid file; `all` for models/triggers/detectors means every registered one. */
export function loadSweepSpec(file: string): SweepSpec {
  const raw = loadYamlFile(file, 'benchmark grid');
  for (const key of Object.keys(raw)) if (!SPEC_KEYS.includes(key)) throw new UserError(`${file}: unknown key "${key}"; valid: ${SPEC_KEYS.join(', ')}`);
  const isString = (x: unknown): x is string => typeof x === 'string';
  const isNumber = (x: unknown): x is number => typeof x === 'number';
  const names = (key: string, all: string[]) => (raw[key] === 'all' ? all : list(file, key, raw[key] ?? [], isString));
  return {
    models: names('models', modelNames()),
    triggers: names('triggers', triggerNames().filter((t) => t !== 'none')),
    poison_rates: list(file, 'poison_rates', raw.poison_rates ?? [], isNumber),
    seeds: list(file, 'seeds', raw.seeds ?? [0], isNumber),
    baseline: (raw.baseline ?? true) as boolean,
    detectors: names('detectors', detectorNames()),
    ...(raw.detectors === 'all' ? { all_detectors: true } : {}),
    defend: (raw.defend ?? false) as boolean,
    overrides: withVariant(file, (raw.overrides as Record<string, unknown>) ?? {}, raw.variant),
    per_model: perModel(file, raw.per_model),
    extra_detectors: extraDetectors(file, raw.extra_detectors),
  };
}

/** A grid's `variant: NAME` applies to every run of the grid, as the override variant=NAME. */
function withVariant(file: string, overrides: Record<string, unknown>, variant: unknown): Record<string, unknown> {
  if (variant === undefined || variant === null) return overrides;
  if (!isMapping(overrides)) return overrides;
  if (Object.hasOwn(overrides, 'variant') && overrides.variant !== variant) {
    throw new UserError(`${file}: variant ${JSON.stringify(variant)} conflicts with overrides.variant ${JSON.stringify(overrides.variant)}; give one of them`);
  }
  return { ...overrides, variant };
}

function extraDetectors(file: string, value: unknown): SweepSpec['extra_detectors'] {
  if (value === undefined || value === null) return {};
  if (!isMapping(value)) throw new UserError(`${file}: extra_detectors must map model names to lists of detectors`);
  for (const [model, list] of Object.entries(value)) {
    if (!modelNames().includes(model)) throw unknownChoice(`model in ${file} extra_detectors`, model, modelNames());
    if (!Array.isArray(list) || !list.every((d) => typeof d === 'string')) throw new UserError(`${file}: extra_detectors.${model} must be a list of detector names`);
  }
  return value as SweepSpec['extra_detectors'];
}

/** The detectors of one run: the grid's, plus its model's extra ones. */
export function detectorsFor(spec: SweepSpec, model: string): string[] {
  return [...new Set([...spec.detectors, ...(spec.extra_detectors[model] ?? [])])];
}

function perModel(file: string, value: unknown): SweepSpec['per_model'] {
  if (value === undefined || value === null) return {};
  if (!isMapping(value)) throw new UserError(`${file}: per_model must map model names to run-config overrides`);
  for (const [model, overrides] of Object.entries(value)) {
    if (!modelNames().includes(model)) throw unknownChoice(`model in ${file} per_model`, model, modelNames());
    if (!isMapping(overrides)) throw new UserError(`${file}: per_model.${model} must be a mapping of run-config overrides`);
  }
  return value as SweepSpec['per_model'];
}

function validateSpec(spec: SweepSpec): void {
  for (const m of spec.models) if (!modelNames().includes(m)) throw unknownChoice('model', m, modelNames());
  for (const t of spec.triggers) if (!triggerNames().includes(t)) throw unknownChoice('trigger', t, triggerNames());
  for (const d of [...spec.detectors, ...Object.values(spec.extra_detectors).flat()]) if (!detectorNames().includes(d)) throw unknownChoice('detector', d, detectorNames());
  for (const r of spec.poison_rates) if (!(r >= 0 && r < 1)) throw new UserError(`poison rate must be in [0, 1), got ${r}`);
  for (const key of ['baseline', 'defend'] as const) if (typeof spec[key] !== 'boolean') throw new UserError(`${key} must be true or false, got ${JSON.stringify(spec[key])}`);
  for (const s of spec.seeds) if (!Number.isSafeInteger(s) || s < 0) throw new UserError(`seeds must be integers ≥ 0 (at most ${Number.MAX_SAFE_INTEGER}), got ${s}`);
  if (spec.defend && spec.detectors.length === 0) throw new UserError('--defend needs at least one detector (--detectors)');
}

/** Every run of the sweep in a fixed order: the clean baselines first, then the poisoned grid. */
export function sweepConfigs(spec: SweepSpec, configFile?: string): RunConfig[] {
  validateSpec(spec);
  const base = spec.baseline ? expandGrid({ models: spec.models, triggers: ['none'], rates: [0], seeds: spec.seeds, configFile, overrides: spec.overrides, perModel: spec.per_model }) : [];
  const grid = expandGrid({ models: spec.models, triggers: spec.triggers, rates: spec.poison_rates, seeds: spec.seeds, configFile, overrides: spec.overrides, perModel: spec.per_model });
  return [...base.map((clean) => withGridTriggerVariants(clean, grid)), ...grid];
}

/**
 * A clean baseline also evaluates every trigger variant (non-default parameters) that the grid's poisoned runs of its
 * model use, so each poisoned run's net ASR subtracts a false-trigger rate measured with its own trigger parameters.
 * With default parameters only, the config is unchanged.
 */
function withGridTriggerVariants(clean: RunConfig, grid: readonly RunConfig[]): RunConfig {
  const have = new Set(falseTriggerVariants(clean).map((v) => v.key));
  const extra: RunConfig['evaluation']['clean_run_triggers'] = [];
  for (const poisoned of grid) {
    if (poisoned.model.name !== clean.model.name || poisoned.trigger.name === 'none') continue;
    const [variant] = falseTriggerVariants({ evaluation: { threshold: clean.evaluation.threshold, clean_run_triggers: [poisoned.trigger] } });
    if (variant && variant.key !== variant.name && !have.has(variant.key)) {
      have.add(variant.key);
      extra.push({ ...poisoned.trigger });
    }
  }
  return extra.length === 0 ? clean : { ...clean, evaluation: { ...clean.evaluation, clean_run_triggers: [...clean.evaluation.clean_run_triggers, ...extra] } };
}

export interface SweepOptions {
  runsDir: string;
  jobs: number;
  shard?: Shard;
  force?: boolean;
  progress: ProgressReporter;
  configFile?: string;
}

export interface SweepOutcome extends BatchOutcome {
  planned: number;
  summaryPath: string;
  /** The run folders of this grid (or shard), in grid order. */
  runDirs: string[];
}

/** The detection step of one run of the grid, if it has detectors. */
export function detectionStep(spec: SweepSpec, config: RunConfig): DetectionStep | undefined {
  const detectors = detectorsFor(spec, config.model.name);
  return detectors.length > 0 ? { detectors, defend: spec.defend, ...(spec.all_detectors ? { implicit: true } : {}) } : undefined;
}

export async function dryRun(spec: SweepSpec, options: Omit<SweepOptions, 'progress' | 'jobs'>): Promise<PlannedRun[]> {
  const configs = selectShard(sweepConfigs(spec, options.configFile), options.shard);
  return planRuns(configs, options.runsDir, options.force, (config) => detectionStep(spec, config));
}

export async function runSweep(spec: SweepSpec, options: SweepOptions): Promise<SweepOutcome> {
  const configs = selectShard(sweepConfigs(spec, options.configFile), options.shard);
  const detection = (config: RunConfig) => detectionStep(spec, config);
  const outcome = await runBatch(configs, { runsDir: options.runsDir, force: options.force, progress: options.progress, jobs: options.jobs, detection });
  const summaryPath = await writeRunsSummary(options.runsDir);
  return { ...outcome, planned: configs.length, summaryPath, runDirs: configs.map((config) => runDirFor(options.runsDir, config)) };
}
