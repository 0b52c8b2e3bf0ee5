import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { resolveRunConfig, type RunConfig } from './config.js';
import { planRuns, runBatch, type BatchOptions, type BatchOutcome, type PlannedRun } from './batch.js';
import { runDirFor } from '../runs/layout.js';
import { balanceShards, estimateCosts, modelRates, shardCosts, type ModelRate } from './cost.js';
import type { DetectionStep } from './run-with-detection.js';
import { detectorNames } from '../detectors/registry.js';
import { writeFileAtomic } from '../util/fs.js';
import { UserError } from '../util/errors.js';

/**
 * A shard plan freezes which runs each shard (array task) trains, decided once at submission: tasks that
 * balanced by cost themselves would disagree as runs finish and the measured durations change.
 */
export const SHARD_PLAN_FORMAT = 1;

export interface ShardPlanRun {
  /** The run folder, relative to the runs folder, with forward slashes. */
  dir: string;
  run_id: string;
  estimated_s: number;
  config: RunConfig;
  detection: DetectionStep | null;
}

export interface ShardPlan {
  format: typeof SHARD_PLAN_FORMAT;
  sweep_id: string;
  created_at: string;
  shard_count: number;
  /** The rate each model's estimate used, and where it came from. */
  cost_rates: Record<string, ModelRate>;
  shards: { index: number; estimated_s: number; runs: ShardPlanRun[] }[];
}

export interface SweepRun {
  plan: PlannedRun;
  detection: DetectionStep | undefined;
}

/**
 * Names a sweep by what it computes (its runs' ids, which hash config and data, and their detection steps), so the
 * same command finds its earlier submission and a changed grid gets a new name.
 */
export function sweepIdFor(runs: SweepRun[]): string {
  const content = runs.map((r) => [r.plan.runId, r.detection ? [...r.detection.detectors].sort() : [], r.detection?.defend ?? false]);
  return createHash('sha256').update(JSON.stringify(content)).digest('hex').slice(0, 12);
}

export async function buildShardPlan(runs: SweepRun[], runsDir: string, shardCount: number): Promise<ShardPlan> {
  if (!Number.isInteger(shardCount) || shardCount < 1) throw new UserError(`the number of shards must be a positive integer, got ${shardCount}`);
  const count = Math.min(shardCount, Math.max(1, runs.length));
  const plans = runs.map((r) => r.plan);
  const costs = await estimateCosts(plans, runsDir);
  const shardOf = balanceShards(costs, count);
  const totals = shardCosts(costs, shardOf, count);
  const rates = await modelRates(runsDir, plans.map((p) => p.config.model.name));
  return {
    format: SHARD_PLAN_FORMAT,
    sweep_id: sweepIdFor(runs),
    created_at: new Date().toISOString(),
    shard_count: count,
    cost_rates: Object.fromEntries(rates),
    shards: totals.map((estimated, s) => ({
      index: s + 1,
      estimated_s: estimated,
      runs: runs
        .map((r, k) => ({ r, k }))
        .filter(({ k }) => shardOf[k] === s + 1)
        .map(({ r, k }) => ({ dir: relative(runsDir, r.plan.dir).split(sep).join('/'), run_id: r.plan.runId, estimated_s: costs[k], config: r.plan.config, detection: r.detection ?? null })),
    })),
  };
}

