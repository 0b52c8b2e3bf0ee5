import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { planRuns } from '../experiments/batch.js';
import { failureFileFor } from '../runs/layout.js';
import { markRunsFolder } from '../util/markers.js';
import { writeRunsSummary } from '../runs/summary.js';
import { detectionStep, sweepConfigs, type SweepSpec } from '../experiments/sweep.js';
import { buildShardPlan, readShardPlan, sweepIdFor, writeShardPlan, type ShardPlan, type SweepRun } from '../experiments/shard-plan.js';
import { buildReport } from '../report/index.js';
import { UserError } from '../util/errors.js';
import type { Launcher, Submission, TaskStatus } from './launchers/types.js';

export interface SweepShardsOptions {
  runsDir: string;
  configFile?: string;
  /** Shards (array tasks) of a new plan; a sweep submitted before keeps its frozen plan. */
  shards: number;
  /** Where plans live for this launcher, e.g. runs/slurm/<sweep-id>.plan.json. */
  planPathFor(runsDir: string, sweepId: string): string;
}

export interface SweepShards {
  plan: ShardPlan;
  planPath: string;
  /** True when the plan was read from an earlier submission. */
  frozen: boolean;
  runs: SweepRun[];
}

/** The sweep's runs and their shard plan: the one frozen at the first submission, else a new cost-balanced one. */
export async function sweepShards(spec: SweepSpec, options: SweepShardsOptions): Promise<SweepShards> {
  const configs = sweepConfigs(spec, options.configFile);
  const plans = await planRuns(configs, options.runsDir);
  const conflict = plans.find((p) => p.status === 'conflict');
  if (conflict) throw new UserError(`${conflict.dir} holds a finished run of a different config or data; use another --runs-dir`);
  const runs = plans.map((plan) => ({ plan, detection: detectionStep(spec, plan.config) }));
  const sweepId = sweepIdFor(runs);
  const planPath = options.planPathFor(options.runsDir, sweepId);
  if (existsSync(planPath)) return { plan: await readShardPlan(planPath), planPath, frozen: true, runs };
  return { plan: await buildShardPlan(runs, options.runsDir, options.shards), planPath, frozen: false, runs };
}

/** Shards that still hold a run that is not complete. */
export function unfinishedShards(plan: ShardPlan, runs: SweepRun[]): number[] {
  const complete = new Set(runs.filter((r) => r.plan.status === 'complete').map((r) => r.plan.runId));
  return plan.shards.filter((s) => s.runs.some((r) => !complete.has(r.run_id))).map((s) => s.index);
}

export interface LaunchOptions extends SweepShardsOptions {
  launcher: Launcher;
  wait: boolean;
  log(line: string): void;
}

export interface FailedRun {
  dir: string;
  failureFile: string;
  error: string;
}

export interface LaunchOutcome {
  sweepId: string;
  planPath: string;
  plan: ShardPlan;
  /** The new submission, or the earlier one still queued or running; null when every run was complete. */
  submission: Submission | null;
  attached: boolean;
  /** With wait: */
  tasks?: TaskStatus[];
  summaryPath?: string;
  reportHtml?: string;
  failed: FailedRun[];
  /** Runs neither complete nor failed once the tasks ended (a task cancelled or out of time). */
  unfinished: string[];
  /** The run ids complete once the tasks ended. */
  complete: string[];
}

/**
 * Submits the shards of a sweep that still hold unfinished runs (or attaches to the submission still running), and
 * with `wait` waits for the tasks, then writes summary.csv and the report as a local sweep does.
 */
export async function launchSweep(spec: SweepSpec, options: LaunchOptions): Promise<LaunchOutcome> {
  const { plan, planPath, frozen, runs } = await sweepShards(spec, options);
  const ctx = { plan, planPath, runsDir: options.runsDir, log: options.log };
  if (!frozen) {
    await markRunsFolder(options.runsDir);
    await writeShardPlan(planPath, plan);
  }
  let submission = await options.launcher.active(ctx);
  const attached = submission !== null;
  if (submission) {
    options.log(`sweep ${plan.sweep_id} is already submitted as job ${submission.jobId}; not submitting it twice`);
  } else {
    const shards = unfinishedShards(plan, runs);
    if (shards.length > 0) {
      submission = await options.launcher.submit(ctx, shards);
      options.log(`submitted ${options.launcher.name} job ${submission.jobId}: shards ${shards.join(',')} of ${plan.shard_count} (${runs.filter((r) => r.plan.status !== 'complete').length} of ${runs.length} runs to do; plan ${planPath})`);
    } else {
      options.log(`sweep ${plan.sweep_id}: all ${runs.length} runs are complete; nothing to submit`);
    }
  }
  const outcome: LaunchOutcome = { sweepId: plan.sweep_id, planPath, plan, submission, attached, failed: [], unfinished: [], complete: [] };
  if (!options.wait) return outcome;

  if (submission) outcome.tasks = await options.launcher.wait(ctx, submission);
  const after = await planRuns(runs.map((r) => r.plan.config), options.runsDir);
  for (const p of after) {
    if (p.status === 'complete') {
      outcome.complete.push(p.runId);
      continue;
    }
    const failureFile = failureFileFor(p.dir);
    if (existsSync(failureFile)) {
      const record = JSON.parse(await readFile(failureFile, 'utf8')) as { error?: unknown };
      outcome.failed.push({ dir: p.dir, failureFile, error: String(record.error ?? '').split('\n')[0] });
    } else {
      outcome.unfinished.push(p.dir);
    }
  }
  outcome.summaryPath = await writeRunsSummary(options.runsDir);
  const completeDirs = after.filter((p) => p.status === 'complete').map((p) => p.dir);
  if (completeDirs.length > 0) outcome.reportHtml = (await buildReport({ runsDir: options.runsDir, runs: completeDirs })).reportHtml;
  return outcome;
}

/** One line per shard: its scheduler state, run time, predicted cost and how many of its runs are complete. */
export function taskLines(outcome: LaunchOutcome): string[] {
  const complete = new Set(outcome.complete);
  return outcome.plan.shards.map((shard) => {
    const task = outcome.tasks?.find((t) => t.shard === shard.index);
    const done = shard.runs.filter((r) => complete.has(r.run_id)).length;
    const state = task ? `${task.state}${task.seconds !== null ? ` in ${task.seconds} s` : ''}` : 'not submitted this time';
    return `shard ${shard.index}: ${state}; predicted ${shard.estimated_s.toFixed(1)} s; ${done}/${shard.runs.length} runs complete`;
  });
}
