/** One line per model; each model lives in its own file, its settings' defaults in its parameter schema. */
import { createRegistry } from '../util/plugin.js';
import { lstm } from './lstm.js';
import { mlp } from './mlp.js';
import { tabtransformer } from './tabtransformer.js';
import { tcn } from './tcn.js';
import type { ModelSpec } from './types.js';

export const MODEL_REGISTRY = createRegistry<ModelSpec<any>>('model', [mlp, lstm, tcn, tabtransformer]);

/** Name → model, a prototype-free map (for iteration; look names up with getModel). */
export const MODELS: Readonly<Record<string, ModelSpec<any>>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, ModelSpec<any>>, Object.fromEntries(MODEL_REGISTRY.members().map((m) => [m.name, m]))),
);

export function modelNames(): string[] {
  return MODEL_REGISTRY.names();
}

export function getModel(name: string): ModelSpec<any> {
  return MODEL_REGISTRY.get(name);
}