export async function writeShardPlan(path: string, plan: ShardPlan): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(plan, null, 2) + '\n');
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads and validates a plan file: every run's config is resolved again (as --resume does) and detector names checked. */
export async function readShardPlan(path: string): Promise<ShardPlan> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new UserError(`cannot read shard plan ${path}: ${(err as Error).message.split('\n')[0]}`);
  }
  const bad = (what: string) => new UserError(`shard plan ${path} is malformed: ${what}`);
  if (!isMapping(raw) || raw.format !== SHARD_PLAN_FORMAT) throw bad(`expected format ${SHARD_PLAN_FORMAT}`);
  if (typeof raw.sweep_id !== 'string' || !/^[0-9a-f]{12}$/.test(raw.sweep_id)) throw bad('sweep_id');
  if (!Number.isInteger(raw.shard_count) || (raw.shard_count as number) < 1) throw bad('shard_count');
  if (!Array.isArray(raw.shards) || raw.shards.length !== raw.shard_count) throw bad('shards must list shard_count shards');
  const shards = raw.shards.map((shard: unknown, s: number) => {
    if (!isMapping(shard) || shard.index !== s + 1 || !Array.isArray(shard.runs) || typeof shard.estimated_s !== 'number') throw bad(`shard ${s + 1}`);
    const runs = shard.runs.map((run: unknown): ShardPlanRun => {
      if (!isMapping(run) || typeof run.dir !== 'string' || typeof run.run_id !== 'string' || typeof run.estimated_s !== 'number' || !isMapping(run.config)) throw bad(`a run of shard ${s + 1}`);
      if (run.dir.split('/').some((part) => part === '..' || part === '') || run.dir.startsWith('/')) throw bad(`run folder "${run.dir}" leaves the runs folder`);
      return { dir: run.dir, run_id: run.run_id, estimated_s: run.estimated_s, config: resolveRunConfig({ overrides: run.config }), detection: detectionStep(run.detection, bad) };
    });
    return { index: s + 1, estimated_s: shard.estimated_s, runs };
  });
  const rates = isMapping(raw.cost_rates) ? (raw.cost_rates as Record<string, ModelRate>) : {};
  return { format: SHARD_PLAN_FORMAT, sweep_id: raw.sweep_id, created_at: String(raw.created_at), shard_count: raw.shard_count as number, cost_rates: rates, shards };
}

function detectionStep(value: unknown, bad: (what: string) => UserError): DetectionStep | null {
  if (value === null || value === undefined) return null;
  if (!isMapping(value) || !Array.isArray(value.detectors) || typeof value.defend !== 'boolean') throw bad('detection');
  for (const d of value.detectors) if (typeof d !== 'string' || !detectorNames().includes(d)) throw bad(`unknown detector ${JSON.stringify(d)}`);
  return { detectors: value.detectors as string[], defend: value.defend };
}

/**
 * The runs of one shard, checked against the data as it is now: a plan whose run ids no longer match (the data or
 * config files changed since submission) would train other runs than the plan names.
 */
export async function shardPlannedRuns(plan: ShardPlan, index: number, runsDir: string): Promise<SweepRun[]> {
  const shard = plan.shards[index - 1];
  if (!shard) throw new UserError(`shard ${index} is not in the plan; valid: 1-${plan.shard_count}`);
  const planned = await planRuns(shard.runs.map((r) => r.config), runsDir);
  return planned.map((p, k) => {
    const expected = shard.runs[k];
    if (p.runId !== expected.run_id) throw new UserError(`${p.dir}: run id ${p.runId} differs from the plan's ${expected.run_id} (data or config changed since submission); submit the sweep again`);
    if (p.dir !== join(runsDir, ...expected.dir.split('/'))) throw new UserError(`${p.dir}: the plan places this run in ${expected.dir}`);
    return { plan: p, detection: expected.detection ?? undefined };
  });
}

/** What one array task does: train (or resume, or skip when complete) the runs of its shard. */
export async function runShard(plan: ShardPlan, index: number, options: Omit<BatchOptions, 'detection' | 'force' | 'resumeFrom'>): Promise<BatchOutcome> {
  const runs = await shardPlannedRuns(plan, index, options.runsDir);
  const detectionByDir = new Map(runs.map((r) => [r.plan.dir, r.detection]));
  return runBatch(
    runs.map((r) => r.plan.config),
    { ...options, detection: (config) => detectionByDir.get(runDirFor(options.runsDir, config)) },
  );
}
