import * as tf from '@tensorflow/tfjs';

import type { BuiltModel, FeatureNames, ModelSpec, RawModelConfig } from './types.js';
import { validateParams, type ParamSchema } from '../util/plugin.js';
import { ParamModel, buildParams, loadPlanned, outputPlan, type ParamSpec, type Stored } from './layers/base.js';
import { multiHeadSelfAttention } from './layers/attention.js';
import { dense } from './layers/dense.js';
import { dropout } from './layers/dropout.js';
import { layerNorm } from './layers/layer-norm.js';
import { UserError } from '../util/errors.js';

export interface TabTransformerConfig {
  /**
   * `variable`: one token per source variable (the summed embeddings of its features: aggregates and missing
   * indicator, or a static's columns); `feature`: one token per feature column, as in FT-Transformer.
   */
  tokenizer: 'variable' | 'feature';
  d_token: number;
  heads: number;
  blocks: number;
  ffn_hidden: number;
  attention_dropout: number;
  ffn_dropout: number;
  residual_dropout: number;
  /** Dropout on the CLS representation before the output layer. */
  dropout: number;
}

/** Which token each input column feeds, fixed at build time from the feature names. */
interface TokenLayout {
  token_names: string[];
  /** token_of[j] = token index (0-based, CLS excluded) of input column j. */
  token_of: number[];
}

type StoredConfig = TabTransformerConfig & TokenLayout;

const TOKENIZERS = ['variable', 'feature'] as const;

const RATE = { type: 'number', min: 0, max: 1, maxOpen: true } as const;

export const TABTRANSFORMER_PARAMS: ParamSchema = {
  tokenizer: {
    type: 'string',
    choices: TOKENIZERS,
    default: 'variable',
    description: "variable = one token per source variable (its columns' embeddings summed; 22 + CLS on the standard cohort); feature = one token per column, the original FT-Transformer (about 25x the attention cost)",
    citation: 'Gorishniy et al. 2021, "Revisiting Deep Learning Models for Tabular Data"',
  },
  d_token: { type: 'integer', min: 1, default: 16, description: 'Token width d; must be divisible by heads', citation: 'scripts/tune-victims.ts: best mean clean validation AUROC of a 64-candidate grid (dev cohort, seeds 0-2; docs/victim-search.md)' },
  heads: { type: 'integer', min: 1, default: 2, description: 'Attention heads', citation: 'scripts/tune-victims.ts: best mean clean validation AUROC of a 64-candidate grid (dev cohort, seeds 0-2; docs/victim-search.md)' },
  blocks: { type: 'integer', min: 1, default: 1, description: 'Transformer blocks', citation: 'scripts/tune-victims.ts: best mean clean validation AUROC of a 64-candidate grid (dev cohort, seeds 0-2; docs/victim-search.md)' },
  ffn_hidden: { type: 'integer', min: 1, default: 32, unit: 'units', description: "Hidden units of each block's feed-forward network", citation: 'scripts/tune-victims.ts: best mean clean validation AUROC of a 64-candidate grid (dev cohort, seeds 0-2; docs/victim-search.md)' },
  attention_dropout: { ...RATE, default: 0.1, description: 'Dropout on the attention probabilities during training' },
  ffn_dropout: { ...RATE, default: 0.1, description: 'Dropout on the feed-forward hidden layer during training' },
  residual_dropout: { ...RATE, default: 0, description: 'Dropout on each residual branch before it is added' },
  dropout: { ...RATE, default: 0.1, description: 'Dropout on the CLS representation before the output layer' },
};

function resolveConfig(raw: RawModelConfig): TabTransformerConfig {
  const config = validateParams('model', TABTRANSFORMER_PARAMS, raw, { owner: 'tabtransformer' }) as unknown as TabTransformerConfig;
  if (config.d_token % config.heads !== 0) throw new UserError(`model.d_token (${config.d_token}) must be divisible by model.heads (${config.heads})`);
  return config;
}

function tokenLayout(config: TabTransformerConfig, F: number, features?: FeatureNames): TokenLayout {
  if (config.tokenizer === 'feature') {
    const names = features?.names ?? Array.from({ length: F }, (_, j) => `feature_${j}`);
    return { token_names: names.slice(), token_of: names.map((_, j) => j) };
  }
  if (!features || features.sources.length !== F) {
    throw new UserError('tabtransformer with tokenizer: variable needs the features\' source variables (pass them to build), or use tokenizer: feature');
  }
  const token_names: string[] = [];
  const index = new Map<string, number>();
  const token_of = features.sources.map((source) => {
    let t = index.get(source);
    if (t === undefined) {
      t = token_names.length;
      index.set(source, t);
      token_names.push(source);
    }
    return t;
  });
  return { token_names, token_of };
}

