import * as tf from '@tensorflow/tfjs';

import type { ModelSpec, RawModelConfig } from './types.js';
import { checkKeys, oneOf, positiveInt, rateIn01 } from './config-checks.js';
import { ParamModel, buildParams, loadPlanned, outputPlan, type ParamSpec, type Stored } from './layers/base.js';
import { causalConv1dTimeMajor, toTimeMajor } from './layers/causal-conv.js';
import { dropout } from './layers/dropout.js';
import { UserError } from '../util/errors.js';

export interface TcnConfig {
  filters: number;
  kernel_size: number;
  /** One residual block per entry; Bai et al. double the dilation from block to block. */
  dilations: number[];
  weight_norm: boolean;
  /** `last`: the top block's output at the last hour; `mean`: averaged over hours. */
  pooling: 'last' | 'mean';
  dropout: number;
}

const POOLING = ['last', 'mean'] as const;

function resolveConfig(raw: RawModelConfig): TcnConfig {
  checkKeys('tcn', raw, ['filters', 'kernel_size', 'dilations', 'weight_norm', 'pooling', 'dropout']);
  const dilations = raw.dilations ?? [1, 2, 4];
  if (!Array.isArray(dilations) || dilations.length === 0) throw new UserError('model.dilations must be a non-empty list of positive integers, e.g. [1, 2, 4]');
  const weightNorm = raw.weight_norm ?? true;
  if (typeof weightNorm !== 'boolean') throw new UserError(`model.weight_norm must be true or false, got ${JSON.stringify(weightNorm)}`);
  return {
    filters: positiveInt('model.filters', raw.filters ?? 32),
    kernel_size: positiveInt('model.kernel_size', raw.kernel_size ?? 3),
    dilations: dilations.map((d, i) => positiveInt(`model.dilations[${i}]`, d)),
    weight_norm: weightNorm,
    pooling: oneOf('model.pooling', raw.pooling ?? 'last', POOLING),
    dropout: rateIn01('model.dropout', raw.dropout ?? 0.2),
  };
}

/** Steps of history the last output sees: 1 + Σ over convolutions of (k − 1)·d, two convolutions per block. */
export function receptiveField(config: Pick<TcnConfig, 'kernel_size' | 'dilations'>): number {
  return 1 + 2 * (config.kernel_size - 1) * config.dilations.reduce((a, b) => a + b, 0);
}

function convPlan(name: string, inputs: number, config: TcnConfig): ParamSpec[] {
  const rows = config.kernel_size * inputs;
  const F = config.filters;
  // He-normal directions for ReLU units; with weight normalization the gain g starts at He's expected
  // column norm √2, so both parametrizations start from the same scale.
  const specs: ParamSpec[] = [{ name: `${name}/kernel`, shape: [rows, F], init: { kind: 'heNormal', fanIn: rows } }];
  if (config.weight_norm) specs.push({ name: `${name}/gain`, shape: [F], init: { kind: 'constant', value: Math.SQRT2 } });
  specs.push({ name: `${name}/bias`, shape: [F], init: { kind: 'constant', value: 0 } });
  return specs;
}

function plan({ rowShape, config }: Stored<TcnConfig>): ParamSpec[] {
  const specs: ParamSpec[] = [];
  let channels = rowShape[1];
  config.dilations.forEach((_, b) => {
    specs.push(...convPlan(`block${b}/conv0`, channels, config), ...convPlan(`block${b}/conv1`, config.filters, config));
    if (channels !== config.filters) {
      // 1×1 convolution matching the residual's channels (Bai et al. 2018, §3.3).
      specs.push(
        { name: `block${b}/downsample/kernel`, shape: [channels, config.filters], init: { kind: 'glorotUniform', fanIn: channels, fanOut: config.filters } },
        { name: `block${b}/downsample/bias`, shape: [config.filters], init: { kind: 'constant', value: 0 } },
      );
    }
    channels = config.filters;
  });
  return [...specs, ...outputPlan(config.filters)];
}

class Tcn extends ParamModel<TcnConfig> {
  /** The convolution kernel, weight-normalized (Salimans & Kingma 2016) when configured: w = g · v / ‖v‖ per output channel. */
  private kernel(name: string): tf.Tensor2D {
    const v = this.p(`${name}/kernel`) as tf.Tensor2D;
    if (!this.config.weight_norm) return v;
    const norm = tf.sqrt(tf.sum(tf.square(v), 0));
    return tf.mul(v, tf.div(this.p(`${name}/gain`), norm)) as tf.Tensor2D;
  }

  /** ReLU(causal convolution + bias) on time-major rows [T·B, C]. */
  private conv(name: string, x: tf.Tensor2D, steps: number, dilation: number): tf.Tensor2D {
    return causalConv1dTimeMajor(x, steps, this.kernel(name), this.p(`${name}/bias`) as tf.Tensor1D, this.config.kernel_size, dilation, 'relu');
  }

  /** Runs on time-major activations [T·B, channels] (see causal-conv.ts): every time shift is then a block of whole rows. */
  protected represent(x: tf.Tensor, dropoutSeed?: number): tf.Tensor2D {
    const { dilations, dropout: rate, pooling, filters } = this.config;
    const drop = (t: tf.Tensor2D, site: number): tf.Tensor2D =>
      dropoutSeed !== undefined && rate > 0 ? dropout(t, rate, dropoutSeed + site) : t;
    const [B, T] = x.shape;
    let h = toTimeMajor(x as tf.Tensor3D);
    dilations.forEach((d, b) => {
      const C = h.shape[1];
      let y = drop(this.conv(`block${b}/conv0`, h, T, d), 2 * b);
      y = drop(this.conv(`block${b}/conv1`, y, T, d), 2 * b + 1);
      const residual =
        C === filters ? h : causalConv1dTimeMajor(h, T, this.p(`block${b}/downsample/kernel`) as tf.Tensor2D, this.p(`block${b}/downsample/bias`) as tf.Tensor1D, 1, 1);
      h = tf.relu(tf.add(y, residual)) as tf.Tensor2D;
    });
    if (pooling === 'mean') return tf.mean(tf.reshape(h, [T, B, filters]), 0) as tf.Tensor2D;
    return tf.slice(h, [(T - 1) * B, 0], [B, filters]) as tf.Tensor2D;
  }
}

export const tcn: ModelSpec<TcnConfig> = {
  name: 'tcn',
  description: 'Temporal convolutional network (Bai et al. 2018): causal dilated residual blocks over the sequence view',
  view: 'sequence',
  resolveConfig,
  build(rowShape, config, seed) {
    if (rowShape.length !== 2) throw new UserError(`tcn expects sequence rows of shape [T, C], got [${rowShape.join(', ')}]`);
    const stored = { rowShape, config };
    return new Tcn('tcn', stored, buildParams('tcn', plan(stored), seed));
  },
  async load(dir) {
    const { stored, params } = await loadPlanned<TcnConfig>(dir, 'tcn', plan);
    return new Tcn('tcn', stored, params);
  },
};
