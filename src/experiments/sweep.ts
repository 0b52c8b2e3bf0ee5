import { falseTriggerVariants, type RunConfig } from './config.js';
import { expandGrid, planRuns, runBatch, selectShard, type BatchOutcome, type PlannedRun, type Shard } from './batch.js';
import { detectorsFor, gridParts, validateSpec, type SweepSpec } from './grid-spec.js';
import { runDirFor } from '../runs/layout.js';
import { writeRunsSummary } from '../runs/summary.js';
import type { ProgressReporter } from '../util/progress.js';
import type { DetectionStep } from './run-with-detection.js';

export { DEFAULT_MODES, DEFAULT_TARGETS, POISON_TARGETS, detectorsFor, foldAttackOverrides, gridParts, loadSweepSpec, profilePath, type SubGrid, type SweepSpec } from './grid-spec.js';

/**
 * Every run of the sweep in a fixed order: the clean baselines (target 1, dirty: mode and target do not change a clean
 * run) of every model and seed of any part, each measuring its false-trigger rates for every target of the grid, then
 * the poisoned runs of the top level and of each `also:` sub-grid, each run once (parts may overlap; a run is known by
 * its run folder).
 */
export function sweepConfigs(spec: SweepSpec, configFile?: string): RunConfig[] {
  validateSpec(spec);
  const common = { configFile, overrides: spec.overrides, perModel: spec.per_model };
  const parts = gridParts(spec);
  const seen = new Set<string>();
  const once = (configs: RunConfig[]) =>
    configs.filter((config) => {
      const dir = runDirFor('', config);
      if (seen.has(dir)) return false;
      seen.add(dir);
      return true;
    });
  const base = spec.baseline
    ? once(parts.flatMap((p) => expandGrid({ ...common, models: p.models, triggers: ['none'], rates: [0], seeds: p.seeds, targets: [1], modes: ['dirty'] })))
    : [];
  const grid = once(parts.flatMap((p) => expandGrid({ ...common, models: p.models, triggers: p.triggers, rates: p.poison_rates, seeds: p.seeds, targets: p.targets, modes: p.modes })));
  const targets = [...new Set(parts.flatMap((p) => p.targets))];
  return [...base.map((clean) => withGridTriggerVariants(withTargets(clean, targets), grid)), ...grid];
}

/** A clean baseline measures each of its false-trigger triggers for every target of the grid, not only its own. */
function withTargets(clean: RunConfig, targets: readonly (0 | 1)[]): RunConfig {
  const own = clean.evaluation.clean_run_triggers.filter((entry) => typeof entry === 'string' || Object.hasOwn(entry, 'name')) as (string | ({ name: string } & Record<string, unknown>))[];
  const extra = targets.filter((t) => t !== clean.poison.target).flatMap((target) => own.map((trigger) => ({ target, trigger })));
  return extra.length === 0 ? clean : { ...clean, evaluation: { ...clean.evaluation, clean_run_triggers: [...clean.evaluation.clean_run_triggers, ...extra] } };
}

/**
 * A clean baseline also evaluates every trigger variant (non-default parameters) and every target other than its own
 * that the grid's poisoned runs of its model use, so each poisoned run's net ASR subtracts a false-trigger rate
 * measured with its own trigger parameters and in its own direction. With default parameters and target 1 only, the
 * config is unchanged.
 */
function withGridTriggerVariants(clean: RunConfig, grid: readonly RunConfig[]): RunConfig {
  const have = new Set(falseTriggerVariants(clean).map((v) => v.key));
  const extra: RunConfig['evaluation']['clean_run_triggers'] = [];
  for (const poisoned of grid) {
    if (poisoned.model.name !== clean.model.name || poisoned.trigger.name === 'none') continue;
    const target = poisoned.poison.target;
    const entry = target === clean.poison.target ? { ...poisoned.trigger } : { target, trigger: { ...poisoned.trigger } };
    const [variant] = falseTriggerVariants({ poison: clean.poison, evaluation: { clean_run_triggers: [entry] } });
    if (variant && variant.key !== variant.name && !have.has(variant.key)) {
      have.add(variant.key);
      extra.push(entry);
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
