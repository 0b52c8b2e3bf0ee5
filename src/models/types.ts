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
  /** The model as a tf.LayersModel for saving in TF.js format (model.json + weights). */
  layersModel(): tf.LayersModel;
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
  /** Rebuilds a model around a saved tf.LayersModel (for `evaluate` and resume). */
  fromLayersModel(model: tf.LayersModel, config: C): BuiltModel;
}
