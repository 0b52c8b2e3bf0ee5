import * as tf from '@tensorflow/tfjs';
import type { BuiltModel, ModelSpec } from './types.js';
import { deriveIntSeed } from '../engine/rng.js';
import { loadLayersModel, saveLayersModel } from './io.js';
import { validateParams, type ParamSchema } from '../util/plugin.js';
import { dense } from './layers/dense.js';
import { dropout } from './layers/dropout.js';

export interface MlpConfig {
  hidden_units: number[];
  activation: 'relu' | 'elu' | 'tanh';
  dropout: number;
}

const ACTIVATIONS = ['relu', 'elu', 'tanh'] as const;

export const MLP_PARAMS: ParamSchema = {
  hidden_units: { type: 'list', items: { type: 'integer', min: 1 }, default: [256, 128], unit: 'units', description: 'Units of each hidden layer, input side first' },
  activation: { type: 'string', choices: ACTIVATIONS, default: 'relu', description: 'Hidden-layer activation' },
  // 0.3 with batch 128: the best clean validation AUROC of scripts/tune-victims.ts's search (see configs/model/mlp.yaml).
  dropout: { type: 'number', min: 0, max: 1, maxOpen: true, default: 0.3, description: 'Dropout rate after each hidden layer during training' },
};

class Mlp implements BuiltModel {
  readonly prunableUnits = 'units of the last hidden layer';
  private unitMask: tf.Tensor1D | null = null;

  constructor(
    private readonly model: tf.Sequential | tf.LayersModel,
    private readonly config: MlpConfig,
  ) {}

  /**
   * The layers' kernel and bias variables, run through the project's dense op (one native kernel each way on
   * torch) rather than Layer.apply, whose matMul, bias add and activation are separate kernels with tfjs autodiff.
   * The tf.layers model stays the weights' owner, so saved models and their initial values are unchanged.
   */
  private get weights(): { kernel: tf.Tensor2D; bias: tf.Tensor1D }[] {
    return this.model.layers.map((layer) => {
      const [kernel, bias] = layer.trainableWeights.map((w) => w.read());
      return { kernel: kernel as tf.Tensor2D, bias: bias as tf.Tensor1D };
    });
  }

  private hidden(x: tf.Tensor, dropoutSeed?: number): tf.Tensor2D {
    let h = x as tf.Tensor2D;
    const layers = this.weights;
    for (let k = 0; k < layers.length - 1; k++) {
      const { kernel, bias } = layers[k]!;
      const drop = dropoutSeed !== undefined && this.config.dropout > 0 ? { rate: this.config.dropout, seed: dropoutSeed + k } : undefined;
      if (this.config.activation === 'relu') h = dense(h, kernel, bias, 'relu', drop);
      else {
        h = tf[this.config.activation](dense(h, kernel, bias)) as tf.Tensor2D;
        if (drop) h = dropout(h, drop.rate, drop.seed);
      }
    }
    return this.unitMask ? tf.mul(h, this.unitMask) : h;
  }

  logits(x: tf.Tensor, dropoutSeed?: number): tf.Tensor1D {
    return tf.tidy(() => {
      const { kernel, bias } = this.weights.at(-1)!;
      return dense(this.hidden(x, dropoutSeed), kernel, bias).reshape([-1]) as tf.Tensor1D;
    });
  }

  penultimate(x: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => this.hidden(x));
  }

  pruneUnits(mask: Uint8Array | null): void {
    this.unitMask?.dispose();
    this.unitMask = mask ? tf.tensor1d(Float32Array.from(mask), 'float32') : null;
  }

  trainableWeights(): tf.Variable[] {
    return this.model.trainableWeights.map((w) => w.read() as tf.Variable);
  }

  save(dir: string): Promise<void> {
    return saveLayersModel(this.model, dir);
  }

  dispose(): void {
    this.unitMask?.dispose();
    this.model.dispose();
  }
}

export const mlp: ModelSpec<MlpConfig> = {
  name: 'mlp',
  description: 'Multi-layer perceptron on the tabular view (aggregates, missing indicators, statics)',
  view: 'tabular',
  params: MLP_PARAMS,
  resolveConfig: (raw) => validateParams('model', MLP_PARAMS, raw, { owner: 'mlp' }) as unknown as MlpConfig,
  build(rowShape, config, seed) {
    if (rowShape.length !== 1) throw new Error(`mlp expects tabular rows of shape [F], got [${rowShape.join(', ')}]`);
    const model = tf.sequential();
    config.hidden_units.forEach((units, k) => {
      model.add(
        tf.layers.dense({
          units,
          activation: config.activation,
          inputShape: k === 0 ? rowShape : undefined,
          kernelInitializer: tf.initializers.heNormal({ seed: deriveIntSeed(seed, 'init', k) }),
        }),
      );
    });
    model.add(
      tf.layers.dense({
        units: 1,
        kernelInitializer: tf.initializers.glorotUniform({ seed: deriveIntSeed(seed, 'init', 'output') }),
      }),
    );
    return new Mlp(model, config);
  },
  async load(dir, config) {
    return new Mlp(await loadLayersModel(dir), config);
  },
};
