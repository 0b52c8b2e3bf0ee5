import { Command, Option } from 'commander';
import { addRunOptions, flagOverrides, parseChoiceList, parseIntArg, parseList, parseNumberArg, parseNumberList, type RunFlags } from './common.js';
import { addSetupOptions, printSetup, type SetupFlags } from './setup.js';
import { parseOverrides, resolveRunConfig } from '../experiments/config.js';
import { resolveResume } from '../experiments/resume.js';
import { runBatch, withKey, parseShard, defaultJobs, type BatchOutcome, type Shard } from '../experiments/batch.js';
import { DEFAULT_MODES, DEFAULT_TARGETS, POISON_TARGETS, dryRun, loadSweepSpec, profilePath, runSweep, type SweepOutcome, type SweepSpec } from '../experiments/sweep.js';
import { POISON_MODES, type PoisonMode } from '../triggers/poison.js';
import { modelNames } from '../models/registry.js';
import { triggerNames } from '../triggers/registry.js';
import { detectorNames } from '../detectors/registry.js';
import { createProgress } from '../util/progress.js';
import { UserError } from '../util/errors.js';
import { applyGridChoices, runAll } from '../pipeline/index.js';
import { launchFromCli, type LauncherFlags } from './launch.js';

const DEFAULT_SEEDS = [0, 1, 2];
const DEFAULT_RATES = [0.005, 0.01, 0.05, 0.1];

function attackTriggers(): string[] {
  return triggerNames().filter((t) => t !== 'none');
}

/** Prints JSON results if asked; failures set the exit code (2 when every failure was bad input, else 1). */
function report(outcome: BatchOutcome & { summaryPath?: string }, json: boolean): void {
  if (json) {
    const rows = outcome.results.map((r) => ({ status: r.status, dir: r.dir, run_id: r.runId, seconds: r.seconds, metrics: r.metrics }));
    process.stdout.write(JSON.stringify({ runs: rows, failures: outcome.failures, summary: outcome.summaryPath ?? null }, null, 2) + '\n');
  } else if (outcome.summaryPath) {
    process.stderr.write(`summary: ${outcome.summaryPath}\n`);
  }
  if (outcome.failures.length > 0) {
    process.stderr.write(`${outcome.failures.length} run(s) failed (details in .seed_N.failed.json beside each run folder):\n`);
    for (const f of outcome.failures) process.stderr.write(`  ${f.dir}: ${f.error.split('\n')[0]}\n`);
    process.exitCode = outcome.failures.every((f) => f.userError) ? 2 : 1;
  }
}

function listOption(flags: string, description: string, parse: (value: string) => unknown, defaults?: (string | number)[]): Option {
  const option = new Option(flags, description).argParser(parse);
  return defaults ? option.default(defaults, defaults.join(',')) : option;
}

interface SweepFlags extends RunFlags {
  models?: string[];
  seeds?: number[];
  triggers?: string[];
  poisonRates?: number[];
  targets?: (0 | 1)[];
  modes?: PoisonMode[];
  detectors?: string[];
  defend?: boolean;
  jobs: number;
  shard?: Shard;
  dryRun: boolean;
}

function addSweepOptions(cmd: Command, withDefaults: boolean): Command {
  const d = <T>(x: T) => (withDefaults ? x : undefined);
  return cmd
    .addOption(listOption('--models <list>', `models, comma-separated (valid: ${modelNames().join(', ')})`, parseList, d(['mlp'])))
    .addOption(listOption('--seeds <list>', 'seeds, comma-separated', parseNumberList('--seeds'), d(DEFAULT_SEEDS)))
    .addOption(listOption('--detectors <list>', `detectors run on each finished run, comma-separated, or all (valid: ${detectorNames().join(', ')}); with all, a method that does not apply to a run's model is skipped there with its reason`, parseList, d([])))
    .option('--defend', 'retrain without the rows each detector flags and record ASR and AUROC after the defence')
    .addOption(new Option('--jobs <n>', 'parallel worker processes (one TF.js engine each)').argParser(parseIntArg('--jobs', { min: 1 })).default(defaultJobs(), `${defaultJobs()}, the number of cores`))
    .addOption(new Option('--shard <i/n>', 'run only shard i of n of the grid (for job arrays sharing one runs folder)').argParser(parseShard))
    .option('--dry-run', 'list the runs and whether each is complete, resumable or to do; train nothing', false);
}

