import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { readCheckpoint, resolveCheckpointPath, checkpointName } from '../train/checkpoint.js';
import { UserError } from '../util/errors.js';
import { loadRun, type LoadRunOptions } from './load-run.js';
import { prepareRun, evaluateModel } from './prepare.js';
import type { Evaluation } from '../runs/records.js';
import { CHECKPOINTS_DIR } from '../runs/layout.js';
import { resolveRunConfig } from './config.js';

export interface EvaluateOptions extends LoadRunOptions {
  /** A checkpoint folder, or an epoch number of the run's kept checkpoints; default: the saved model (train.select: best or last epoch). */
  checkpoint?: string;
  /** Evaluate another trigger (its schema defaults) against this model, to test transfer. */
  trigger?: string;
}

export interface EvaluateResult {
  runDir: string;
  data: string;
  trigger: string;
  checkpoint: string | null;
  evaluation: Evaluation;
  /** True when the recomputation used the run's own model, data and trigger and reproduced metrics.json exactly. */
  matchesSaved: boolean | null;
}

/** Recomputes every metric of a run from its saved model, config and data (or another trigger or data file). */
export async function evaluateRun(runDir: string, options: EvaluateOptions = {}): Promise<EvaluateResult> {
  const ctx = await loadRun(runDir, options);
  try {
    let checkpoint: string | null = null;
    if (options.checkpoint) {
      const path = /^\d+$/.test(options.checkpoint) ? join(runDir, CHECKPOINTS_DIR, checkpointName(Number(options.checkpoint))) : options.checkpoint;
      const state = await readCheckpoint(await resolveCheckpointPath(path));
      if (state.runId !== ctx.metrics.run_id) throw new UserError(`checkpoint ${state.path} belongs to run ${state.runId}, not ${ctx.metrics.run_id}`);
      const weights = ctx.model.trainableWeights();
      if (state.tensors.weights.length !== weights.length) throw new UserError(`checkpoint ${state.path} does not fit this run's model`);
      weights.forEach((w, k) => w.assign(tf.tensor(state.tensors.weights[k], w.shape, 'float32')));
      checkpoint = state.path;
    }
    let prepared = ctx.prepared;
    let config = ctx.config;
    if (options.trigger && options.trigger !== ctx.config.trigger.name) {
      config = resolveRunConfig({ overrides: { ...ctx.config, trigger: { name: options.trigger } } });
      prepared = prepareRun(config, ctx.dataset, ctx.prepared.featurizerState);
    }
    const evaluation = evaluateModel(ctx.model, prepared, ctx.dataset, config);
    const own = !options.data && !options.splits && !checkpoint && config === ctx.config;
    const saved = ctx.metrics;
    const matchesSaved = own
      ? JSON.stringify({ c: evaluation.clean, a: evaluation.attack, f: evaluation.false_trigger }) === JSON.stringify({ c: saved.clean, a: saved.attack, f: saved.false_trigger })
      : null;
    return { runDir, data: ctx.dataset.path, trigger: config.trigger.name, checkpoint, evaluation, matchesSaved };
  } finally {
    ctx.model.dispose();
  }
}
