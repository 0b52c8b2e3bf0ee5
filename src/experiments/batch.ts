import { availableParallelism } from 'node:os';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { mergeConfig, resolveRunConfig, type RunConfig } from './config.js';
import { runIdFor, type RunResult } from './run.js';
import { CHECKPOINTS_DIR, failureFileFor, partialDirFor, runDirFor } from '../runs/layout.js';
import { readCompleteRun } from '../runs/records.js';
import { loadDataset } from './dataset.js';
import { checkCompatible } from './prepare.js';
import { getModel } from '../models/registry.js';
import { poisonedRowCount, type PoisonMode } from '../triggers/poison.js';
import { listCheckpoints } from '../train/checkpoint.js';
import { UserError, environmentError } from '../util/errors.js';
import { ensureWritableDir, writeRecordBestEffort } from '../util/fs.js';
import type { ProgressReporter } from '../util/progress.js';
import { detectionToDo, executeRunWithDetection, type DetectionStep } from './run-with-detection.js';

export interface GridSpec {
  models: string[];
  triggers: string[];
  rates: number[];
  seeds: number[];
  configFile?: string;
  /** key=value overrides and flag values, nested (e.g. { train: { epochs: 5 } }). */
  overrides?: Record<string, unknown>;
  /** Overrides for one model's runs, applied over `overrides`. */
  perModel?: Record<string, Record<string, unknown>>;
  /** Attack targets (poison.target) and modes (poison.mode); absent = the config's. */
  targets?: (0 | 1)[];
  modes?: PoisonMode[];
}

/** A config section given on the command line as a mapping, with one key set (e.g. the trigger's name). */
export function withKey(section: unknown, what: string, key: string, value: unknown): Record<string, unknown> {
  if (section === undefined || section === null) return { [key]: value };
  if (typeof section !== 'object' || Array.isArray(section)) throw new UserError(`config section "${what}" must be a mapping; to set one value write ${what}.name=… or ${what}.<key>=…`);
  return { ...(section as Record<string, unknown>), [key]: value };
}

/** poison.label_consistent configures only label_consistent runs: a grid's runs in other modes leave it out. */
function poisonFor(section: unknown, rate: number, target: 0 | 1 | undefined, mode: PoisonMode | undefined): Record<string, unknown> {
  const poison = withKey(section, 'poison', 'rate', rate);
  if (target !== undefined) poison.target = target;
  if (mode === undefined) return poison;
  const { label_consistent, ...rest } = poison;
  return mode === 'label_consistent' && label_consistent !== undefined ? { ...rest, mode, label_consistent } : { ...rest, mode };
}

/**
 * Every combination of the grid as a resolved config, in a fixed order (model, trigger, target, mode, rate, seed);
 * names and values are validated first.
 */
export function expandGrid(grid: GridSpec): RunConfig[] {
  const configs: RunConfig[] = [];
  for (const model of grid.models) {
    for (const trigger of grid.triggers) {
      for (const target of grid.targets ?? [undefined]) {
        for (const mode of grid.modes ?? [undefined]) {
          for (const rate of grid.rates) {
            for (const seed of grid.seeds) {
              const own = grid.perModel?.[model];
              const base = own ? mergeConfig(grid.overrides ?? {}, own) : (grid.overrides ?? {});
              const overrides = {
                ...base,
                model: withKey(base.model, 'model', 'name', model),
                trigger: withKey(base.trigger, 'trigger', 'name', trigger),
                poison: poisonFor(base.poison, rate, target, mode),
                seed,
              };
              configs.push(resolveRunConfig({ configFile: grid.configFile, overrides }));
            }
          }
        }
      }
    }
  }
  return configs;
}

export interface Shard {
  /** 1-based. */
  index: number;
  count: number;
}

export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index < 1 || index > count) throw new UserError(`--shard must look like i/n with 1 ≤ i ≤ n (e.g. 2/8), got "${text}"`);
  return { index, count };
}

/**
 * The runs of one shard: grid position k (0-based, in expandGrid order) belongs to shard (k mod n) + 1. Every
 * machine expands the same grid, so the n shards partition it exactly, and neighbouring seeds spread out.
 */
export function selectShard<T>(items: T[], shard: Shard | undefined): T[] {
  if (!shard) return items;
  return items.filter((_, k) => k % shard.count === shard.index - 1);
}

export type PlanStatus = 'complete' | 'detection' | 'resumable' | 'todo' | 'conflict';

export interface PlannedRun {
  config: RunConfig;
  dir: string;
  runId: string;
  status: PlanStatus;
}

