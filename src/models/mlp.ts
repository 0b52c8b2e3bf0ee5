import * as tf from '@tensorflow/tfjs';
import type { BuiltModel, ModelSpec } from './types.js';
import { deriveIntSeed } from '../engine/rng.js';
import { loadLayersModel, saveLayersModel } from './io.js';
import { validateParams, type ParamSchema } from '../util/plugin.js';

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

  private get denseLayers(): tf.layers.Layer[] {
    return this.model.layers;
  }

  private hidden(x: tf.Tensor, dropoutSeed?: number): tf.Tensor {
    let h = x;
    const layers = this.denseLayers;
    for (let k = 0; k < layers.length - 1; k++) {
      h = layers[k].apply(h) as tf.Tensor;
      if (dropoutSeed !== undefined && this.config.dropout > 0) h = tf.dropout(h, this.config.dropout, undefined, dropoutSeed + k);
    }
    return this.unitMask ? tf.mul(h, this.unitMask) : h;
  }

  logits(x: tf.Tensor, dropoutSeed?: number): tf.Tensor1D {
    return tf.tidy(() => {
      const layers = this.denseLayers;
      const out = layers[layers.length - 1].apply(this.hidden(x, dropoutSeed)) as tf.Tensor;
      return out.reshape([-1]) as tf.Tensor1D;
    });
  }

  penultimate(x: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => this.hidden(x) as tf.Tensor2D);
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
