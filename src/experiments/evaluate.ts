import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { readCheckpoint, resolveCheckpointPath, checkpointName } from '../train/checkpoint.js';
import { UserError } from '../util/errors.js';
import { loadRun, type LoadRunOptions } from './load-run.js';
import { prepareRun, evaluateModelWithPredictions } from './prepare.js';
import { loadDataset } from './dataset.js';
import { rebindTriggerParams } from './trigger-params.js';
import { getTrigger } from '../triggers/registry.js';
import type { Evaluation } from '../runs/records.js';
import { CHECKPOINTS_DIR } from '../runs/layout.js';
import { resolveRunConfig, triggerDefaults } from './config.js';

export interface EvaluateOptions extends LoadRunOptions {
  /** A checkpoint folder, or an epoch number of the run's kept checkpoints; default: the saved model (train.select: best or last epoch). */
  checkpoint?: string;
  /** Evaluate another trigger against this model, to test transfer: its defaults, resolved against the run's own training split. */
  trigger?: string;
}

/** Fewer events (positive test stays) than this make the test split's AUROC and rates unreliable: the output warns. */
export const MIN_TEST_EVENTS = 10;

export interface EvaluateResult {
  runDir: string;
  data: string;
  trigger: string;
  checkpoint: string | null;
  evaluation: Evaluation;
  /** The trigger's resolved parameters the attack was evaluated with. */
  trigger_params: unknown;
  /** Where the test stays came from: the run's own split, given or neighbouring splits, or the whole cohort. */
  test_set: string;
  n_test: number;
  n_events: number;
  /** Problems the numbers carry: missing variables, a small test split. */
  warnings: string[];
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
      // The named trigger's defaults, resolved where the attacker would have: on the run's own training split.
      const ownData = options.data || options.splits ? await loadDataset(ctx.ownData.path, ctx.ownData.splits) : ctx.dataset;
      const trigger = getTrigger(options.trigger);
      const resolved = trigger.resolve(triggerDefaults(options.trigger), { schema: ownData.cohort.schema, train: ownData.train });
      const triggerParams = ownData === ctx.dataset ? resolved : rebindTriggerParams(resolved, ctx.dataset.cohort.schema, ctx.dataset.path);
      prepared = prepareRun(config, ctx.dataset, ctx.prepared.featurizerState, { triggerParams });
    }
    const external = ctx.testSet === 'whole cohort';
    const evaluation = evaluateModelWithPredictions(ctx.model, prepared, ctx.dataset, config, external ? ctx.metrics.clean.threshold : undefined).evaluation;
    const warnings: string[] = [];
    const absent = prepared.featurize(ctx.dataset.test).absentSources ?? [];
    if (absent.length > 0) warnings.push(`${ctx.dataset.path} lacks ${absent.length} of the run's variables, imputed as never charted: ${absent.join(', ')}`);
    let events = 0;
    for (const y of ctx.dataset.test.labels) events += y;
    if (events < MIN_TEST_EVENTS) warnings.push(`the test set holds ${events} event${events === 1 ? '' : 's'} (fewer than ${MIN_TEST_EVENTS}): its AUROC and rates are unreliable`);
    const own = !options.data && !options.splits && !checkpoint && config === ctx.config;
    const saved = ctx.metrics;
    const matchesSaved = own
      ? JSON.stringify({ c: evaluation.clean, a: evaluation.attack, f: evaluation.false_trigger }) === JSON.stringify({ c: saved.clean, a: saved.attack, f: saved.false_trigger })
      : null;
    return {
      runDir,
      data: ctx.dataset.path,
      trigger: config.trigger.name,
      checkpoint,
      evaluation,
      trigger_params: prepared.triggerParams,
      test_set: ctx.testSet,
      n_test: ctx.dataset.test.n,
      n_events: events,
      warnings,
      matchesSaved,
    };
  } finally {
    ctx.model.dispose();
  }
}