/**
 * What a sweep would do with each run, without training: complete (trained and every requested detection output
 * in place: skipped), detection (trained, detection to finish), resumable (an interrupted attempt left
 * checkpoints), todo, or conflict (the folder holds a finished run of another config or data).
 * Loading every data file and resolving every trigger here makes bad input fail before any run starts.
 */
export async function planRuns(configs: RunConfig[], runsDir: string, force = false, detection?: BatchOptions['detection']): Promise<PlannedRun[]> {
  const resolved = new Set<string>();
  const plans: PlannedRun[] = [];
  for (const config of configs) {
    const dataset = await loadDataset(config.data.path, config.data.splits);
    const preflightKey = JSON.stringify([config.data, config.trigger, config.model.name]);
    if (!resolved.has(preflightKey)) {
      const trigger = (await import('../triggers/registry.js')).getTrigger(config.trigger.name);
      checkCompatible(dataset, config, trigger, getModel(config.model.name).view);
      const { name: _n, ...params } = config.trigger;
      trigger.resolve(params, { schema: dataset.cohort.schema, train: dataset.train });
      resolved.add(preflightKey);
    }
    poisonedRowCount(config.poison.rate, dataset.train.n);
    const dir = runDirFor(runsDir, config);
    const runId = runIdFor(config, dataset.sha256, dataset.splitsSha256);
    let status: PlanStatus = 'todo';
    const existing = force ? null : await readCompleteRun(dir);
    if (existing && existing.metadata.run_id !== runId) status = 'conflict';
    else if (existing) status = (await detectionToDo(dir, typeof detection === 'function' ? detection(config) : detection, config)).length > 0 ? 'detection' : 'complete';
    else if (!force && (await listCheckpoints(join(partialDirFor(dir), CHECKPOINTS_DIR))).length > 0) status = 'resumable';
    plans.push({ config, dir, runId, status });
  }
  return plans;
}

export interface BatchFailure {
  dir: string;
  runId: string;
  error: string;
  userError: boolean;
}

export interface BatchOutcome {
  results: RunResult[];
  failures: BatchFailure[];
}

export interface BatchOptions {
  runsDir: string;
  force?: boolean;
  progress: ProgressReporter;
  resumeFrom?: string;
  /** Parallel worker processes; 1 runs in this process. Default: 1. */
  jobs?: number;
  /** Detectors to run on each finished run, in the worker that trained it (per run, when a function). */
  detection?: DetectionStep | ((config: RunConfig) => DetectionStep | undefined);
}

function detectionFor(options: BatchOptions, config: RunConfig): DetectionStep | undefined {
  return typeof options.detection === 'function' ? options.detection(config) : options.detection;
}

/** Never throws (it runs while handling a failure): returns why the record could not be written, e.g. ENOSPC. */
async function recordFailure(failure: BatchFailure, config: RunConfig): Promise<string | null> {
  return writeRecordBestEffort(failureFileFor(failure.dir), JSON.stringify({ ...failure, config, failed_at: new Date().toISOString() }, null, 2) + '\n');
}

export function defaultJobs(): number {
  return Math.max(1, availableParallelism());
}

/**
 * Runs configs, in parallel worker processes when `jobs` > 1. A single run's bad input is thrown (one-line
 * error); in a batch every failure is recorded with its error and the batch goes on, the outcome listing them.
 */
