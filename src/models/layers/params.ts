import * as tf from '@tensorflow/tfjs';
import { writeFile } from 'node:fs/promises';
import { readModelArtifacts } from '../io.js';
import { join } from 'node:path';

import { deriveIntSeed, deriveRng } from '../../engine/rng.js';
import { UserError } from '../../util/errors.js';

export type Init =
  | { kind: 'glorotUniform'; fanIn: number; fanOut: number }
  | { kind: 'heNormal'; fanIn: number }
  | { kind: 'uniform'; limit: number }
  | { kind: 'normal'; sd: number }
  | { kind: 'orthogonal' }
  | { kind: 'constant'; value: number }
  | { kind: 'values'; values: Float32Array };

/**
 * The trainable tensors of a hand-written model, under stable names. tfjs variable names must be unique
 * in the whole engine, so the variables get engine-generated names and the stable names live here: two
 * instances of a model (a trained one and its reloaded copy, or a sweep's runs in one process) coexist.
 */
export class Params {
  private readonly vars = new Map<string, tf.Variable>();

  constructor(private readonly seed: number | string | null) {}

  /** A new variable; its initial values come from `init` seeded by (run seed, 'init', model, name). */
  create(name: string, shape: number[], init: Init, owner: string): tf.Variable {
    if (this.vars.has(name)) throw new Error(`parameter ${name} defined twice`);
    const v = tf.tidy(() => tf.variable(this.initial(`${owner}/${name}`, shape, init), true));
    this.vars.set(name, v);
    return v;
  }

  /** Adopts a loaded tensor as the variable `name` (the tensor is disposed). */
  adopt(name: string, value: tf.Tensor): tf.Variable {
    const v = tf.variable(value, true);
    value.dispose();
    this.vars.set(name, v);
    return v;
  }

  get(name: string): tf.Variable {
    const v = this.vars.get(name);
    if (!v) throw new Error(`no parameter ${name}`);
    return v;
  }

  names(): string[] {
    return [...this.vars.keys()];
  }

  list(): tf.Variable[] {
    return [...this.vars.values()];
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }

  private initial(key: string, shape: number[], init: Init): tf.Tensor {
    if (init.kind === 'constant') return tf.fill(shape, init.value);
    if (init.kind === 'values') return tf.tensor(init.values, shape, 'float32');
    if (this.seed === null) throw new Error('a loaded model cannot initialize new parameters');
    const seed = deriveIntSeed(this.seed, 'init', key);
    switch (init.kind) {
      case 'glorotUniform': {
        const limit = Math.sqrt(6 / (init.fanIn + init.fanOut));
        return tf.randomUniform(shape, -limit, limit, 'float32', seed);
      }
      case 'heNormal':
        return tf.truncatedNormal(shape, 0, Math.sqrt(2 / init.fanIn), 'float32', seed);
      case 'uniform':
        return tf.randomUniform(shape, -init.limit, init.limit, 'float32', seed);
      case 'normal':
        return tf.randomNormal(shape, 0, init.sd, 'float32', seed);
      case 'orthogonal':
        if (shape.length !== 2) throw new Error('orthogonal init needs a 2-D shape');
        return tf.tensor2d(orthogonal(shape[0], shape[1], key, this.seed), [shape[0], shape[1]]);
    }
  }
}

/**
 * A [rows, cols] matrix with orthonormal rows (rows ≤ cols) or columns (rows > cols), by Gram–Schmidt on a
 * seeded Gaussian matrix (Saxe et al. 2014). tf.initializers.orthogonal warns above 2000 elements and runs
 * a QR through tf ops; this runs in plain JS on the run's seeded stream.
 */
function orthogonal(rows: number, cols: number, key: string, seed: number | string): Float32Array {
  const rng = deriveRng(seed, 'init', key);
  const n = Math.min(rows, cols);
  const len = Math.max(rows, cols);
  // n orthonormal vectors of length `len`.
  const vecs: Float64Array[] = [];
  for (let i = 0; i < n; i++) {
    const v = new Float64Array(len);
    for (let j = 0; j < len; j++) v[j] = rng.normal();
    for (const u of vecs) {
      let dot = 0;
      for (let j = 0; j < len; j++) dot += u[j] * v[j];
      for (let j = 0; j < len; j++) v[j] -= dot * u[j];
    }
    let norm = 0;
    for (let j = 0; j < len; j++) norm += v[j] * v[j];
    norm = Math.sqrt(norm);
    for (let j = 0; j < len; j++) v[j] /= norm;
    vecs.push(v);
  }
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < len; j++) {
      if (rows <= cols) out[i * cols + j] = vecs[i][j];
      else out[j * cols + i] = vecs[i][j];
    }
  }
  return out;
}

export interface SavedWeights<C> {
  /** The model name and what `load` needs to rebuild the architecture. */
  topology: { name: string; config: C };
  tensors: Map<string, tf.Tensor>;
}

/**
 * Writes `params` in the TF.js weights format: model.json (topology + weightsManifest) and one
 * weights.bin, readable with tf.io.decodeWeights. The graph itself is code, so `format` says so.
 */
export async function saveParams<C>(dir: string, name: string, config: C, params: Params): Promise<void> {
  const named = params.names().map((n) => ({ name: n, tensor: params.get(n) as tf.Tensor }));
  const { data, specs } = await tf.io.encodeWeights(named);
  const modelJson = {
    format: 'backdoor-weights',
    generatedBy: `backdoor ${name} (TensorFlow.js ${tf.version.tfjs})`,
    convertedBy: null,
    modelTopology: { name, config },
    weightsManifest: [{ paths: ['weights.bin'], weights: specs }],
  };
  await writeFile(join(dir, 'model.json'), JSON.stringify(modelJson));
  await writeFile(join(dir, 'weights.bin'), new Uint8Array(data as ArrayBuffer));
}

export async function loadParams<C>(dir: string, expectedName: string): Promise<SavedWeights<C>> {
  const { modelJson, weightSpecs, weightData } = await readModelArtifacts(dir);
  const topology = modelJson.modelTopology as { name?: unknown; config?: unknown } | undefined;
  const name = topology?.name;
  if (modelJson.format !== 'backdoor-weights' || name !== expectedName || typeof topology?.config !== 'object' || topology.config === null) {
    throw new UserError(`${join(dir, 'model.json')} is not a saved ${expectedName} model (format ${JSON.stringify(modelJson.format)}, name ${JSON.stringify(name)})`);
  }
  const decoded = tf.io.decodeWeights(weightData, weightSpecs);
  return { topology: topology as SavedWeights<C>['topology'], tensors: new Map(Object.entries(decoded)) };
}
