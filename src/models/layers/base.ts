import * as tf from '@tensorflow/tfjs';

import type { BuiltModel } from '../types.js';
import { Params, loadParams, saveParams, type Init } from './params.js';
import { dense } from './dense.js';
import { dropout } from './dropout.js';
import { UserError } from '../../util/errors.js';

export interface ParamSpec {
  name: string;
  shape: number[];
  init: Init;
}

/** What a hand-written model stores in model.json to rebuild its graph: its config and the row shape. */
export interface Stored<C> {
  rowShape: number[];
  config: C;
  /** Sequence models: trailing channels of each hour that carry the statics (absent in models saved before). */
  staticChannels?: number;
}

/** Creates the planned parameters, each seeded from (seed, 'init', model, parameter name). */
export function buildParams(owner: string, plan: ParamSpec[], seed: number | string): Params {
  const params = new Params(seed);
  try {
    for (const p of plan) params.create(p.name, p.shape, p.init, owner);
  } catch (err) {
    params.dispose();
    throw err;
  }
  return params;
}

/** Reads a model saved by `ParamModel.save` and checks its tensors against the plan for its stored config. */
export async function loadPlanned<C>(dir: string, owner: string, planFor: (stored: Stored<C>) => ParamSpec[]): Promise<{ stored: Stored<C>; params: Params }> {
  const { topology, tensors } = await loadParams<Stored<C>>(dir, owner);
  const stored = topology.config;
  const params = new Params(null);
  try {
    for (const p of planFor(stored)) {
      const t = tensors.get(p.name);
      if (t === undefined) throw new UserError(`${dir}/model.json: ${owner} weight ${p.name} is missing`);
      if (!tf.util.arraysEqual(t.shape, p.shape)) {
        throw new UserError(`${dir}/model.json: ${owner} weight ${p.name} has shape [${t.shape}], expected [${p.shape}]`);
      }
      tensors.delete(p.name);
      params.adopt(p.name, t);
    }
    if (tensors.size > 0) throw new UserError(`${dir}/model.json: unexpected ${owner} weights ${[...tensors.keys()].join(', ')}`);
  } catch (err) {
    params.dispose();
    tensors.forEach((t) => t.dispose());
    throw err;
  }
  return { stored, params };
}

/**
 * A model whose graph is code and whose state is a named set of variables. Subclasses produce the
 * representation; this class adds the output layer (dropout on the representation, then one logit).
 */
export abstract class ParamModel<C extends { dropout: number }> implements BuiltModel {
  constructor(
    protected readonly owner: string,
    protected readonly stored: Stored<C>,
    protected readonly params: Params,
  ) {}

  protected get config(): C {
    return this.stored.config;
  }

  protected p(name: string): tf.Variable {
    return this.params.get(name);
  }

  /**
   * The penultimate representation [batch, units]. `dropoutSeed` is set while training; a model with several
   * dropout sites derives one seed per site from it (seed + site index), the output dropout takes seed + 1000.
   */
  protected abstract represent(x: tf.Tensor, dropoutSeed?: number): tf.Tensor2D;

  /** Set by models that define prunable units (see BuiltModel.pruneUnits); multiplies the representation. */
  private unitMask: tf.Tensor1D | null = null;

  protected setUnitMask(mask: Uint8Array | null): void {
    this.unitMask?.dispose();
    this.unitMask = mask ? tf.tensor1d(Float32Array.from(mask), 'float32') : null;
  }

  private masked(h: tf.Tensor2D): tf.Tensor2D {
    return this.unitMask ? (tf.mul(h, this.unitMask) as tf.Tensor2D) : h;
  }

  logits(x: tf.Tensor, dropoutSeed?: number): tf.Tensor1D {
    return tf.tidy(() => {
      let h = this.masked(this.represent(x, dropoutSeed));
      if (dropoutSeed !== undefined && this.config.dropout > 0) h = dropout(h, this.config.dropout, dropoutSeed + 1000);
      return dense(h, this.p('out/kernel') as tf.Tensor2D, this.p('out/bias') as tf.Tensor1D).reshape([-1]) as tf.Tensor1D;
    });
  }

  penultimate(x: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => this.masked(this.represent(x)));
  }

  trainableWeights(): tf.Variable[] {
    return this.params.list();
  }

  save(dir: string): Promise<void> {
    return saveParams(dir, this.owner, this.stored, this.params);
  }

  dispose(): void {
    this.unitMask?.dispose();
    this.params.dispose();
  }
}

/** The output layer's parameters: [units] → 1 logit. */
export function outputPlan(units: number): ParamSpec[] {
  return [
    { name: 'out/kernel', shape: [units, 1], init: { kind: 'glorotUniform', fanIn: units, fanOut: 1 } },
    { name: 'out/bias', shape: [1], init: { kind: 'constant', value: 0 } },
  ];
}