function plan({ rowShape, config }: Stored<StoredConfig>): ParamSpec[] {
  const F = rowShape[0];
  const d = config.d_token;
  const f = config.ffn_hidden;
  // Tokenizer and CLS as in FT-Transformer (Gorishniy et al. 2021): U(±1/√d).
  const tokenInit = { kind: 'uniform' as const, limit: 1 / Math.sqrt(d) };
  const dense = (name: string, inputs: number, outputs: number): ParamSpec[] => [
    { name: `${name}/kernel`, shape: [inputs, outputs], init: { kind: 'glorotUniform', fanIn: inputs, fanOut: outputs } },
    { name: `${name}/bias`, shape: [outputs], init: { kind: 'constant', value: 0 } },
  ];
  const norm = (name: string): ParamSpec[] => [
    { name: `${name}/gamma`, shape: [d], init: { kind: 'constant', value: 1 } },
    { name: `${name}/beta`, shape: [d], init: { kind: 'constant', value: 0 } },
  ];
  const specs: ParamSpec[] = [
    { name: 'tokenizer/weight', shape: [F, d], init: tokenInit },
    { name: 'tokenizer/bias', shape: [F, d], init: tokenInit },
    { name: 'cls', shape: [d], init: tokenInit },
  ];
  for (let b = 0; b < config.blocks; b++) {
    // FT-Transformer drops the first block's attention pre-norm: the tokens come straight from the tokenizer.
    if (b > 0) specs.push(...norm(`block${b}/attention_norm`));
    specs.push(
      { name: `block${b}/qkv/kernel`, shape: [d, 3 * d], init: { kind: 'glorotUniform', fanIn: d, fanOut: d } },
      { name: `block${b}/qkv/bias`, shape: [3 * d], init: { kind: 'constant', value: 0 } },
      ...dense(`block${b}/attention_out`, d, d),
      ...norm(`block${b}/ffn_norm`),
      ...dense(`block${b}/ffn0`, d, f),
      ...dense(`block${b}/ffn1`, f, d),
    );
  }
  return [...specs, ...norm('head_norm'), ...outputPlan(d)];
}

class TabTransformer extends ParamModel<StoredConfig> {
  /** Column → token membership [F, tokens] (variable tokenizer only); a constant, not trained. */
  private readonly membership: tf.Tensor2D | null;

  /**
   * Rows per gradient computation for a ~512 MB activation budget. Backpropagation keeps, per row and block,
   * the attention maps (scores, probabilities and their transposes, ~4·heads·N²) and some thirty [N, d]
   * projections; integrated gradients' default batching (17,875 rows of 117 features) ran the wasm heap out
   * of memory.
   */
  get gradientBatchRows(): number {
    const { blocks, heads, d_token: d, token_names } = this.config;
    const N = token_names.length + 1;
    return Math.max(1, Math.floor(2 ** 27 / (blocks * (4 * heads * N * N + 30 * N * d))));
  }

  constructor(owner: string, stored: Stored<StoredConfig>, params: ReturnType<typeof buildParams>) {
    super(owner, stored, params);
    const { token_of, token_names, tokenizer } = stored.config;
    if (tokenizer === 'variable') {
      const m = new Float32Array(token_of.length * token_names.length);
      token_of.forEach((t, j) => (m[j * token_names.length + t] = 1));
      this.membership = tf.tensor2d(m, [token_of.length, token_names.length]);
    } else {
      this.membership = null;
    }
  }

  /** Token names in the order of the attention maps' token axis: CLS first. */
  tokenNames(): string[] {
    return ['[CLS]', ...this.config.token_names];
  }

  /**
   * Tokens [B, 1 + S, d]. Each column j contributes x_j · w_j + b_j (its own embedding vector and bias); the
   * variable tokenizer sums its variable's columns into one token, as one matMul with a block-structured
   * [F, S·d] kernel built from the per-column vectors.
   */
  private tokens(x: tf.Tensor2D): tf.Tensor3D {
    const [B, F] = x.shape;
    const d = this.config.d_token;
    const w = this.p('tokenizer/weight');
    const b = this.p('tokenizer/bias');
    let tokens: tf.Tensor3D;
    if (this.membership === null) {
      tokens = tf.add(tf.mul(x.reshape([B, F, 1]), w), b) as tf.Tensor3D;
    } else {
      const S = this.membership.shape[1];
      const kernel = tf.mul(w.reshape([F, 1, d]), this.membership.reshape([F, S, 1])).reshape([F, S * d]);
      // A separate add, not fused: the wasm _FusedMatMul checks the bias rank of the buffer's first shape,
      // and this bias is a reshaped matMul output (rank 3 there).
      const bias = tf.matMul(this.membership, b, true, false).reshape([S * d]);
      tokens = dense(x, kernel as tf.Tensor2D, bias as tf.Tensor1D).reshape([B, S, d]);
    }
    const cls = tf.add(tf.zeros([B, 1, d]), this.p('cls').reshape([1, 1, d]));
    return tf.concat([cls, tokens], 1) as tf.Tensor3D;
  }

