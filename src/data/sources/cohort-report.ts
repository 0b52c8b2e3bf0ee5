import { join } from 'node:path';
import type { Cohort } from '../cohort.js';
import { writeCohortParquet } from '../parquet.js';
import { makeSplits, writeSplits, SPLIT_NAMES, type SplitName } from '../splits.js';
import { buildFolderAside, writeFileAtomic } from '../../util/fs.js';
import { MARKER_FILES, markDataFiles } from '../../util/markers.js';
import { referenceAurocs, referenceAurocLine, type ReferenceAurocs } from '../reference-aurocs.js';

/** Seed of the patient-grouped splits of built cohorts; the same default as the synthetic setup. */
export const COHORT_SPLIT_SEED = 20240601;

export interface InclusionStep {
  step: string;
  stays: number;
  patients: number;
  /** Stays with outcome 1 among those that have a label at this step. */
  deaths: number;
}

export interface VariableSummary {
  name: string;
  unit: string;
  /** Share of stay-hours without a value. */
  missingRate: number;
  /** Share of stays with no value in the whole window. */
  neverObservedRate: number;
  /** Raw values removed as physiologically impossible (outside the plausible range) before averaging. */
  removedImplausible?: number;
  /** Where the variable comes from: itemids, a PhysioNet parameter, a table column. */
  source?: string;
}

export interface CohortFiles {
  cohort: string;
  splits: string;
  report: string;
  markdown: string;
}

export interface CohortReport {
  source: string;
  input: string;
  options: Record<string, unknown>;
  files: CohortFiles;
  hours: number;
  inclusion: InclusionStep[];
  stays: number;
  patients: number;
  deaths: number;
  prevalence: number;
  splits: Record<SplitName, { stays: number; deaths: number }>;
  variables: VariableSummary[];
  statics: { name: string; missingRate: number }[];
  /** True-risk (synthetic only), charting-only and values-only AUROCs on the test split; null when a split is empty. */
  reference_aurocs: ReferenceAurocs | null;
  notes: string[];
  /** Source-specific integrity checks, e.g. the range of hour indices the SQL produced. */
  checks?: Record<string, number>;
}

export function cohortFiles(outDir: string): CohortFiles {
  return {
    cohort: join(outDir, 'cohort.parquet'),
    splits: join(outDir, 'splits.json'),
    report: join(outDir, 'cohort_report.json'),
    markdown: join(outDir, 'cohort_report.md'),
  };
}

/** Missingness per variable and static, counted on the finished cohort (what models actually see). */
export function missingness(cohort: Cohort): { variables: VariableSummary[]; statics: CohortReport['statics'] } {
  const { schema, n } = cohort;
  const T = schema.hours;
  const V = schema.variables.length;
  const S = schema.statics.length;
  const observed = new Float64Array(V);
  const never = new Float64Array(V);
  const seen = new Uint8Array(V);
  for (let i = 0; i < n; i++) {
    seen.fill(0);
    for (let t = 0; t < T; t++) {
      const base = (i * T + t) * V;
      for (let v = 0; v < V; v++) {
        if (!Number.isNaN(cohort.series[base + v])) {
          observed[v]++;
          seen[v] = 1;
        }
      }
    }
    for (let v = 0; v < V; v++) if (!seen[v]) never[v]++;
  }
  const variables = schema.variables.map((spec, v) => ({
    name: spec.name,
    unit: spec.unit,
    missingRate: n === 0 ? 1 : 1 - observed[v] / (n * T),
    neverObservedRate: n === 0 ? 1 : never[v] / n,
  }));
  const statics = schema.statics.map((spec, s) => {
    let missing = 0;
    for (let i = 0; i < n; i++) if (Number.isNaN(cohort.statics[i * S + s])) missing++;
    return { name: spec.name, missingRate: n === 0 ? 1 : missing / n };
  });
  return { variables, statics };
}

export interface WriteCohortInput {
  outDir: string;
  cohort: Cohort;
  input: string;
  options: Record<string, unknown>;
  inclusion: InclusionStep[];
  /** Per-variable extras (removed counts, sources), merged into the missingness summary by name. */
  variableExtras?: Record<string, Partial<VariableSummary>>;
  notes?: string[];
  checks?: Record<string, number>;
  seed?: number;
}

/** Names a cohort build writes into its folder (the output files, the data marker, DuckDB's spill folder). */
const PROJECT_NAMES: ReadonlySet<string> = new Set([...Object.values(cohortFiles('')), MARKER_FILES.data, '.duckdb-tmp']);

/** Entries of an existing cohort folder the project did not write (a user's notes): they move into the new one. */
export const isUsersEntry = (name: string): boolean => !PROJECT_NAMES.has(name);

/**
 * Builds a cohort folder aside (see buildFolderAside): `build` gets the staging folder and ends with
 * writeCohortFiles; the folder appears at outDir, whole, only when every file is written.
 */
export function buildCohortFolder(outDir: string, build: (staging: string) => Promise<CohortReport>): Promise<CohortReport> {
  return buildFolderAside(outDir, 'cohort output folder', build, isUsersEntry);
}

