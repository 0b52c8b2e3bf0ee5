import { realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { parseIntArg } from './common.js';
import { defaultJobs, type Shard } from '../experiments/batch.js';
import { readShardPlan, runShard } from '../experiments/shard-plan.js';
import type { SweepSpec } from '../experiments/sweep.js';
import { launchSweep, sweepShards, taskLines } from '../pipeline/launch.js';
import { planPathFor, slurmLauncher, SLURM_DEFAULTS, type SlurmOptions } from '../pipeline/launchers/slurm.js';
import { createProgress } from '../util/progress.js';
import { UserError } from '../util/errors.js';

export const DEFAULT_SHARDS = 8;

export interface LauncherFlags {
  launcher: 'local' | 'slurm';
  shards?: number;
  shard?: Shard;
  arrayParallelism: number;
  partition?: string;
  time?: string;
  cpusPerTask: number;
  mem?: string;
  sbatchArg: string[];
  wait: boolean;
  pollSeconds: number;
  dryRun: boolean;
  runsDir: string;
  config?: string;
  json: boolean;
  verbose: boolean;
}

export function addLauncherOptions(cmd: Command): Command {
  const positive = (what: string) => (value: string) => {
    const n = parseIntArg(what)(value);
    if (n < 1) throw new UserError(`${what} must be at least 1, got ${n}`);
    return n;
  };
  return cmd
    .addOption(new Option('--launcher <name>', 'where the runs train: local (this machine) or slurm (a job array, one shard per task)').choices(['local', 'slurm']).default('local'))
    .addOption(new Option('--shards <n>', `shards (array tasks) of the sweep, balanced by estimated cost; with --dry-run, print each shard's predicted cost (default with --launcher slurm: ${DEFAULT_SHARDS})`).argParser(positive('--shards')))
    .addOption(new Option('--array-parallelism <k>', 'slurm: at most k array tasks at once').argParser(positive('--array-parallelism')).default(SLURM_DEFAULTS.arrayParallelism))
    .option('--partition <name>', "slurm: partition (default: the cluster's default partition)")
    .option('--time <limit>', "slurm: time limit per task, e.g. 04:00:00 (default: the partition's)")
    .addOption(new Option('--cpus-per-task <n>', 'slurm: CPUs per task; each task runs this many --jobs').argParser(positive('--cpus-per-task')).default(SLURM_DEFAULTS.cpusPerTask))
    .option('--mem <size>', "slurm: memory per node, e.g. 8G (default: the partition's)")
    .option('--sbatch-arg <option>', 'slurm: a further sbatch option, e.g. --sbatch-arg=--account=lab (repeatable)', (value: string, previous: string[]) => [...previous, value], [] as string[])
    .option('--wait', 'slurm: wait for the array to end, then write summary.csv and the report; exit non-zero if a run failed', false)
    .addOption(new Option('--poll-seconds <s>', 'slurm --wait: seconds between two squeue polls').argParser(positive('--poll-seconds')).default(SLURM_DEFAULTS.pollSeconds));
}

/**
 * Handles the launcher flags of `benchmark`: --launcher slurm, and --dry-run --shards N. Returns false when the
 * sweep is an ordinary local one, which the caller runs as before.
 */
export async function launchFromCli(spec: SweepSpec, flags: LauncherFlags): Promise<boolean> {
  const slurm = flags.launcher === 'slurm';
  if (!slurm && !flags.dryRun && flags.shards !== undefined) throw new UserError('--shards plans a job array: use it with --launcher slurm, or with --dry-run to print the predicted cost of each shard');
  if (!slurm && !(flags.dryRun && flags.shards !== undefined)) return false;
  if (flags.shard && (slurm || flags.shards !== undefined)) throw new UserError('--shard runs one shard by hand; with --launcher slurm or --shards the launcher assigns the shards');
  const runsDir = resolve(flags.runsDir);
  const shardOptions = { runsDir, configFile: flags.config, shards: flags.shards ?? DEFAULT_SHARDS, planPathFor };
  const log = (line: string) => process.stderr.write(`${line}\n`);

  if (flags.dryRun) {
    const { plan, planPath, frozen, runs } = await sweepShards(spec, shardOptions);
    const complete = runs.filter((r) => r.plan.status === 'complete').length;
    if (flags.json) {
      process.stdout.write(JSON.stringify({ plan_path: planPath, frozen, ...plan }, null, 2) + '\n');
      return true;
    }
    for (const [model, rate] of Object.entries(plan.cost_rates)) process.stdout.write(`cost ${model}: ${rate.secondsPerEpochPer1kRows.toFixed(3)} s per epoch per 1,000 training rows (${rate.source === 'measured' ? `mean of ${rate.samples} finished runs` : 'default table'})\n`);
    for (const shard of plan.shards) process.stdout.write(`shard ${shard.index}/${plan.shard_count}: ${shard.runs.length} runs, predicted ${shard.estimated_s.toFixed(1)} s\n`);
    process.stdout.write(`${runs.length} runs (${complete} complete); ${frozen ? `frozen plan of the earlier submission: ${planPath}` : 'plan not yet written (the first submission writes it)'}\n`);
    return true;
  }

  const slurmOptions: SlurmOptions = {
    arrayParallelism: flags.arrayParallelism,
    partition: flags.partition,
    time: flags.time,
    cpusPerTask: flags.cpusPerTask,
    mem: flags.mem,
    sbatchArgs: flags.sbatchArg,
    cli: realpathSync(process.argv[1]),
    cwd: process.cwd(),
    pollSeconds: flags.pollSeconds,
  };
  const outcome = await launchSweep(spec, { ...shardOptions, launcher: slurmLauncher(slurmOptions), wait: flags.wait, log });
  if (outcome.submission) process.stdout.write(`${outcome.submission.jobId}\n`);
  if (!flags.wait) return true;
  for (const line of taskLines(outcome)) log(line);
  if (outcome.summaryPath) log(`summary: ${outcome.summaryPath}`);
  if (outcome.reportHtml) log(`report: ${outcome.reportHtml}`);
  if (outcome.failed.length > 0) {
    log(`${outcome.failed.length} run(s) failed:`);
    for (const f of outcome.failed) log(`  ${f.failureFile}: ${f.error}`);
  }
  if (outcome.unfinished.length > 0) {
    log(`${outcome.unfinished.length} run(s) unfinished (a task was cancelled or ran out of time); the same command resumes them:`);
    for (const dir of outcome.unfinished) log(`  ${dir}`);
  }
  if (outcome.failed.length > 0 || outcome.unfinished.length > 0) process.exitCode = 1;
  return true;
}

/** The launcher options of `benchmark` (registered before), and `run-shard`, what each array task runs. */
export function registerLauncher(program: Command): void {
  const benchmark = program.commands.find((c) => c.name() === 'benchmark');
  if (!benchmark) throw new Error('registerLauncher: register the benchmark command first');
  addLauncherOptions(benchmark);
  program
    .command('run-shard <plan>')
    .description('Train the runs of one shard of a submitted sweep plan (what each array task of --launcher slurm runs); the runs folder is the folder above the plan’s')
    .requiredOption('--index <i>', 'the shard, 1-based (e.g. "$SLURM_ARRAY_TASK_ID")', parseIntArg('--index'))
    .addOption(new Option('--jobs <n>', 'parallel worker processes').argParser(parseIntArg('--jobs')).default(defaultJobs(), `${defaultJobs()}, the number of cores`))
    .option('-v, --verbose', 'print per-epoch progress', false)
    .action(async (planPath: string, flags: { index: number; jobs: number; verbose: boolean }) => {
      const plan = await readShardPlan(planPath);
      const runsDir = resolve(dirname(resolve(planPath)), '..');
      const outcome = await runShard(plan, flags.index, { runsDir, jobs: flags.jobs, progress: createProgress({ verbose: flags.verbose }) });
      if (outcome.failures.length > 0) {
        process.stderr.write(`${outcome.failures.length} run(s) failed (details in .seed_N.failed.json beside each run folder):\n`);
        for (const f of outcome.failures) process.stderr.write(`  ${f.dir}: ${f.error.split('\n')[0]}\n`);
        process.exitCode = 1;
      }
    });
}
