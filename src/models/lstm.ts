import * as tf from '@tensorflow/tfjs';

import type { ModelSpec } from './types.js';
import { validateParams, type ParamSchema } from '../util/plugin.js';
import { ParamModel, buildParams, loadPlanned, outputPlan, type ParamSpec, type Stored } from './layers/base.js';
import { lstmLayer } from './layers/lstm-op.js';
import { dropout } from './layers/dropout.js';
import { joinStatics, splitStatics, staticChannelsFor } from './layers/statics.js';
import { UserError } from '../util/errors.js';

export interface LstmConfig {
  hidden_units: number;
  layers: number;
  /** `last`: the top layer's hidden state after the last hour; `mean`: its hidden states averaged over hours. */
  pooling: 'last' | 'mean';
  dropout: number;
}

const POOLING = ['last', 'mean'] as const;

export const LSTM_PARAMS: ParamSchema = {
  hidden_units: {
    type: 'integer',
    min: 1,
    default: 32,
    unit: 'units',
    description: 'Hidden state size of every layer',
    citation: 'scripts/tune-victims.ts: clean validation AUROC 0.850 at 32 units against 0.813 at 64 (dev cohort, seed 0; configs/model/lstm.yaml)',
  },
  layers: { type: 'integer', min: 1, default: 1, description: 'Stacked LSTM layers (each but the top passes its whole hidden sequence up)' },
  pooling: { type: 'string', choices: POOLING, default: 'last', description: "What feeds the output layer: last = the top layer's hidden state after the last hour, mean = its states averaged over hours" },
  dropout: { type: 'number', min: 0, max: 1, maxOpen: true, default: 0.2, description: 'Dropout rate during training, on the pooled representation and between stacked layers' },
};

function plan({ rowShape, config, staticChannels = 0 }: Stored<LstmConfig>): ParamSpec[] {
  const H = config.hidden_units;
  const specs: ParamSpec[] = [];
  for (let l = 0; l < config.layers; l++) {
    const inputs = l === 0 ? rowShape[1] - staticChannels : H;
    // Keras's LSTM defaults: Glorot-uniform input kernel, orthogonal recurrent kernel, forget-gate bias 1
    // (Jozefowicz et al. 2015) so the cell starts out remembering.
    const bias = new Float32Array(4 * H);
    bias.fill(1, H, 2 * H);
    specs.push(
      { name: `lstm${l}/kernel`, shape: [inputs, 4 * H], init: { kind: 'glorotUniform', fanIn: inputs, fanOut: 4 * H } },
      { name: `lstm${l}/recurrent_kernel`, shape: [H, 4 * H], init: { kind: 'orthogonal' } },
      { name: `lstm${l}/bias`, shape: [4 * H], init: { kind: 'values', values: bias } },
    );
  }
  return [...specs, ...outputPlan(H + staticChannels)];
}

class Lstm extends ParamModel<LstmConfig> {
  readonly prunableUnits = 'hidden units of the top LSTM layer';

  pruneUnits(mask: Uint8Array | null): void {
    this.setUnitMask(mask);
  }

  protected represent(x: tf.Tensor, dropoutSeed?: number): tf.Tensor2D {
    const { layers, pooling, dropout: rate } = this.config;
    const { sequence, statics } = splitStatics(x as tf.Tensor3D, this.stored.staticChannels ?? 0);
    let h = sequence;
    for (let l = 0; l < layers; l++) {
      const top = l === layers - 1;
      const out = lstmLayer(h, this.p(`lstm${l}/kernel`) as tf.Tensor2D, this.p(`lstm${l}/recurrent_kernel`) as tf.Tensor2D, this.p(`lstm${l}/bias`) as tf.Tensor1D, !top || pooling === 'mean');
      if (top) return joinStatics((pooling === 'mean' ? tf.mean(out, 1) : out) as tf.Tensor2D, statics);
      // Between stacked layers: dropout on the sequence passed up (Zaremba et al. 2014, non-recurrent connections).
      h = (dropoutSeed !== undefined && rate > 0 ? dropout(out, rate, dropoutSeed + l) : out) as tf.Tensor3D;
    }
    throw new Error('unreachable');
  }
}

export const lstm: ModelSpec<LstmConfig> = {
  name: 'lstm',
  description: 'LSTM over the hourly sequence view (values carried forward + observed-masks), statics joined before the output layer; fused cell with hand-written BPTT',
  view: 'sequence',
  params: LSTM_PARAMS,
  resolveConfig: (raw) => validateParams('model', LSTM_PARAMS, raw, { owner: 'lstm' }) as unknown as LstmConfig,
  build(rowShape, config, seed, features) {
    if (rowShape.length !== 2) throw new UserError(`lstm expects sequence rows of shape [T, C], got [${rowShape.join(', ')}]`);
    const stored = { rowShape, config, staticChannels: staticChannelsFor('lstm', rowShape, features?.staticChannels) };
    return new Lstm('lstm', stored, buildParams('lstm', plan(stored), seed));
  },
  async load(dir) {
    const { stored, params } = await loadPlanned<LstmConfig>(dir, 'lstm', plan);
    return new Lstm('lstm', stored, params);
  },
};
