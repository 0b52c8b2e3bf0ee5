import * as tf from '@tensorflow/tfjs';

import { dense } from './dense.js';
import { dropout } from './dropout.js';

export interface AttentionParams {
  /** [d, 3d]: query, key and value projections side by side, each head's columns contiguous. */
  qkvKernel: tf.Tensor2D;
  qkvBias: tf.Tensor1D;
  /** [d, d] output projection. */
  outKernel: tf.Tensor2D;
  outBias: tf.Tensor1D;
}

export interface AttentionOptions {
  heads: number;
  /**
   * false: only token 0 (the CLS token) asks queries; its row is all a model reading the CLS token needs from
   * its last block (the FT-Transformer implementation does the same), at 1/N of the attention cost.
   */
  allQueries: boolean;
  /** Dropout on the attention probabilities while training. */
  dropout?: { rate: number; seed: number };
}

export interface AttentionResult {
  /** [B, Nq, d] with Nq = N, or 1 without `allQueries`. */
  out: tf.Tensor3D;
  /** Attention probabilities [B, heads, Nq, N] (before dropout). */
  probs: tf.Tensor4D;
}

/** [B, N, h·dh] → [B·h, N, dh]. */
function splitHeads(t: tf.Tensor, B: number, N: number, h: number, dh: number): tf.Tensor3D {
  return t.reshape([B, N, h, dh]).transpose([0, 2, 1, 3]).reshape([B * h, N, dh]);
}

/**
 * Multi-head scaled dot-product self-attention (Vaswani et al. 2017) from tf ops: x [B, N, d] → [B, Nq, d].
 * The query, key and value projections are one matMul over all tokens (or, without `allQueries`, one for the
 * keys and values and one for the CLS query).
 */
export function multiHeadSelfAttention(x: tf.Tensor3D, p: AttentionParams, opts: AttentionOptions): AttentionResult {
  const [B, N, d] = x.shape;
  const h = opts.heads;
  const dh = d / h;
  if (!Number.isInteger(dh)) throw new Error(`attention: width ${d} is not divisible by ${h} heads`);
  const x2 = x.reshape([B * N, d]) as tf.Tensor2D;
  let q: tf.Tensor3D;
  let k: tf.Tensor3D;
  let v: tf.Tensor3D;
  let Nq: number;
  if (opts.allQueries) {
    Nq = N;
    const qkv = dense(x2, p.qkvKernel, p.qkvBias);
    // [B, N, 3h, dh] → [B, 3h, N, dh], then q, k, v are blocks of the head axis. A rank-4 transpose: the
    // wasm Transpose took 74 ms on [256, 23, 3, 4, 8] with rank-5 perm [2, 0, 3, 1, 4], 1.3 ms at rank 4.
    const parts = qkv.reshape([B, N, 3 * h, dh]).transpose([0, 2, 1, 3]);
    [q, k, v] = tf.split(parts, 3, 1).map((t) => t.reshape([B * h, N, dh]) as tf.Tensor3D);
  } else {
    Nq = 1;
    const [wq, wkv] = tf.split(p.qkvKernel, [d, 2 * d], 1);
    const [bq, bkv] = tf.split(p.qkvBias, [d, 2 * d], 0);
    const cls = tf.slice(x, [0, 0, 0], [B, 1, d]).reshape([B, d]) as tf.Tensor2D;
    q = splitHeads(dense(cls, wq as tf.Tensor2D, bq as tf.Tensor1D), B, 1, h, dh);
    const kv = dense(x2, wkv as tf.Tensor2D, bkv as tf.Tensor1D);
    const parts = kv.reshape([B, N, 2 * h, dh]).transpose([0, 2, 1, 3]);
    [k, v] = tf.split(parts, 2, 1).map((t) => t.reshape([B * h, N, dh]) as tf.Tensor3D);
  }
  const scores = tf.matMul(tf.mul(q, 1 / Math.sqrt(dh)), k, false, true);
  const probs = tf.softmax(scores);
  const used = opts.dropout && opts.dropout.rate > 0 ? dropout(probs, opts.dropout.rate, opts.dropout.seed) : probs;
  const heads = tf.matMul(used, v); // [B·h, Nq, dh]
  const merged = heads.reshape([B, h, Nq, dh]).transpose([0, 2, 1, 3]).reshape([B * Nq, d]);
  const out = dense(merged as tf.Tensor2D, p.outKernel, p.outBias).reshape([B, Nq, d]) as tf.Tensor3D;
  return { out, probs: probs.reshape([B, h, Nq, N]) as tf.Tensor4D };
}
