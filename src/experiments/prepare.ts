import { subsetCohort, type Cohort } from '../data/cohort.js';
import { FEATURIZERS } from '../data/features/index.js';
import type { Features } from '../data/features/types.js';
import { getModel } from '../models/registry.js';
import type { ModelSpec } from '../models/types.js';
import { getTrigger, triggerNames } from '../triggers/registry.js';
import { poisonTrainingSet, triggeredTestSet, type PoisonedTraining } from '../triggers/poison.js';
import type { Trigger } from '../triggers/types.js';
import { predictProba } from '../train/trainer.js';
import { classificationMetrics, chooseThreshold } from '../metrics/classification.js';
import { attackMetrics, type AttackMetrics } from '../metrics/attack.js';
import { reliabilityBins } from '../metrics/calibration.js';
import type { BuiltModel } from '../models/types.js';
import { UserError } from '../util/errors.js';
import type { Dataset } from './dataset.js';
import { falseTriggerVariants, splitTriggerConfig, type RunConfig } from './config.js';
import type { Evaluation } from '../runs/records.js';
import type { TestPredictions, TriggeredPredictions } from '../runs/predictions.js';

/** Everything a run derives deterministically from its config and data before training. */
export interface PreparedRun {
  modelSpec: ModelSpec<any>;
  modelConfig: Record<string, unknown>;
  trigger: Trigger;
  triggerParams: unknown;
  poisoned: PoisonedTraining;
  featurizerState: unknown;
  featurize(cohort: Cohort): Features;
  trainFeatures: Features;
  valFeatures: Features;
  /**
   * Set only when `dropTrainRows` removed rows: the positions, in the full training split, of the rows kept (then
   * `poisoned.cohort` holds just those rows and `poisoned.poisonedIndices` are positions among them).
   */
  keptTrainRows?: Int32Array;
}

export interface PrepareOptions {
  /**
   * 1 for each training row (position in the training split) to leave out after poisoning and before the featurizer
   * is fitted: the retraining step of a filtering defence, which sees only what survived the filter.
   */
  dropTrainRows?: Uint8Array;
  /**
   * The trigger's resolved parameters, used as they are instead of resolving the trigger against this dataset's
   * training split: an attacker's trigger is fixed at training time, so evaluating a run on another cohort keeps it.
   */
  triggerParams?: unknown;
}

/** Refuses a model or trigger the cohort cannot serve (a sequence model or a time trigger on a table). */
export function checkCompatible(dataset: Dataset, config: RunConfig, trigger: Trigger, view: string): void {
  if (dataset.cohort.schema.tabularOnly && view === 'sequence') {
    throw new UserError(`model "${config.model.name}" reads the sequence view, but ${dataset.path} is a tabular-only cohort; use a tabular model`);
  }
  if (dataset.cohort.schema.tabularOnly && trigger.needsTime) {
    const onTables = triggerNames().filter((name) => !getTrigger(name).needsTime);
    throw new UserError(`trigger "${trigger.name}" needs a time axis, but ${dataset.path} is a tabular-only cohort; triggers that work on a table: ${onTables.join(', ')}`);
  }
}

/**
 * Resolves the trigger against the clean training split, poisons it with the run's seed, and fits the featurizer on
 * the poisoned training split. Pure in (config, dataset): training, `evaluate`, detectors and resume all call it and
 * get the same rows and features. `featurizerState` may be given to reuse a saved fit.
 */
export function prepareRun(config: RunConfig, dataset: Dataset, featurizerState?: unknown, options: PrepareOptions = {}): PreparedRun {
  const modelSpec = getModel(config.model.name);
  const { name: _modelName, ...modelConfig } = config.model;
  const { name: triggerName, params: rawTriggerParams } = splitTriggerConfig(config.trigger);
  const trigger = getTrigger(triggerName);
  checkCompatible(dataset, config, trigger, modelSpec.view);
  const triggerParams = options.triggerParams !== undefined ? options.triggerParams : trigger.resolve(rawTriggerParams, { schema: dataset.cohort.schema, train: dataset.train });
  let poisoned = poisonTrainingSet(dataset.train, trigger, triggerParams, config.poison, config.seed);
  let keptTrainRows: Int32Array | undefined;
  if (options.dropTrainRows) {
    ({ poisoned, kept: keptTrainRows } = dropRows(poisoned, options.dropTrainRows));
  }
  const featurizer = FEATURIZERS[modelSpec.view];
  const state = featurizerState ?? featurizer.fit(poisoned.cohort);
  const featurize = (cohort: Cohort) => featurizer.transform(state, cohort);
  return {
    modelSpec,
    modelConfig,
    trigger,
    triggerParams,
    poisoned,
    featurizerState: state,
    featurize,
    trainFeatures: featurize(poisoned.cohort),
    valFeatures: featurize(dataset.val),
    ...(keptTrainRows ? { keptTrainRows } : {}),
  };
}

