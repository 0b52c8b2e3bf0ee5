import { Command, Option } from 'commander';
import { addRunOptions, flagOverrides, parseIntArg, parseList, parseNumberArg, parseNumberList, type RunFlags } from './common.js';
import { addSetupOptions, printSetup, runSetup, type SetupFlags } from './setup.js';
import { parseOverrides } from '../experiments/config.js';
import { resolveResume } from '../experiments/resume.js';
import { expandGrid, runBatch, withKey, type BatchOutcome, type GridSpec } from '../experiments/batch.js';
import { modelNames } from '../models/registry.js';
import { triggerNames } from '../triggers/registry.js';
import { createProgress } from '../util/progress.js';
import { UserError } from '../util/errors.js';

export const DEFAULT_SEEDS = [0, 1, 2];
export const DEFAULT_RATES = [0.005, 0.01, 0.05, 0.1];

function attackTriggers(): string[] {
  return triggerNames().filter((t) => t !== 'none');
}

function report(outcome: BatchOutcome, json: boolean): void {
  if (json) {
    const rows = outcome.results.map((r) => ({ status: r.status, dir: r.dir, run_id: r.runId, seconds: r.seconds, metrics: r.metrics }));
    process.stdout.write(JSON.stringify({ runs: rows, failures: outcome.failures }, null, 2) + '\n');
  }
  if (outcome.failures.length > 0) {
    for (const f of outcome.failures) process.stderr.write(`failed: ${f.dir}: ${f.error.split('\n')[0]}\n`);
    process.exitCode = 1;
  }
}

async function runGrid(grid: GridSpec, flags: RunFlags): Promise<BatchOutcome> {
  const configs = expandGrid(grid);
  const progress = createProgress({ quiet: false, verbose: flags.verbose });
  return runBatch(configs, { runsDir: flags.runsDir, force: flags.force, progress });
}

function gridOverrides(flags: RunFlags, pairs: string[]) {
  return flagOverrides(flags, parseOverrides(pairs));
}

function checkRates(rates: number[]): number[] {
  for (const r of rates) if (!(r >= 0 && r < 1)) throw new UserError(`poison rate must be in [0, 1), got ${r}`);
  return rates;
}

type BaselineFlags = RunFlags & { models: string[]; seeds: number[] };
type ExperimentFlags = BaselineFlags & { triggers: string[]; poisonRates: number[] };

async function baseline(flags: BaselineFlags, pairs: string[]): Promise<BatchOutcome> {
  return runGrid({ models: flags.models, triggers: ['none'], rates: [0], seeds: flags.seeds, configFile: flags.config, overrides: gridOverrides(flags, pairs) }, flags);
}

async function experiments(flags: ExperimentFlags, pairs: string[]): Promise<BatchOutcome> {
  return runGrid(
    { models: flags.models, triggers: flags.triggers, rates: checkRates(flags.poisonRates), seeds: flags.seeds, configFile: flags.config, overrides: gridOverrides(flags, pairs) },
    flags,
  );
}

function listOption(flags: string, description: string, parse: (value: string) => unknown, defaults: (string | number)[]): Option {
  return new Option(flags, description).argParser(parse).default(defaults, defaults.join(','));
}

function addGridOptions(cmd: Command): Command {
  return cmd
    .addOption(listOption('--models <list>', `models, comma-separated (valid: ${modelNames().join(', ')})`, parseList, ['mlp']))
    .addOption(listOption('--seeds <list>', 'seeds, comma-separated', parseNumberList('--seeds'), DEFAULT_SEEDS));
}

function addAttackOptions(cmd: Command): Command {
  return cmd
    .addOption(listOption('--triggers <list>', `triggers, comma-separated (valid: ${triggerNames().join(', ')})`, parseList, attackTriggers()))
    .addOption(listOption('--poison-rates <list>', 'poison rates, comma-separated, each in [0, 1)', parseNumberList('--poison-rates'), DEFAULT_RATES));
}

export function registerRunCommands(program: Command): void {
  addRunOptions(
    program
      .command('train')
      .description('Train and evaluate one run and write its run folder runs/{model}/{trigger}/{rate}/seed_{seed}/')
      .option('--model <name>', `model (valid: ${modelNames().join(', ')}; default: model.name, mlp)`)
      .option('--trigger <name>', `trigger (valid: ${triggerNames().join(', ')}; default: trigger.name, none)`)
      .option('--poison-rate <rate>', 'share of training rows poisoned, in [0, 1) (default: poison.rate, 0)', parseNumberArg('--poison-rate'))
      .option('--seed <n>', 'run seed (default: seed, 0)', parseIntArg('--seed'))
      .option('--resume <path>', 'continue an interrupted run exactly: a checkpoint folder or a run folder (its latest checkpoint); other flags are ignored'),
  ).action(async (pairs: string[], flags: RunFlags & { model?: string; trigger?: string; poisonRate?: number; seed?: number; resume?: string }) => {
    const progress = createProgress({ verbose: flags.verbose });
    if (flags.resume) {
      const target = await resolveResume(flags.resume);
      const outcome = await runBatch([target.config], { runsDir: target.runsDir, progress, resumeFrom: target.checkpoint });
      report(outcome, flags.json);
      return;
    }
    const overrides: Record<string, any> = gridOverrides(flags, pairs);
    if (flags.model) overrides.model = withKey(overrides.model, 'model', 'name', flags.model);
    if (flags.trigger) overrides.trigger = withKey(overrides.trigger, 'trigger', 'name', flags.trigger);
    if (flags.poisonRate !== undefined) overrides.poison = withKey(overrides.poison, 'poison', 'rate', flags.poisonRate);
    if (flags.seed !== undefined) overrides.seed = flags.seed;
    const { resolveRunConfig } = await import('../experiments/config.js');
    const config = resolveRunConfig({ configFile: flags.config, overrides });
    const outcome = await runBatch([config], { runsDir: flags.runsDir, force: flags.force, progress });
    report(outcome, flags.json);
  });

  addRunOptions(addGridOptions(program.command('baseline').description('Clean runs (trigger none, rate 0) for each model and seed; each also measures every trigger\'s false-trigger rate on the clean model'))).action(
    async (pairs: string[], flags: BaselineFlags) => report(await baseline(flags, pairs), flags.json),
  );

  addRunOptions(
    addAttackOptions(addGridOptions(program.command('experiments').description('Poisoned runs for every model × trigger × poison rate × seed'))),
  ).action(async (pairs: string[], flags: ExperimentFlags) => report(await experiments(flags, pairs), flags.json));

  addRunOptions(
    addSetupOptions(
      addAttackOptions(addGridOptions(program.command('all').description('The whole pipeline on the embedded cohort: setup → baseline → experiments'))),
      false,
    ),
  ).action(async (pairs: string[], flags: ExperimentFlags & SetupFlags) => {
    const setup = await runSetup({ ...flags, backend: flags.backend ?? 'auto', force: false });
    if (!flags.json) printSetup(setup, (s) => process.stderr.write(s));
    const base = await baseline(flags, pairs);
    const poisoned = await experiments(flags, pairs);
    report({ results: [...base.results, ...poisoned.results], failures: [...base.failures, ...poisoned.failures] }, flags.json);
  });
}
