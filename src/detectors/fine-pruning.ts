import type { Features } from '../data/features/types.js';
import { auroc } from '../metrics/classification.js';
import type { BuiltModel } from '../models/types.js';
import { predictProba } from '../train/trainer.js';
import { UserError } from '../util/errors.js';
import { validateParams, type ParamSchema } from '../util/plugin.js';
import { penultimateRepresentations } from './representations.js';
import { need, type Detector, type RawDetectorParams } from './types.js';

/**
 * Fine-pruning (Liu, Dolan-Gavitt & Garg, RAID 2018), pruning step: backdoor units lie dormant on clean inputs, so
 * pruning the penultimate units least active on clean validation data, in increasing order of mean activation,
 * removes them before it costs clean performance. Pruning stops before clean validation AUROC falls more than
 * `auroc_drop` below the unpruned model's. As a row score, a training row's activation on the pruned (dormant) units:
 * triggered rows wake them. The fine-tuning step changes the model and lives with the experiments (repair).
 */
export interface FinePruningParams {
  auroc_drop: number;
  step_share: number;
  fine_tune_epochs: number;
  fine_tune_learning_rate: number;
}

const LIU = 'Liu, Dolan-Gavitt & Garg 2018, "Fine-Pruning: Defending Against Backdooring Attacks on Deep Neural Networks", RAID';

export const FINE_PRUNING_PARAMS: ParamSchema = {
  auroc_drop: {
    type: 'number',
    min: 0,
    max: 1,
    default: 0.04,
    description: 'Prune while clean validation AUROC stays within this of the unpruned model (Liu et al. stop at a 4-point clean-accuracy drop)',
    citation: LIU,
  },
  step_share: { type: 'number', min: 0, minOpen: true, max: 1, default: 0.02, description: 'Share of the units pruned per step of the search' },
  fine_tune_epochs: { type: 'integer', min: 0, max: 1000, default: 10, unit: 'epochs', description: 'Fine-tuning passes over the clean validation split after pruning' },
  fine_tune_learning_rate: { type: 'number', min: 0, minOpen: true, max: 1, default: 0.0001, description: "Fine-tuning step size, small so fine-tuning repairs rather than retrains", citation: LIU },
};

export interface PruningResult {
  /** 1 = unit kept, 0 = pruned. */
  mask: Uint8Array;
  pruned: number;
  units: number;
  baseAuroc: number;
  prunedAuroc: number;
  /** Mean activation of each unit on the clean validation rows. */
  meanActivation: Float64Array;
}

/** Why fine-pruning cannot run on `model`, or null when the model defines prunable units. */
export function unprunableReason(model: BuiltModel, modelName = 'this model'): string | null {
  return model.pruneUnits && model.prunableUnits ? null : `${modelName} defines no prunable units (its penultimate representation is not a layer of units); valid models: mlp, lstm, tcn`;
}

export function checkPrunable(model: BuiltModel, modelName = 'this model'): asserts model is BuiltModel & Required<Pick<BuiltModel, 'pruneUnits' | 'prunableUnits'>> {
  const reason = unprunableReason(model, modelName);
  if (reason !== null) throw new UserError(`fine_pruning: ${reason}`);
}

/** The pruning search; the model is left unpruned. */
export function pruneDormantUnits(model: BuiltModel, validation: { features: Features; labels: Uint8Array }, aurocDrop: number, stepShare: number): PruningResult {
  checkPrunable(model);
  const reps = penultimateRepresentations(model, validation.features);
  const units = reps.cols;
  const meanActivation = new Float64Array(units);
  for (let i = 0; i < reps.rows; i++) for (let u = 0; u < units; u++) meanActivation[u] += reps.data[i * units + u] / reps.rows;
  const order = Array.from({ length: units }, (_, u) => u).sort((a, b) => meanActivation[a] - meanActivation[b] || a - b);
  const baseAuroc = auroc(validation.labels, predictProba(model, validation.features));
  const step = Math.max(1, Math.round(stepShare * units));
  let accepted = new Uint8Array(units).fill(1);
  let prunedAuroc = baseAuroc;
  try {
    // Keep at least one unit: a model with none left predicts a constant.
    for (let k = step; k < units; k += step) {
      const mask = new Uint8Array(units).fill(1);
      for (let r = 0; r < k; r++) mask[order[r]] = 0;
      model.pruneUnits(mask);
      const value = auroc(validation.labels, predictProba(model, validation.features));
      if (value < baseAuroc - aurocDrop) break;
      accepted = mask;
      prunedAuroc = value;
    }
  } finally {
    model.pruneUnits(null);
  }
  let pruned = 0;
  for (const m of accepted) pruned += 1 - m;
  return { mask: accepted, pruned, units, baseAuroc, prunedAuroc, meanActivation };
}

export const finePruning: Detector<FinePruningParams> = {
  name: 'fine_pruning',
  description: 'Fine-pruning (Liu et al. 2018): prune penultimate units dormant on clean validation data; rows scored by activation on the pruned units',
  params: FINE_PRUNING_PARAMS,
  resolve(raw: RawDetectorParams): FinePruningParams {
    return validateParams('fine_pruning', FINE_PRUNING_PARAMS, raw, { owner: 'fine_pruning' }) as unknown as FinePruningParams;
  },
  notApplicable(input) {
    return input.model ? unprunableReason(input.model, input.modelName) : null;
  },
  score(input, params) {
    const model = need(input.model, 'the trained model', 'fine_pruning');
    const validation = need(input.validation, 'the clean validation split', 'fine_pruning');
    const reps = need(input.representation, 'penultimate representations', 'fine_pruning')();
    checkPrunable(model, input.modelName);
    const result = pruneDormantUnits(model, validation, params.auroc_drop, params.step_share);
    const n = input.labels.length;
    const scores = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let u = 0; u < reps.cols; u++) if (result.mask[u] === 0) s += Math.abs(reps.data[i * reps.cols + u]);
      scores[i] = s;
    }
    return {
      scores,
      flagged: new Uint8Array(n),
      details: {
        prunable_units: model.prunableUnits,
        units: result.units,
        pruned: result.pruned,
        pruned_units: Array.from(result.mask.keys()).filter((u) => result.mask[u] === 0),
        validation_auroc_before: result.baseAuroc,
        validation_auroc_pruned: result.prunedAuroc,
      },
    };
  },
};
