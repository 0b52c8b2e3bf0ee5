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