  /**
   * The encoder. With `full`, every block computes attention for all tokens and the maps are returned;
   * otherwise the last block asks only the CLS query (all the output layer reads).
   */
  private encode(x: tf.Tensor2D, dropoutSeed: number | undefined, full: boolean): { cls: tf.Tensor2D; maps: tf.Tensor4D[] } {
    const c = this.config;
    const training = dropoutSeed !== undefined;
    let site = 0;
    const drop = <T extends tf.Tensor>(t: T, rate: number): T => {
      site++;
      return training && rate > 0 ? dropout(t, rate, dropoutSeed! + site) : t;
    };
    let h = this.tokens(x);
    const maps: tf.Tensor4D[] = [];
    for (let b = 0; b < c.blocks; b++) {
      const last = b === c.blocks - 1;
      const normed = b === 0 ? h : layerNorm(h, this.p(`block${b}/attention_norm/gamma`) as tf.Tensor1D, this.p(`block${b}/attention_norm/beta`) as tf.Tensor1D);
      const allQueries = full || !last;
      site++;
      const att = multiHeadSelfAttention(
        normed,
        {
          qkvKernel: this.p(`block${b}/qkv/kernel`) as tf.Tensor2D,
          qkvBias: this.p(`block${b}/qkv/bias`) as tf.Tensor1D,
          outKernel: this.p(`block${b}/attention_out/kernel`) as tf.Tensor2D,
          outBias: this.p(`block${b}/attention_out/bias`) as tf.Tensor1D,
        },
        { heads: c.heads, allQueries, dropout: training ? { rate: c.attention_dropout, seed: dropoutSeed! + site } : undefined },
      );
      if (full) maps.push(att.probs);
      // Without all queries only the CLS row goes on: the residual stream narrows to token 0.
      const stream = allQueries ? h : (tf.slice(h, [0, 0, 0], [h.shape[0], 1, h.shape[2]]) as tf.Tensor3D);
      h = tf.add(stream, drop(att.out, c.residual_dropout));
      const [B, N, d] = h.shape;
      const z = layerNorm(h, this.p(`block${b}/ffn_norm/gamma`) as tf.Tensor1D, this.p(`block${b}/ffn_norm/beta`) as tf.Tensor1D).reshape([B * N, d]) as tf.Tensor2D;
      const hidden = drop(dense(z, this.p(`block${b}/ffn0/kernel`) as tf.Tensor2D, this.p(`block${b}/ffn0/bias`) as tf.Tensor1D, 'relu'), c.ffn_dropout);
      const ffn = dense(hidden, this.p(`block${b}/ffn1/kernel`) as tf.Tensor2D, this.p(`block${b}/ffn1/bias`) as tf.Tensor1D).reshape([B, N, d]);
      h = tf.add(h, drop(ffn, c.residual_dropout));
    }
    const [B, , d] = h.shape;
    const cls = tf.slice(h, [0, 0, 0], [B, 1, d]).reshape([B, d]) as tf.Tensor2D;
    return { cls, maps };
  }

  protected represent(x: tf.Tensor, dropoutSeed?: number): tf.Tensor2D {
    const { cls } = this.encode(x as tf.Tensor2D, dropoutSeed, false);
    // FT-Transformer's head: LayerNorm, ReLU, then the linear output layer.
    return tf.relu(layerNorm(cls, this.p('head_norm/gamma') as tf.Tensor1D, this.p('head_norm/beta') as tf.Tensor1D));
  }

  /** Attention maps of every block, [batch, heads, tokens, tokens] each, tokens ordered as `tokenNames()`. */
  attention(x: tf.Tensor): tf.Tensor4D[] {
    return tf.tidy(() => this.encode(x as tf.Tensor2D, undefined, true).maps);
  }

  override dispose(): void {
    this.membership?.dispose();
    super.dispose();
  }
}

export const tabtransformer: ModelSpec<TabTransformerConfig> = {
  name: 'tabtransformer',
  description: 'FT-Transformer on the tabular view: per-feature tokenizer (summed per variable by default), CLS token, pre-norm attention blocks',
  view: 'tabular',
  params: TABTRANSFORMER_PARAMS,
  resolveConfig,
  build(rowShape, config, seed, features) {
    if (rowShape.length !== 1) throw new UserError(`tabtransformer expects tabular rows of shape [F], got [${rowShape.join(', ')}]`);
    const stored: Stored<StoredConfig> = { rowShape, config: { ...config, ...tokenLayout(config, rowShape[0], features) } };
    return new TabTransformer('tabtransformer', stored, buildParams('tabtransformer', plan(stored), seed));
  },
  async load(dir) {
    const { stored, params } = await loadPlanned<StoredConfig>(dir, 'tabtransformer', plan);
    return new TabTransformer('tabtransformer', stored, params);
  },
};

export type { TabTransformer };

/** A model that exposes attention maps (the tabtransformer), for analysis code holding a BuiltModel. */
export interface AttentionModel extends BuiltModel {
  attention(x: tf.Tensor): tf.Tensor4D[];
  tokenNames(): string[];
}

export function hasAttention(model: BuiltModel): model is AttentionModel {
  return typeof (model as Partial<AttentionModel>).attention === 'function' && typeof (model as Partial<AttentionModel>).tokenNames === 'function';
}
