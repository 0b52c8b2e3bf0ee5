import type * as tf from '@tensorflow/tfjs';
import type { Features, ViewName } from '../data/features/types.js';
import type { Plugin } from '../util/plugin.js';

export type FeatureNames = Pick<Features, 'names' | 'sources' | 'staticChannels'>;

export type RawModelConfig = Record<string, unknown>;

/** A model instance: differentiable logits for training and integrated gradients, a penultimate layer for detectors. */
export interface BuiltModel {
  /**
   * Logits, shape [batch]. `dropoutSeed` makes training-time dropout masks reproducible: the trainer draws it
   * from the run's RNG every step. Without it (inference) dropout is off.
   */
  logits(x: tf.Tensor, dropoutSeed?: number): tf.Tensor1D;
  /** The representation feeding the output layer, shape [batch, units]. */
  penultimate(x: tf.Tensor): tf.Tensor2D;
  trainableWeights(): tf.Variable[];
  /**
   * The most rows one gradient computation through this model should take at once (integrated gradients
   * batches its path points by input size otherwise); for models whose activations per row are much larger
   * than the row, e.g. attention maps. Absent: no limit beyond the caller's.
   */
  readonly gradientBatchRows?: number;
  /**
   * Fine-pruning (Liu et al. 2018): what one prunable unit of the penultimate representation is, in words, for
   * models that define one. Absent: the model has no sensible unit and pruning defences refuse it.
   */
  readonly prunableUnits?: string;
  /**
   * Zeroes the penultimate units whose mask entry is 0, in inference and training alike (so fine-tuning keeps
   * them pruned); `null` restores every unit. Present exactly when `prunableUnits` is.
   */
  pruneUnits?(mask: Uint8Array | null): void;
  /** Writes the model into `dir` in TF.js format (model.json + weights.bin). */
  save(dir: string): Promise<void>;
  dispose(): void;
}

export interface ModelSpec<C = RawModelConfig> extends Plugin {
  view: ViewName;
  /**
   * Validates the `model:` section of the config against `params` (src/util/plugin.ts validateParams, which
   * fills in the defaults) plus any rule across keys; one-line errors naming the key and the valid values.
   */
  resolveConfig(raw: RawModelConfig): C;
  /**
   * Builds a fresh model; all initial weights derive from `seed`. `features` names the columns (tabular) or
   * channels (sequence) and their source variables, for models that group inputs by variable.
   */
  build(rowShape: number[], config: C, seed: number | string, features?: FeatureNames): BuiltModel;
  /** Loads a model saved by `save` (for `evaluate`, detectors and resume). */
  load(dir: string, config: C): Promise<BuiltModel>;
}
