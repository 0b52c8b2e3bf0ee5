import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UserError } from '../util/errors.js';
import { readCheckpoint, resolveCheckpointPath } from '../train/checkpoint.js';
import { resolveRunConfig, type RunConfig } from './config.js';
import { CHECKPOINTS_DIR, partialDirFor, RUN_FILES } from '../runs/layout.js';
import { readConfigRecord } from '../runs/records.js';

export interface ResumeTarget {
  config: RunConfig;
  /** The runs folder the resumed run goes into: the one given (--runs-dir), never one derived from the checkpoint's path. */
  runsDir: string;
  checkpoint: string;
}

/**
 * `--resume` accepts a checkpoint folder (…/checkpoints/epoch_0003), a finished run folder (its latest kept
 * checkpoint), an interrupted run folder (the checkpoints of its hidden `.seed_N.partial` sibling), or that
 * partial folder itself. The config is the one saved beside the checkpoints; the run goes into `runsDir`.
 */
export async function resolveResume(path: string, runsDir: string): Promise<ResumeTarget> {
  const full = resolve(path);
  let root: string;
  let checkpoints: string;
  if (existsSync(join(full, 'checkpoint.json'))) {
    checkpoints = full;
    root = dirname(dirname(full));
  } else if (existsSync(join(full, CHECKPOINTS_DIR))) {
    root = full;
    checkpoints = join(full, CHECKPOINTS_DIR);
  } else if (existsSync(join(partialDirFor(full), CHECKPOINTS_DIR))) {
    root = partialDirFor(full);
    checkpoints = join(root, CHECKPOINTS_DIR);
  } else {
    throw new UserError(`nothing to resume at ${path}: give a checkpoint folder, a run folder with checkpoints, or an interrupted run's folder`);
  }
  const configPath = join(root, RUN_FILES.config);
  if (!existsSync(configPath)) throw new UserError(`cannot resume ${path}: ${configPath} is missing`);
  const config = resolveRunConfig({ overrides: await readConfigRecord(root) });
  const checkpoint = await resolveCheckpointPath(checkpoints);
  // Validated here, before any run starts, so a damaged checkpoint is one line and nothing is written.
  await readCheckpoint(checkpoint);
  return { config, runsDir, checkpoint };
}
