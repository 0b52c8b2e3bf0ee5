import * as tf from '@tensorflow/tfjs';
import { rowSize, type Features } from '../data/features/types.js';
import type { BuiltModel } from '../models/types.js';
import { matrix, type Matrix } from './linalg.js';

/** Penultimate-layer representations of the rows, computed in batches. */
export function penultimateRepresentations(model: BuiltModel, features: Features, batchSize = 1024): Matrix {
  const size = rowSize(features);
  let out: Matrix | null = null;
  for (let start = 0; start < features.n; start += batchSize) {
    const end = Math.min(features.n, start + batchSize);
    const h = tf.tidy(() => model.penultimate(tf.tensor(features.x.subarray(start * size, end * size), [end - start, ...features.rowShape], 'float32')));
    const units = h.shape[1];
    out ??= matrix(features.n, units);
    out.data.set(h.dataSync(), start * units);
    h.dispose();
  }
  return out ?? matrix(0, 0);
}
