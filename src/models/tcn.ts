import * as tf from '@tensorflow/tfjs';

import type { ModelSpec } from './types.js';
import { validateParams, type ParamSchema } from '../util/plugin.js';
import { ParamModel, buildParams, loadPlanned, outputPlan, type ParamSpec, type Stored } from './layers/base.js';
import { allSteps, causalConvSteps, selectSteps, toTimeMajor } from './layers/causal-conv.js';
import { dropout } from './layers/dropout.js';
import { tcnConv, weightNorm } from './layers/tcn-conv.js';
import { torchActive } from '../engine/torch-ops.js';
import { joinStatics, splitStatics, staticChannelsFor } from './layers/statics.js';
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

export const TCN_PARAMS: ParamSchema = {
  filters: { type: 'integer', min: 1, default: 32, unit: 'channels', description: 'Channels of every convolution' },
  kernel_size: { type: 'integer', min: 1, default: 2, unit: 'hours', description: 'Taps per convolution', citation: 'scripts/tune-victims.ts: best mean clean validation AUROC of a 64-candidate grid (dev cohort, seeds 0-2; docs/victim-search.md)' },
  dilations: {
    type: 'list',
    items: { type: 'integer', min: 1 },
    default: [1, 2, 4, 8],
    description: 'One residual block per entry, with this dilation; the last hour sees 1 + 2(kernel_size - 1) x sum(dilations) hours (31 with the defaults, the whole 24 h window)',
    citation: 'Bai, Kolter & Koltun 2018, "An Empirical Evaluation of Generic Convolutional and Recurrent Networks for Sequence Modeling" (doubling dilations); the values: scripts/tune-victims.ts (docs/victim-search.md)',
  },
  weight_norm: { type: 'boolean', default: true, description: 'Weight normalization of every convolution kernel, as in Bai et al.', citation: 'Salimans & Kingma 2016' },
  pooling: { type: 'string', choices: POOLING, default: 'last', description: "What feeds the output layer: last = the top block's output at the last hour (Bai et al.), mean = averaged over hours" },
  dropout: {
    type: 'number',
    min: 0,
    max: 1,
    maxOpen: true,
    default: 0.3,
    description: "Dropout rate during training, after every convolution's ReLU and on the pooled representation",
    citation: 'scripts/tune-victims.ts: best mean clean validation AUROC of a 64-candidate grid (dev cohort, seeds 0-2; docs/victim-search.md)',
  },
};

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

function plan({ rowShape, config, staticChannels = 0 }: Stored<TcnConfig>): ParamSpec[] {
  const specs: ParamSpec[] = [];
  let channels = rowShape[1] - staticChannels;
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
  return [...specs, ...outputPlan(config.filters + staticChannels)];
}

/** The time steps each block computes: its first convolution's outputs (`mid`) and the block's outputs (`out`). */
export interface StepPlan {
  mid: number[][];
  out: number[][];
}

const sortedUnique = (steps: Iterable<number>): number[] => [...new Set(steps)].sort((a, b) => a - b);

/**
 * Which steps each block must compute for an exact output. With `last` pooling the output reads only the top
 * block's last step, which reads k steps of the convolution below it, and so on down: with the defaults (T = 24,
 * kernel 2, dilations 1, 2, 4, 8) the blocks compute 24/12, 12/6, 6/3 and 2/1 steps (first/second convolution)
 * instead of 24/24 each, about 35% of the convolution work. `mean` pooling (or `all`) needs every step.
 */
export function requiredSteps(steps: number, config: Pick<TcnConfig, 'kernel_size' | 'dilations' | 'pooling'>, all = false): StepPlan {
  const every = allSteps(steps);
  const n = config.dilations.length;
  const plan: StepPlan = { mid: new Array<number[]>(n), out: new Array<number[]>(n) };
  let needed = all || config.pooling === 'mean' ? every : [steps - 1];
  for (let b = n - 1; b >= 0; b--) {
    const shifts = Array.from({ length: config.kernel_size }, (_, j) => (config.kernel_size - 1 - j) * config.dilations[b]);
    const reads = (outputs: number[]) => sortedUnique(outputs.flatMap((t) => shifts.map((s) => t - s)).filter((t) => t >= 0));
    plan.out[b] = needed;
    plan.mid[b] = reads(needed);
    // The block's input: what its first convolution reads, plus the residual's steps.
    needed = sortedUnique([...reads(plan.mid[b]), ...needed]);
  }
  return plan;
}

class Tcn extends ParamModel<TcnConfig> {
  readonly prunableUnits = 'channels of the last residual block';

  pruneUnits(mask: Uint8Array | null): void {
    this.setUnitMask(mask);
  }

  /** The convolution kernel, weight-normalized (Salimans & Kingma 2016) when configured: w = g · v / ‖v‖ per output channel. */
  private kernel(name: string): tf.Tensor2D {
    const v = this.p(`${name}/kernel`) as tf.Tensor2D;
    return this.config.weight_norm ? weightNorm(v, this.p(`${name}/gain`) as tf.Tensor1D) : v;
  }

  protected represent(x: tf.Tensor, dropoutSeed?: number): tf.Tensor2D {
    const { sequence, statics } = splitStatics(x as tf.Tensor3D, this.stored.staticChannels ?? 0);
    return joinStatics(this.encode(sequence, dropoutSeed, false), statics);
  }

