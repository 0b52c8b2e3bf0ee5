import type { ShardPlan } from '../../experiments/shard-plan.js';

/** What a launcher is given: the frozen plan, where it lives, and the runs folder its tasks share. */
export interface LaunchContext {
  plan: ShardPlan;
  planPath: string;
  runsDir: string;
  log(line: string): void;
}

export interface Submission {
  launcher: string;
  /** The scheduler's id of the job (array), or "local". */
  jobId: string;
  /** The shards (1-based) this submission runs. */
  shards: number[];
}

export interface TaskStatus {
  shard: number;
  /** The scheduler's final state, e.g. COMPLETED, FAILED, CANCELLED, TIMEOUT; UNKNOWN once it forgot the task. */
  state: string;
  /** Wall-clock seconds the task ran, when the scheduler reports it. */
  seconds: number | null;
}

/**
 * Runs the shards of a sweep somewhere. Every task runs `backdoor run-shard <plan> --index i` against a runs folder
 * all tasks share, so a launcher only decides where and when tasks run (Slurm job array, Kubernetes Indexed Job, …).
 */
export interface Launcher {
  name: string;
  /** A submission of this sweep that is still queued or running (waited for instead of submitting it twice). */
  active(ctx: LaunchContext): Promise<Submission | null>;
  submit(ctx: LaunchContext, shards: number[]): Promise<Submission>;
  /** Resolves once every task of the submission has ended. */
  wait(ctx: LaunchContext, submission: Submission): Promise<TaskStatus[]>;
}
