import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from '../../util/fs.js';
import { UserError } from '../../util/errors.js';
import type { LaunchContext, Launcher, Submission, TaskStatus } from './types.js';

export interface SlurmOptions {
  /** At most this many array tasks run at once (sbatch --array=…%K). */
  arrayParallelism: number;
  partition?: string;
  /** Time limit per task, in any format sbatch accepts (e.g. 04:00:00, 1-00:00:00). */
  time?: string;
  /** CPUs per task; each task runs as many worker processes. */
  cpusPerTask: number;
  mem?: string;
  /** Further sbatch options, one per entry, e.g. --account=lab or --qos=long. */
  sbatchArgs: string[];
  /** The CLI each task runs (an absolute path on the shared file system). */
  cli: string;
  /** The folder tasks start in (the data paths of the configs are relative to it). */
  cwd: string;
  /** Seconds between two squeue polls of --wait. */
  pollSeconds?: number;
}

export const SLURM_DEFAULTS = { arrayParallelism: 8, cpusPerTask: 2, pollSeconds: 10 } as const;

export const SLURM_FOLDER = 'slurm';

export function jobNameFor(sweepId: string): string {
  return `backdoor-${sweepId}`;
}

export function scriptPathFor(runsDir: string, sweepId: string): string {
  return join(runsDir, SLURM_FOLDER, `${sweepId}.sh`);
}

export function planPathFor(runsDir: string, sweepId: string): string {
  return join(runsDir, SLURM_FOLDER, `${sweepId}.plan.json`);
}

/** Single-quoted for bash: nothing inside is expanded. */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** sbatch reads #SBATCH lines itself, without a shell: a value there must be one whitespace-free word. */
function directiveValue(what: string, value: string): string {
  if (value === '' || /\s/.test(value)) throw new UserError(`${what} must be one word without spaces or line breaks for an #SBATCH line, got ${JSON.stringify(value)}`);
  return value;
}

export function validateSlurmOptions(options: SlurmOptions): void {
  if (!Number.isInteger(options.arrayParallelism) || options.arrayParallelism < 1) throw new UserError(`--array-parallelism must be a positive integer, got ${options.arrayParallelism}`);
  if (!Number.isInteger(options.cpusPerTask) || options.cpusPerTask < 1) throw new UserError(`--cpus-per-task must be a positive integer, got ${options.cpusPerTask}`);
  for (const arg of options.sbatchArgs) {
    directiveValue('--sbatch-arg', arg);
    if (!arg.startsWith('-')) throw new UserError(`--sbatch-arg takes one sbatch option such as --account=lab or --qos=long, got "${arg}"`);
    if (/^--?(array|output|job-name|cpus-per-task|J|o|a|c)(=|$)/.test(arg)) throw new UserError(`--sbatch-arg ${arg}: the launcher sets this option itself; valid: any other sbatch option`);
  }
  if (options.partition !== undefined) directiveValue('--partition', options.partition);
  if (options.time !== undefined) directiveValue('--time', options.time);
  if (options.mem !== undefined) directiveValue('--mem', options.mem);
}

/** The batch script of a sweep: array task i runs shard i of the plan. Kept in the runs folder for provenance. */
export function sbatchScript(sweepId: string, planPath: string, runsDir: string, options: SlurmOptions): string {
  validateSlurmOptions(options);
  const logDir = directiveValue('the runs folder', join(runsDir, SLURM_FOLDER));
  const directives = [
    `--job-name=${jobNameFor(sweepId)}`,
    `--output=${logDir}/${sweepId}-%A_%a.out`,
    `--cpus-per-task=${options.cpusPerTask}`,
    ...(options.partition ? [`--partition=${options.partition}`] : []),
    ...(options.time ? [`--time=${options.time}`] : []),
    ...(options.mem ? [`--mem=${options.mem}`] : []),
    ...options.sbatchArgs,
  ];
  return [
    '#!/bin/bash',
    `# backdoor sweep ${sweepId}: array task i trains shard i of ${planPath}.`,
    '# Written and submitted by `backdoor benchmark --launcher slurm`; the same command submits the unfinished shards again.',
    ...directives.map((d) => `#SBATCH ${d}`),
    'set -euo pipefail',
    `cd ${shellQuote(options.cwd)}`,
    // node from the PATH the job inherits from the submitting shell (sbatch exports it by default).
    `exec node ${shellQuote(options.cli)} run-shard ${shellQuote(planPath)} --index "$SLURM_ARRAY_TASK_ID" --jobs ${options.cpusPerTask} --verbose`,
    '',
  ].join('\n');
}

