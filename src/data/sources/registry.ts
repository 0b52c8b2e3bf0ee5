/** Every cohort source by name; `backdoor cohort <name>` is generated from this list. One file and one line each. */
import { createRegistry } from '../../util/plugin.js';
import { mimicIv } from './mimic-iv.js';
import { physionet2012 } from './physionet2012.js';
import { synthetic } from './synthetic.js';
import { table } from './table.js';
import type { CohortSource } from './types.js';

export const COHORT_SOURCES = createRegistry<CohortSource>('cohort source', [synthetic, mimicIv, physionet2012, table]);
