import type { ModelSpec } from './types.js';
import { mlp } from './mlp.js';
import { lstm } from './lstm.js';
import { tcn } from './tcn.js';
import { tabtransformer } from './tabtransformer.js';
import { unknownChoice } from '../util/errors.js';

/** One line per model; each model lives in its own file. */
export const MODELS: Record<string, ModelSpec<any>> = {
  mlp,
  lstm,
  tcn,
  tabtransformer,
};

export function modelNames(): string[] {
  return Object.keys(MODELS);
}

export function getModel(name: string): ModelSpec<any> {
  const spec = MODELS[name];
  if (!spec) throw unknownChoice('model', name, modelNames());
  return spec;
}
