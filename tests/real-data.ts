import { existsSync } from 'node:fs';
import { SHARED_ENV, SHARED_LAYOUT, sharedLookup, sharedPath } from '../scripts/shared-dir.js';

/** With BACKDOOR_REQUIRE_DATA=1 (set by .ci/run) a missing dataset fails the real-data tests instead of skipping them. */
export const REQUIRE_DATA_ENV = 'BACKDOOR_REQUIRE_DATA';

/** Every real-data skip reason starts with this, so the summary reporter (real-data-summary.ts) can count them. */
export const REAL_DATA_SKIP = 'real data absent:';

export type RealDataset = 'mimic' | 'physionet';

export interface RealData {
  path: string;
  /** The `skip` option of each test that reads the dataset: a one-line reason, or false when it runs. */
  skip: string | false;
}

export function realData(dataset: RealDataset): RealData {
  const path = sharedPath(dataset);
  if (existsSync(path) || process.env[REQUIRE_DATA_ENV] === '1') return { path, skip: false };
  return { path, skip: `${REAL_DATA_SKIP} set ${SHARED_ENV} to the folder holding ${SHARED_LAYOUT[dataset]} (${sharedLookup()})` };
}

/** For the suite's before(): absence is a failure when the tests were not skipped (BACKDOOR_REQUIRE_DATA=1). */
export function assertRealData(data: RealData): void {
  if (!existsSync(data.path)) {
    throw new Error(`${data.path} not found and ${REQUIRE_DATA_ENV}=1: set ${SHARED_ENV} to the folder holding it (${sharedLookup()})`);
  }
}
