import { readFile } from 'node:fs/promises';
import { UserError } from '../../util/errors.js';
import type { SequenceState } from './sequence.js';
import type { TabularState } from './tabular.js';
import type { Featurizer, ViewName } from './types.js';
import { tabularFeaturizer } from './tabular.js';
import { sequenceFeaturizer } from './sequence.js';

export * from './types.js';
export { tabularFeaturizer, type TabularState } from './tabular.js';
export { sequenceFeaturizer, type SequenceState } from './sequence.js';

export const FEATURIZERS: Record<ViewName, Featurizer<unknown>> = {
  tabular: tabularFeaturizer as Featurizer<unknown>,
  sequence: sequenceFeaturizer as Featurizer<unknown>,
};

/** The featurizer a run saved (featurizer.json): its view and its fitted state, checked field by field. */
export interface SavedFeaturizer {
  view: ViewName;
  state: TabularState | SequenceState;
}

const finiteList = (x: unknown): x is number[] => Array.isArray(x) && x.every((v) => typeof v === 'number' && Number.isFinite(v));

function checkState(view: ViewName, state: unknown): string | null {
  if (typeof state !== 'object' || state === null) return 'has no fitted state';
  const s = state as Record<string, unknown>;
  if (view === 'sequence') {
    const { variables, mean, sd } = s;
    if (!Array.isArray(variables) || variables.length === 0 || !variables.every((v) => typeof v === 'string')) return 'has no variable list';
    if (!finiteList(mean) || !finiteList(sd) || mean.length !== variables.length || sd.length !== variables.length) return 'has no mean and sd per variable';
    if (sd.some((x) => !(x > 0))) return 'has a non-positive sd';
    if (s.statics !== undefined) {
      if (!Array.isArray(s.statics)) return 'has a malformed static list';
      for (const p of s.statics as Record<string, unknown>[]) {
        if (typeof p !== 'object' || p === null || typeof p.name !== 'string' || !['numeric', 'binary', 'categorical'].includes(p.kind as string)) return 'has a malformed static';
        if (!finiteList([p.mean, p.sd]) || !((p.sd as number) > 0)) return `has no finite mean and sd for static ${p.name}`;
        if (p.kind === 'categorical' && !(Array.isArray(p.categories) && p.categories.every((c) => typeof c === 'string'))) return `has no categories for static ${p.name}`;
      }
    }
    return null;
  }
  const columns = s.columns;
  if (!Array.isArray(columns) || columns.length === 0) return 'has no column list';
  for (const c of columns as Record<string, unknown>[]) {
    if (typeof c !== 'object' || c === null || typeof c.name !== 'string' || typeof c.source !== 'string' || typeof c.scaled !== 'boolean') return 'has a malformed column';
    if (!finiteList([c.impute, c.mean, c.sd]) || !((c.sd as number) > 0)) return `has no finite impute, mean and sd for column ${c.name}`;
  }
  return null;
}

/** Reads featurizer.json; a missing, damaged or hand-edited file is a one-line user error naming it. */
export async function readFeaturizerFile(path: string): Promise<SavedFeaturizer> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`${path} is ${code === 'ENOENT' ? 'missing' : 'not valid JSON'}; the run folder is damaged (rerun it with --force)`);
  }
  const file = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const view = file.view;
  if (view !== 'tabular' && view !== 'sequence') throw new UserError(`${path} names featurizer view ${JSON.stringify(view) ?? 'none'}; valid: tabular, sequence (the run folder is damaged)`);
  const problem = checkState(view, file.state);
  if (problem) throw new UserError(`${path} ${problem}; the run folder is damaged (rerun it with --force)`);
  return { view, state: file.state as SavedFeaturizer['state'] };
}
