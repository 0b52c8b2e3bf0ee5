import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import YAML from 'yaml';
import { readFileSync } from 'node:fs';
import { UserError } from '../util/errors.js';
import { readCheckpoint, resolveCheckpointPath } from '../train/checkpoint.js';
import { resolveRunConfig, type RunConfig } from './config.js';
import { partialDirFor, RUN_FILES } from './run.js';

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
  } else if (existsSync(join(full, 'checkpoints'))) {
    root = full;
    checkpoints = join(full, 'checkpoints');
  } else if (existsSync(join(partialDirFor(full), 'checkpoints'))) {
    root = partialDirFor(full);
    checkpoints = join(root, 'checkpoints');
  } else {
    throw new UserError(`nothing to resume at ${path}: give a checkpoint folder, a run folder with checkpoints, or an interrupted run's folder`);
  }
  const configPath = join(root, RUN_FILES.config);
  if (!existsSync(configPath)) throw new UserError(`cannot resume ${path}: ${configPath} is missing`);
  let saved: unknown;
  try {
    saved = YAML.parse(readFileSync(configPath, 'utf8'));
  } catch (err) {
    throw new UserError(`cannot resume ${path}: ${configPath} is not valid YAML (${(err as Error).message.split('\n')[0]})`);
  }
  if (typeof saved !== 'object' || saved === null || Array.isArray(saved)) throw new UserError(`cannot resume ${path}: ${configPath} is not a YAML mapping of key: value`);
  const config = resolveRunConfig({ overrides: saved as Record<string, unknown> });
  const checkpoint = await resolveCheckpointPath(checkpoints);
  // Validated here, before any run starts, so a damaged checkpoint is one line and nothing is written.
  await readCheckpoint(checkpoint);
  return { config, runsDir, checkpoint };
}