/** Writes the cohort folder at outDir as a whole (built aside, renamed into place). */
export function writeCohortOutputs(input: WriteCohortInput): Promise<CohortReport> {
  return buildCohortFolder(input.outDir, (staging) => writeCohortFiles(input, staging));
}

/**
 * Writes cohort.parquet, splits.json, cohort_report.json/.md and the data marker into `staging`; the report names
 * the files at input.outDir, where the staging folder is renamed to.
 */
export async function writeCohortFiles(input: WriteCohortInput, staging: string): Promise<CohortReport> {
  const { outDir, cohort } = input;
  const files = cohortFiles(outDir);
  const staged = cohortFiles(staging);
  await markDataFiles(staging, Object.values(staged));
  const splits = makeSplits(cohort, input.seed ?? COHORT_SPLIT_SEED);
  const label = new Map<number, number>();
  for (let i = 0; i < cohort.n; i++) label.set(cohort.stayIds[i], cohort.labels[i]);
  let deaths = 0;
  for (const y of cohort.labels) deaths += y;
  const splitSummary = {} as CohortReport['splits'];
  const notes = [...(input.notes ?? [])];
  for (const name of SPLIT_NAMES) {
    let d = 0;
    for (const id of splits[name]) d += label.get(id) ?? 0;
    splitSummary[name] = { stays: splits[name].length, deaths: d };
    if (splits[name].length === 0) notes.push(`the ${name} split is empty: the cohort is too small to train and evaluate on`);
  }
  const miss = missingness(cohort);
  const rows = { train: [] as number[], test: [] as number[] };
  const splitOf = new Map<number, SplitName>();
  for (const name of SPLIT_NAMES) for (const id of splits[name]) splitOf.set(id, name);
  for (let i = 0; i < cohort.n; i++) {
    const name = splitOf.get(cohort.stayIds[i]);
    if (name === 'train' || name === 'test') rows[name].push(i);
  }
  const report: CohortReport = {
    source: cohort.schema.source,
    input: input.input,
    options: input.options,
    files,
    hours: cohort.schema.hours,
    inclusion: input.inclusion,
    stays: cohort.n,
    patients: new Set(cohort.patientIds).size,
    deaths,
    prevalence: cohort.n === 0 ? 0 : deaths / cohort.n,
    splits: splitSummary,
    variables: miss.variables.map((v) => ({ ...v, ...(input.variableExtras?.[v.name] ?? {}) })),
    statics: miss.statics,
    reference_aurocs: rows.train.length > 0 && rows.test.length > 0 ? referenceAurocs(cohort, rows) : null,
    notes,
    ...(input.checks ? { checks: input.checks } : {}),
  };
  await writeCohortParquet(staged.cohort, cohort);
  await writeSplits(staged.splits, splits);
  await writeFileAtomic(staged.markdown, reportMarkdown(report));
  await writeFileAtomic(staged.report, JSON.stringify(report, null, 2) + '\n');
  return report;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function reportMarkdown(r: CohortReport): string {
  const lines: string[] = [];
  lines.push(`# Cohort report: ${r.source}`, '');
  lines.push(`Input: \`${r.input}\`  `);
  lines.push(`Window: ${r.hours} h; ${r.stays} stays, ${r.patients} patients, ${r.deaths} deaths (prevalence ${pct(r.prevalence)}).`, '');
  lines.push('## Inclusion', '', '| step | stays | patients | deaths |', '|---|---:|---:|---:|');
  for (const s of r.inclusion) lines.push(`| ${s.step} | ${s.stays} | ${s.patients} | ${s.deaths} |`);
  lines.push('', '## Splits (by patient, stratified by outcome)', '', '| split | stays | deaths |', '|---|---:|---:|');
  for (const name of SPLIT_NAMES) lines.push(`| ${name} | ${r.splits[name].stays} | ${r.splits[name].deaths} |`);
  if (r.reference_aurocs) {
    lines.push('', '## Reference AUROCs', '', `${referenceAurocLine(r.reference_aurocs)}.`, '');
    lines.push('Charting-only well above values-only would mean the charting pattern, not physiology, carries the outcome.');
  }
  lines.push('', '## Variables', '', '| variable | unit | missing stay-hours | stays never observed | removed as implausible | source |', '|---|---|---:|---:|---:|---|');
  for (const v of r.variables) {
    lines.push(`| ${v.name} | ${v.unit} | ${pct(v.missingRate)} | ${pct(v.neverObservedRate)} | ${v.removedImplausible ?? ''} | ${v.source ?? ''} |`);
  }
  lines.push('', '## Statics', '', '| static | missing |', '|---|---:|');
  for (const s of r.statics) lines.push(`| ${s.name} | ${pct(s.missingRate)} |`);
  if (r.notes.length > 0) {
    lines.push('', '## Notes', '');
    for (const note of r.notes) lines.push(`- ${note}`);
  }
  lines.push('');
  return lines.join('\n');
}
