import { runShard } from '../../experiments/shard-plan.js';
import type { ProgressReporter } from '../../util/progress.js';
import type { LaunchContext, Launcher, Submission, TaskStatus } from './types.js';

/** Runs the shards one after another in this process, each with `jobs` workers: the launcher contract without a scheduler. */
export function localLauncher(options: { jobs: number; progress: ProgressReporter }): Launcher {
  const finished = new Map<string, TaskStatus[]>();
  return {
    name: 'local',
    async active() {
      return null;
    },
    async submit(ctx: LaunchContext, shards: number[]): Promise<Submission> {
      const statuses: TaskStatus[] = [];
      for (const shard of shards) {
        const started = Date.now();
        const outcome = await runShard(ctx.plan, shard, { runsDir: ctx.runsDir, jobs: options.jobs, progress: options.progress });
        statuses.push({ shard, state: outcome.failures.length > 0 ? 'FAILED' : 'COMPLETED', seconds: (Date.now() - started) / 1000 });
      }
      const jobId = `local-${finished.size + 1}`;
      finished.set(jobId, statuses);
      return { launcher: 'local', jobId, shards };
    },
    async wait(_ctx: LaunchContext, submission: Submission): Promise<TaskStatus[]> {
      return finished.get(submission.jobId) ?? [];
    },
  };
}