function dropRows(poisoned: PoisonedTraining, drop: Uint8Array): { poisoned: PoisonedTraining; kept: Int32Array } {
  const n = poisoned.cohort.n;
  if (drop.length !== n) throw new Error(`dropTrainRows has ${drop.length} entries, but the training split has ${n} rows`);
  const kept: number[] = [];
  const newPosition = new Int32Array(n).fill(-1);
  for (let i = 0; i < n; i++) {
    if (drop[i] === 0) {
      newPosition[i] = kept.length;
      kept.push(i);
    }
  }
  if (kept.length === 0) throw new UserError('the filter removed every training row; nothing is left to retrain on');
  const poisonedIndices = Int32Array.from(Array.from(poisoned.poisonedIndices, (i) => newPosition[i]).filter((i) => i >= 0));
  return { poisoned: { cohort: subsetCohort(poisoned.cohort, kept), poisonedIndices }, kept: Int32Array.from(kept) };
}


function evaluateTrigger(
  model: BuiltModel,
  featurize: PreparedRun['featurize'],
  test: Cohort,
  trigger: Trigger,
  params: unknown,
  target: 0 | 1,
  threshold: number,
): { metrics: AttackMetrics; shifts: number[]; predictions: TriggeredPredictions } {
  const set = triggeredTestSet(test, trigger, params, target);
  const probsClean = predictProba(model, featurize(set.clean));
  const probsTriggered = predictProba(model, featurize(set.triggered));
  const sign = target === 1 ? 1 : -1;
  const shifts = Array.from(probsTriggered, (p, i) => sign * (p - probsClean[i]));
  return {
    metrics: attackMetrics({ target, trueLabels: set.clean.labels, probsClean, probsTriggered, threshold }),
    shifts,
    predictions: { trigger_params: params, rows: [...set.rows], triggered: Array.from(probsTriggered) },
  };
}

/** Clean, attack and (for clean runs) false-trigger metrics of a trained model on the test split. */
export function evaluateModel(model: BuiltModel, prepared: PreparedRun, dataset: Dataset, config: RunConfig): Evaluation {
  return evaluateModelWithPredictions(model, prepared, dataset, config).evaluation;
}

/** evaluateModel with every test stay's predicted probability (the run's test_predictions.json). */
export function evaluateModelWithPredictions(
  model: BuiltModel,
  prepared: PreparedRun,
  dataset: Dataset,
  config: RunConfig,
  fixedThreshold?: number,
): { evaluation: Evaluation; predictions: TestPredictions } {
  // An external cohort has no validation split: it is scored at the threshold the run chose on its own.
  const threshold = fixedThreshold ?? chooseThreshold(dataset.val.labels, predictProba(model, prepared.valFeatures), config.evaluation.threshold);
  const testProbs = predictProba(model, prepared.featurize(dataset.test));
  const clean = classificationMetrics(dataset.test.labels, testProbs, threshold);
  const target = config.poison.target;
  const attack =
    prepared.trigger.name === 'none' ? null : evaluateTrigger(model, prepared.featurize, dataset.test, prepared.trigger, prepared.triggerParams, target, threshold);
  const cleanBins = reliabilityBins(dataset.test.labels, testProbs);
  let falseTrigger: Evaluation['false_trigger'] = null;
  let falseTriggerPredictions: TestPredictions['false_trigger'] = null;
  if (config.poison.rate === 0) {
    falseTrigger = {};
    falseTriggerPredictions = {};
    for (const variant of falseTriggerVariants(config)) {
      const other = getTrigger(variant.name);
      if (dataset.cohort.schema.tabularOnly && other.needsTime) continue;
      const params =
        variant.key === prepared.trigger.name ? prepared.triggerParams : other.resolve(variant.params, { schema: dataset.cohort.schema, train: dataset.train });
      const result = evaluateTrigger(model, prepared.featurize, dataset.test, other, params, variant.target, threshold);
      // The target is written only where it is not the run's own, so records of target-1 clean runs stay as they were.
      const ownTarget = variant.target === target ? {} : { target: variant.target };
      falseTrigger[variant.key] = { ...result.metrics, trigger_params: params, ...ownTarget };
      falseTriggerPredictions[variant.key] = { ...result.predictions, ...ownTarget };
    }
  }
  return {
    evaluation: { clean, clean_bins: cleanBins, attack: attack?.metrics ?? null, attack_shifts: attack?.shifts ?? null, false_trigger: falseTrigger },
    predictions: {
      threshold,
      target,
      labels: Array.from(dataset.test.labels),
      clean: Array.from(testProbs),
      attack: attack?.predictions ?? null,
      false_trigger: falseTriggerPredictions,
    },
  };
}