function addAttackOptions(cmd: Command, withDefaults: boolean): Command {
  const d = <T>(x: T) => (withDefaults ? x : undefined);
  // No commander default for targets and modes: `--target 0` and `--mode clean` also set them, as the list of one.
  const fallback = (list: readonly (string | number)[]) => (withDefaults ? list.join(',') : `the grid's, ${list.join(',')} unless it sets them`);
  return cmd
    .addOption(listOption('--triggers <list>', `triggers, comma-separated (valid: ${triggerNames().join(', ')})`, parseList, d(attackTriggers())))
    .addOption(listOption('--poison-rates <list>', 'poison rates, comma-separated, each in [0, 1)', parseNumberList('--poison-rates'), d(DEFAULT_RATES)))
    .addOption(
      listOption(
        '--targets <list>',
        `attack targets, comma-separated: 1 = make a stay look like a death, 0 = hide a death (valid: ${POISON_TARGETS.join(', ')}; default: ${fallback(DEFAULT_TARGETS)}; replaces the grid's; also: sub-grids keep only the values given)`,
        parseChoiceList('--targets', POISON_TARGETS),
      ),
    )
    .addOption(
      listOption(
        '--modes <list>',
        `poisoning modes, comma-separated (valid: ${POISON_MODES.join(', ')}; default: ${fallback(DEFAULT_MODES)}; replaces the grid's; also: sub-grids keep only the values given)`,
        parseChoiceList('--modes', POISON_MODES),
      ),
    );
}

/** Flags over a grid spec: lists replace, overrides merge. */
function applyFlags(spec: SweepSpec, flags: SweepFlags, pairs: string[]): SweepSpec {
  return applyGridChoices(spec, flags, flagOverrides(flags, parseOverrides(pairs)));
}

/** Runs (or with --dry-run lists) the grid; the outcome of the runs, or null for a dry run. */
async function sweep(spec: SweepSpec, flags: SweepFlags): Promise<SweepOutcome | null> {
  if (flags.dryRun) {
    const plans = await dryRun(spec, { runsDir: flags.runsDir, shard: flags.shard, force: flags.force, configFile: flags.config });
    if (flags.json) {
      process.stdout.write(JSON.stringify(plans.map((p) => ({ dir: p.dir, run_id: p.runId, status: p.status })), null, 2) + '\n');
      return null;
    }
    for (const p of plans) process.stdout.write(`${p.status.padEnd(9)} ${p.dir}  (${p.runId})\n`);
    const count = (s: string) => plans.filter((p) => p.status === s).length;
    process.stdout.write(`${plans.length} runs: ${count('complete')} complete (cached), ${count('detection')} with detection to finish, ${count('resumable')} resumable, ${count('todo')} to do, ${count('conflict')} conflicting\n`);
    return null;
  }
  const progress = createProgress({ verbose: flags.verbose });
  const outcome = await runSweep(spec, { runsDir: flags.runsDir, jobs: flags.jobs, shard: flags.shard, force: flags.force, progress, configFile: flags.config });
  report(outcome, flags.json);
  return outcome;
}