export async function runBatch(configs: RunConfig[], options: BatchOptions): Promise<BatchOutcome> {
  const { progress } = options;
  await ensureWritableDir(options.runsDir, 'runs folder');
  const plans = await planRuns(configs, options.runsDir, options.force, options.detection);
  const conflict = plans.find((p) => p.status === 'conflict');
  if (conflict && !options.force && !options.resumeFrom) {
    throw new UserError(`${conflict.dir} holds a finished run of a different config or data; pass --force to replace it, --variant NAME to keep both (a variant gets its own folder), or use another --runs-dir`);
  }
  const results: RunResult[] = [];
  const failures: BatchFailure[] = [];
  const jobs = Math.max(1, Math.min(options.jobs ?? 1, plans.filter((p) => p.status !== 'complete').length || 1));
  progress.start(plans.length);

  const label = (plan: PlannedRun) => runDirFor('', plan.config).replace(/^[\\/]/, '');
  const finish = async (plan: PlannedRun, result: RunResult) => {
    results.push(result);
    await rm(failureFileFor(plan.dir), { force: true });
    const m = result.metrics;
    const summary = `AUROC ${m.clean.auroc.toFixed(3)}` + (m.attack ? `, ASR ${m.attack.asr.toFixed(3)}` : '');
    progress.end(label(plan), result.status === 'skipped' ? `skipped (complete): ${summary}` : `${summary} (${result.seconds.toFixed(1)} s)`, true);
  };
  const fail = async (plan: PlannedRun, message: string, stack: string, userError: boolean) => {
    const failure = { dir: plan.dir, runId: plan.runId, error: stack || message, userError };
    failures.push(failure);
    const unrecorded = await recordFailure(failure, plan.config);
    progress.end(label(plan), `failed: ${message.split('\n')[0]}${unrecorded ? `; ${unrecorded}` : ''}`, false);
  };

  if (jobs === 1) {
    for (const plan of plans) {
      progress.begin(label(plan));
      try {
        const runOptions = { runsDir: options.runsDir, force: options.force, resumeFrom: options.resumeFrom, log: (line: string) => progress.detail(line), notice: (line: string) => progress.note(line), step: (d: number, t: number, u: string) => progress.step(d, t, u) };
        const result = await executeRunWithDetection(plan.config, runOptions, detectionFor(options, plan.config));
        await finish(plan, result);
      } catch (err) {
        // A full disk or a forbidden folder is the machine's problem, reported like bad input: one line.
        const userError = err instanceof UserError ? err : environmentError(err);
        if (userError && plans.length === 1) {
          progress.finish();
          throw userError;
        }
        await fail(plan, (userError ?? (err as Error)).message, userError ? '' : ((err as Error).stack ?? ''), userError !== null);
      }
    }
  } else {
    await runInWorkers(plans, jobs, options, { begin: (p) => progress.begin(label(p)), detail: (l) => progress.detail(l), note: (l) => progress.note(l), step: (d, t, u) => progress.step(d, t, u), finish, fail });
  }
  progress.finish();
  return { results, failures };
}

interface WorkerHandlers {
  begin(plan: PlannedRun): void;
  detail(line: string): void;
  note(line: string): void;
  step(done: number, total: number, unit: string): void;
  finish(plan: PlannedRun, result: RunResult): Promise<void>;
  fail(plan: PlannedRun, message: string, stack: string, userError: boolean): Promise<void>;
}

export type WorkerRequest = { type: 'run'; config: RunConfig; runsDir: string; force: boolean; detection?: DetectionStep };
export type WorkerReply =
  | { type: 'log'; line: string }
  | { type: 'note'; line: string }
  | { type: 'step'; done: number; total: number; unit: string }
  | { type: 'done'; result: RunResult }
  | { type: 'error'; message: string; stack: string; userError: boolean };

const WORKER_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'worker.js');

/** A pool of worker processes, each with its own TF.js engine (one wasm engine uses one core). */
async function runInWorkers(plans: PlannedRun[], jobs: number, options: BatchOptions, handlers: WorkerHandlers): Promise<void> {
  const queue = [...plans];
  const workers: ChildProcess[] = [];
  const runWorker = async (): Promise<void> => {
    const child = fork(WORKER_SCRIPT, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    workers.push(child);
    try {
      for (let plan = queue.shift(); plan; plan = queue.shift()) {
        const current = plan;
        handlers.begin(current);
        const reply = await new Promise<WorkerReply>((resolve) => {
          const onMessage = (msg: WorkerReply) => {
            if (msg.type === 'log') return handlers.detail(msg.line);
            if (msg.type === 'note') return handlers.note(msg.line);
            if (msg.type === 'step') return handlers.step(msg.done, msg.total, msg.unit);
            child.off('message', onMessage);
            child.off('exit', onExit);
            resolve(msg);
          };
          const onExit = (code: number | null, signal: string | null) => {
            child.off('message', onMessage);
            resolve({ type: 'error', message: `worker process exited (${signal ?? `code ${code}`})`, stack: '', userError: false });
          };
          child.on('message', onMessage);
          child.once('exit', onExit);
          child.send({ type: 'run', config: current.config, runsDir: options.runsDir, force: Boolean(options.force), detection: detectionFor(options, current.config) } satisfies WorkerRequest);
        });
        if (reply.type === 'done') await handlers.finish(current, reply.result);
        else if (reply.type === 'error') {
          await handlers.fail(current, reply.message, reply.stack, reply.userError);
          if (child.exitCode !== null || child.signalCode !== null) return runWorker();
        }
      }
    } finally {
      if (child.connected) child.disconnect();
    }
  };
  const stop = () => workers.forEach((w) => w.kill('SIGKILL'));
  process.once('exit', stop);
  try {
    await Promise.all(Array.from({ length: jobs }, () => runWorker()));
  } finally {
    process.off('exit', stop);
  }
}
