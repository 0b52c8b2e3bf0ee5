import type * as tf from '@tensorflow/tfjs';
import type { ViewName } from '../data/features/types.js';

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
  /** Writes the model into `dir` in TF.js format (model.json + weights.bin). */
  save(dir: string): Promise<void>;
  dispose(): void;
}

export interface ModelSpec<C = RawModelConfig> {
  name: string;
  description: string;
  view: ViewName;
  /** Validates the `model:` section of the config; one-line errors naming the key and the valid values. */
  resolveConfig(raw: RawModelConfig): C;
  /** Builds a fresh model; all initial weights derive from `seed`. */
  build(rowShape: number[], config: C, seed: number | string): BuiltModel;
  /** Loads a model saved by `save` (for `evaluate`, detectors and resume). */
  load(dir: string, config: C): Promise<BuiltModel>;
}