export function registerRunCommands(program: Command): void {
  addRunOptions(
    program
      .command('train')
      .description('Train and evaluate one run and write its run folder runs/{model}/{trigger}/{rate}/seed_{seed}/ (the trigger folder rare_value-target0, rare_value-clean, … for another target or mode)')
      .option('--model <name>', `model (valid: ${modelNames().join(', ')}; default: model.name, mlp)`)
      .option('--trigger <name>', `trigger (valid: ${triggerNames().join(', ')}; default: trigger.name, none)`)
      .option('--poison-rate <rate>', 'share of training rows poisoned, in [0, 1) (default: poison.rate, 0)', parseNumberArg('--poison-rate'))
      .option('--seed <n>', 'run seed (default: seed, 0)', parseIntArg('--seed'))
      .option('--resume <path>', 'continue an interrupted run exactly: a checkpoint folder or a run folder (its latest checkpoint); other flags are ignored'),
  ).action(async (pairs: string[], flags: RunFlags & { model?: string; trigger?: string; poisonRate?: number; seed?: number; resume?: string }) => {
    const progress = createProgress({ verbose: flags.verbose });
    if (flags.resume) {
      const target = await resolveResume(flags.resume, flags.runsDir);
      report(await runBatch([target.config], { runsDir: target.runsDir, progress, resumeFrom: target.checkpoint }), flags.json);
      return;
    }
    const overrides: Record<string, any> = flagOverrides(flags, parseOverrides(pairs));
    if (flags.model) overrides.model = withKey(overrides.model, 'model', 'name', flags.model);
    if (flags.trigger) overrides.trigger = withKey(overrides.trigger, 'trigger', 'name', flags.trigger);
    if (flags.poisonRate !== undefined) overrides.poison = withKey(overrides.poison, 'poison', 'rate', flags.poisonRate);
    if (flags.seed !== undefined) overrides.seed = flags.seed;
    const config = resolveRunConfig({ configFile: flags.config, overrides });
    report(await runBatch([config], { runsDir: flags.runsDir, force: flags.force, progress }), flags.json);
  });

  const emptySpec = (): SweepSpec => ({ models: ['mlp'], triggers: [], poison_rates: [], seeds: DEFAULT_SEEDS, targets: DEFAULT_TARGETS, modes: DEFAULT_MODES, also: [], baseline: false, detectors: [], defend: false, overrides: {}, per_model: {}, extra_detectors: {} });

  addRunOptions(
    addSweepOptions(program.command('baseline').description("Clean runs (trigger none, rate 0) for each model and seed; each also measures every trigger's false-trigger rate on the clean model"), true),
  ).action(async (pairs: string[], flags: SweepFlags) => {
    await sweep(applyFlags({ ...emptySpec(), baseline: true }, flags, pairs), flags);
  });

  addRunOptions(
    addAttackOptions(addSweepOptions(program.command('experiments').description('Poisoned runs for every model × trigger × poison rate × seed'), true), true),
  ).action(async (pairs: string[], flags: SweepFlags) => {
    await sweep(applyFlags(emptySpec(), flags, pairs), flags);
  });

  addRunOptions(
    addAttackOptions(
      addSweepOptions(
        program
          .command('benchmark')
          .description('Run a declared grid (configs/benchmark/<profile>.yaml or --grid): clean baselines, poisoned runs, detectors; resumable, parallel and shardable; writes summary.csv')
          .option('--profile <name>', 'grid in configs/benchmark/: default (324 runs, about 11 min on 2 cores on wasm) or full', 'default')
          .option('--grid <file>', 'a grid YAML file instead of --profile'),
        false,
      ),
      false,
    ),
  ).action(async (pairs: string[], flags: SweepFlags & LauncherFlags & { profile: string; grid?: string }) => {
    const spec = applyFlags(loadSweepSpec(flags.grid ?? profilePath(flags.profile)), flags, pairs);
    if (await launchFromCli(spec, flags)) return;
    await sweep(spec, flags);
  });

  addRunOptions(
    addAttackOptions(
      addSweepOptions(
        addSetupOptions(program.command('all').description('The whole pipeline on the embedded cohort: setup → clean baselines and poisoned experiments of the default benchmark grid → visualize'), false).option(
          '--profile <name>',
          'benchmark grid in configs/benchmark/',
          'default',
        ),
        false,
      ),
      false,
    ),
  ).action(async (pairs: string[], flags: SweepFlags & SetupFlags & { profile: string }) => {
    if (flags.dryRun) throw new UserError('all has no --dry-run; use `backdoor benchmark --dry-run`');
    const progress = createProgress({ verbose: flags.verbose });
    const { outcome, report: built, seconds } = await runAll({
      setup: { ...flags, backend: flags.backend ?? 'auto', force: false },
      profile: flags.profile,
      choices: flags,
      overrides: flagOverrides(flags, parseOverrides(pairs)),
      dataGiven: Boolean(flags.data),
      sweep: { runsDir: flags.runsDir, jobs: flags.jobs, shard: flags.shard, force: flags.force, progress, configFile: flags.config },
      onSetup: (setup) => {
        if (!flags.json) printSetup(setup, (s) => process.stderr.write(s));
      },
    });
    report(outcome, flags.json);
    process.stderr.write(`report: ${built.reportHtml} (${built.nRuns} runs, ${built.figures.length} figures; runs and report took ${(seconds / 60).toFixed(1)} min)\n`);
    const dashboard = built.figures.find((f) => f.name === 'dashboard');
    if (dashboard) process.stderr.write(`dashboard: ${dashboard.png}\n`);
  });
}