  /** The same representation computed at every step, without pruning (to check that pruning is exact). */
  representAllSteps(x: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => {
      const { sequence, statics } = splitStatics(x as tf.Tensor3D, this.stored.staticChannels ?? 0);
      return joinStatics(this.encode(sequence, undefined, true), statics);
    });
  }

  /**
   * Runs on time-major activations [|S|·B, channels] (see causal-conv.ts), computing only the steps S the pooled
   * output depends on (`requiredSteps`).
   */
  private encode(x: tf.Tensor3D, dropoutSeed: number | undefined, all: boolean): tf.Tensor2D {
    if (torchActive()) return this.encodeChannelsFirst(x, dropoutSeed, all);
    const { dilations, dropout: rate, pooling, filters, kernel_size: k } = this.config;
    const drop = (t: tf.Tensor2D, site: number): tf.Tensor2D =>
      dropoutSeed !== undefined && rate > 0 ? dropout(t, rate, dropoutSeed + site) : t;
    const [B, T] = x.shape;
    const plan = requiredSteps(T, this.config, all);
    let h = toTimeMajor(x);
    let held = allSteps(T);
    dilations.forEach((d, b) => {
      const conv = (name: string, input: tf.Tensor2D, from: number[], to: number[]) =>
        causalConvSteps(input, from, to, this.kernel(name), this.p(`${name}/bias`) as tf.Tensor1D, k, d, 'relu');
      const mid = drop(conv(`block${b}/conv0`, h, held, plan.mid[b]), 2 * b);
      const y = drop(conv(`block${b}/conv1`, mid, plan.mid[b], plan.out[b]), 2 * b + 1);
      const residual =
        h.shape[1] === filters
          ? selectSteps(h, held, plan.out[b])
          : causalConvSteps(h, held, plan.out[b], this.p(`block${b}/downsample/kernel`) as tf.Tensor2D, this.p(`block${b}/downsample/bias`) as tf.Tensor1D, 1, 1);
      h = tf.relu(tf.add(y, residual)) as tf.Tensor2D;
      held = plan.out[b];
    });
    if (pooling === 'mean') return tf.mean(tf.reshape(h, [T, B, filters]), 0) as tf.Tensor2D;
    return selectSteps(h, held, [T - 1]);
  }

  /**
   * The same network on channels-first activations [B, C, T], for the torch backend: each convolution (weight
   * norm, bias, ReLU and dropout included) is one native conv1d with no layout copies around it. Every step is
   * computed; the dropout masks are the time-major path's (drawn over the steps `requiredSteps` names), so both
   * paths give the same output and gradients from the same seed. Computing every step costs less here than
   * pruning: ATen's conv1d on whole sequences beats gathering the few steps the upper blocks need.
   */
  private encodeChannelsFirst(x: tf.Tensor3D, dropoutSeed: number | undefined, all: boolean): tf.Tensor2D {
    const { dilations, dropout: rate, pooling, filters, kernel_size: k, weight_norm } = this.config;
    const [B, T] = x.shape;
    const plan = requiredSteps(T, this.config, all);
    const drop = (site: number, steps: number[]) => (dropoutSeed !== undefined && rate > 0 ? { rate, seed: dropoutSeed + site, steps } : undefined);
    // A training step (the one caller with a dropout seed) differentiates by the weights only, so the first block's
    // convolutions, which read the data, skip their input gradient; the detectors' input gradients run without one.
    const inputGradient = (b: number) => b > 0 || dropoutSeed === undefined;
    const conv = (name: string, input: tf.Tensor3D, d: number, site: number, steps: number[], residual?: tf.Tensor3D, inputGrad = true) =>
      tcnConv(
        input,
        this.p(`${name}/kernel`) as tf.Tensor2D,
        weight_norm ? (this.p(`${name}/gain`) as tf.Tensor1D) : null,
        this.p(`${name}/bias`) as tf.Tensor1D,
        { kernelSize: k, dilation: d, activation: 'relu', dropout: drop(site, steps), inputGradient: inputGrad },
        residual,
      );
    let h = tf.transpose(x, [0, 2, 1]) as tf.Tensor3D;
    dilations.forEach((d, b) => {
      const mid = conv(`block${b}/conv0`, h, d, 2 * b, plan.mid[b]!, undefined, inputGradient(b));
      const residual =
        h.shape[1] === filters
          ? h
          : tcnConv(h, this.p(`block${b}/downsample/kernel`) as tf.Tensor2D, null, this.p(`block${b}/downsample/bias`) as tf.Tensor1D, {
              kernelSize: 1,
              dilation: 1,
              activation: 'linear',
              inputGradient: inputGradient(b),
            });
      h = conv(`block${b}/conv1`, mid, d, 2 * b + 1, plan.out[b]!, residual);
    });
    if (pooling === 'mean') return tf.mean(h, 2) as tf.Tensor2D;
    return tf.reshape(tf.slice(h, [0, 0, T - 1], [B, filters, 1]), [B, filters]) as tf.Tensor2D;
  }
}

export const tcn: ModelSpec<TcnConfig> = {
  name: 'tcn',
  description: 'Temporal convolutional network (Bai et al. 2018): causal dilated residual blocks over the sequence view, statics joined before the output layer',
  view: 'sequence',
  params: TCN_PARAMS,
  resolveConfig: (raw) => validateParams('model', TCN_PARAMS, raw, { owner: 'tcn' }) as unknown as TcnConfig,
  build(rowShape, config, seed, features) {
    if (rowShape.length !== 2) throw new UserError(`tcn expects sequence rows of shape [T, C], got [${rowShape.join(', ')}]`);
    const stored = { rowShape, config, staticChannels: staticChannelsFor('tcn', rowShape, features?.staticChannels) };
    return new Tcn('tcn', stored, buildParams('tcn', plan(stored), seed));
  },
  async load(dir) {
    const { stored, params } = await loadPlanned<TcnConfig>(dir, 'tcn', plan);
    return new Tcn('tcn', stored, params);
  },
};
