import type { CohortSchema } from '../data/cohort.js';
import { UserError } from '../util/errors.js';

/**
 * Resolved trigger parameters name their variables and also hold their positions in the schema they were resolved on
 * (variable + variableIndex, variables + variableIndices, source + sourceIndex, target + targetIndex, name + index).
 * Applying a run's trigger to another cohort keeps the values and re-binds each position to the variable's place in
 * that cohort's schema, so a cohort with another variable order gets the same variable triggered.
 */
export function rebindTriggerParams(params: unknown, schema: CohortSchema, file: string): unknown {
  const position = new Map(schema.variables.map((v, k) => [v.name, k]));
  const find = (name: string): number => {
    const k = position.get(name);
    if (k === undefined) throw new UserError(`the run's trigger writes variable "${name}", which ${file} does not have; evaluate another trigger (--trigger) or a cohort with it`);
    return k;
  };
  const visit = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(visit);
    if (!value || typeof value !== 'object') return value;
    const o = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(o)) out[key] = visit(v);
    for (const key of Object.keys(o)) {
      const nameKey = key === 'index' ? 'name' : key === 'variableIndices' ? 'variables' : key.endsWith('Index') ? key.slice(0, -'Index'.length) : null;
      if (nameKey === null) continue;
      const names = o[nameKey];
      if (typeof names === 'string' && typeof o[key] === 'number') out[key] = find(names);
      else if (Array.isArray(names) && Array.isArray(o[key]) && names.every((n) => typeof n === 'string')) out[key] = (names as string[]).map(find);
    }
    return out;
  };
  return visit(params);
}