/** `--array` value for these shard indices: consecutive ones as ranges, e.g. [1,2,3,5] with 2 → "1-3,5%2". */
export function arraySpec(shards: number[], parallelism: number): string {
  const sorted = [...new Set(shards)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return `${parts.join(',')}%${parallelism}`;
}

interface CommandResult {
  status: number;
  stdout: string;
  stderr: string;
}

function slurmCommand(command: string, args: string[]): CommandResult {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  if (r.error) {
    if ((r.error as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError(`${command} not found on PATH: run this on a Slurm login node, or pass --launcher local`);
    throw r.error;
  }
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** "1:00:05" or "2-01:00:05" (scontrol's RunTime) in seconds. */
export function parseSlurmDuration(text: string): number | null {
  const m = /^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)$/.exec(text);
  if (!m) return null;
  return Number(m[1] ?? 0) * 86400 + Number(m[2] ?? 0) * 3600 + Number(m[3]) * 60 + Number(m[4]);
}

/** The tasks of an array job from `scontrol show job <id> --oneliner` (one line per task). */
export function parseScontrolTasks(text: string): TaskStatus[] {
  const tasks: TaskStatus[] = [];
  for (const line of text.split('\n')) {
    const field = (name: string) => new RegExp(`(?:^|\\s)${name}=(\\S+)`).exec(line)?.[1];
    const task = field('ArrayTaskId');
    const state = field('JobState');
    if (!task || !state || !/^\d+$/.test(task)) continue;
    tasks.push({ shard: Number(task), state, seconds: parseSlurmDuration(field('RunTime') ?? '') });
  }
  return tasks.sort((a, b) => a.shard - b.shard);
}

/** Job arrays on Slurm: sbatch to submit, squeue to watch, scontrol for each task's end state (no accounting daemon needed). */
export function slurmLauncher(options: SlurmOptions): Launcher {
  validateSlurmOptions(options);
  const pollSeconds = options.pollSeconds ?? SLURM_DEFAULTS.pollSeconds;
  return {
    name: 'slurm',

    async active(ctx: LaunchContext): Promise<Submission | null> {
      const r = slurmCommand('squeue', ['--noheader', '--name', jobNameFor(ctx.plan.sweep_id), '--format', '%F %K']);
      if (r.status !== 0) throw new UserError(`squeue failed: ${r.stderr.trim().split('\n')[0]}`);
      const lines = r.stdout.trim().split('\n').filter(Boolean);
      if (lines.length === 0) return null;
      const jobId = lines[0].split(/\s+/)[0];
      const shards = [...new Set(lines.filter((l) => l.startsWith(`${jobId} `)).flatMap((l) => expandTaskList(l.split(/\s+/)[1] ?? '')))];
      return { launcher: 'slurm', jobId, shards: shards.sort((a, b) => a - b) };
    },

    async submit(ctx: LaunchContext, shards: number[]): Promise<Submission> {
      const script = scriptPathFor(ctx.runsDir, ctx.plan.sweep_id);
      await writeFileAtomic(script, sbatchScript(ctx.plan.sweep_id, ctx.planPath, ctx.runsDir, options));
      const r = slurmCommand('sbatch', ['--parsable', `--array=${arraySpec(shards, options.arrayParallelism)}`, script]);
      if (r.status !== 0) throw new UserError(`sbatch refused the job: ${r.stderr.trim().split('\n')[0]}`);
      const jobId = r.stdout.trim().split(';')[0];
      if (!/^\d+$/.test(jobId)) throw new Error(`sbatch printed no job id: ${JSON.stringify(r.stdout)}`);
      return { launcher: 'slurm', jobId, shards };
    },

    async wait(ctx: LaunchContext, submission: Submission): Promise<TaskStatus[]> {
      let last = '';
      let errors = 0;
      for (;;) {
        const r = slurmCommand('squeue', ['--noheader', '--array', '--jobs', submission.jobId, '--format', '%K %T']);
        // squeue forgets a job some minutes after it ends and then calls its id invalid.
        const gone = r.status !== 0 && /invalid job id/i.test(r.stderr);
        if (r.status !== 0 && !gone) {
          if (++errors >= 5) throw new UserError(`squeue failed ${errors} times: ${r.stderr.trim().split('\n')[0]}`);
        } else {
          errors = 0;
          const states = gone ? [] : r.stdout.trim().split('\n').filter(Boolean).map((l) => l.split(/\s+/)[1]);
          if (states.length === 0) break;
          const counts = [...new Set(states)].sort().map((s) => `${states.filter((x) => x === s).length} ${s.toLowerCase()}`).join(', ');
          if (counts !== last) ctx.log(`slurm job ${submission.jobId}: ${counts}`);
          last = counts;
        }
        await sleep(pollSeconds * 1000);
      }
      const r = slurmCommand('scontrol', ['show', 'job', submission.jobId, '--oneliner']);
      const known = r.status === 0 ? parseScontrolTasks(r.stdout) : [];
      return submission.shards.map((shard) => known.find((t) => t.shard === shard) ?? { shard, state: 'UNKNOWN', seconds: null });
    },
  };
}

/** squeue's %K: "3", "1-3,5" or "[2-3%2]" for tasks not yet started. */
export function expandTaskList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.replace(/^\[|\]$/g, '').replace(/%\d+$/, '').split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) continue;
    const from = Number(m[1]);
    const to = m[2] ? Number(m[2]) : from;
    for (let i = from; i <= to; i++) out.push(i);
  }
  return out;
}
