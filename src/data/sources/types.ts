import type { VariableSpec } from '../cohort.js';
import type { Params, Plugin } from '../../util/plugin.js';
import type { CohortReport } from './cohort-report.js';

/** Where a source writes and how it splits, the same for every source. */
export interface CohortOutput {
  outDir: string;
  /** Seed of the patient-grouped, outcome-stratified splits; default COHORT_SPLIT_SEED. */
  seed?: number;
}

/**
 * A cohort source: reads some input and writes a cohort folder (cohort.parquet, splits.json,
 * cohort_report.json/.md). `backdoor cohort <name>` is generated from it: every parameter becomes an option
 * `--kebab-case-name` (lists comma-separated), those in `required` must be given, and `--out`, `--seed`,
 * `--json` are common to all.
 *
 * Variable names are part of the contract: a source whose variable measures what a variable of the shared
 * schema (src/data/sources/synthetic-schema.ts) measures uses that name, unit and kind, so trigger parameters
 * naming e.g. `glucose` mean the same thing on every cohort. `variables` lists them (null when the variables
 * are the user's own columns, as for `table`).
 */
export interface CohortSource extends Plugin {
  /** Parameters that have no default and must be given (their schema default is null). */
  required: readonly string[];
  /** Output folder when --out is not given. */
  defaultOut: string;
  variables(params: Params): readonly VariableSpec[] | null;
  build(params: Params, output: CohortOutput): Promise<CohortReport>;
}
