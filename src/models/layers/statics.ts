import * as tf from '@tensorflow/tfjs';

import { UserError } from '../../util/errors.js';

/**
 * The sequence view repeats the statics (age, sex, weight, admission type) as the last `k` channels of every
 * hour (src/data/features/sequence.ts). A sequence model runs its recurrence or convolutions over the other
 * channels and joins the statics, read once, to its sequence representation before the output layer, as the
 * MIMIC-III benchmark's LSTM does with its static inputs (Harutyunyan et al. 2019).
 */
export function splitStatics(x: tf.Tensor3D, k: number): { sequence: tf.Tensor3D; statics: tf.Tensor2D | null } {
  if (k === 0) return { sequence: x, statics: null };
  const [B, T, C] = x.shape;
  const sequence = tf.slice(x, [0, 0, 0], [B, T, C - k]);
  const statics = tf.reshape(tf.slice(x, [0, T - 1, C - k], [B, 1, k]), [B, k]) as tf.Tensor2D;
  return { sequence, statics };
}

/** The representation with the statics appended: [batch, units + k]. */
export function joinStatics(h: tf.Tensor2D, statics: tf.Tensor2D | null): tf.Tensor2D {
  return statics === null ? h : tf.concat([h, statics], 1);
}

/** Static channels a new sequence model reads: the featurizer's count, checked against the row's channels. */
export function staticChannelsFor(owner: string, rowShape: number[], staticChannels: number | undefined): number {
  const k = staticChannels ?? 0;
  if (!Number.isInteger(k) || k < 0 || k >= rowShape[1]) throw new UserError(`${owner}: ${k} static channels do not fit rows of shape [${rowShape.join(', ')}]`);
  return k;
}
