import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Cohort, CohortSchema, StaticSpec } from '../cohort.js';
import { allocateCohort } from '../cohort.js';
import { SYNTHETIC_VARIABLES } from './synthetic-schema.js';
import { buildCohortFolder, writeCohortFiles, type CohortReport, type InclusionStep } from './cohort-report.js';
import type { CohortSource } from './types.js';
import { openDuck, runScript, sqlIdent, sqlString, duckMessage, type DuckSession } from '../duckdb.js';
import { clampFloat32 } from '../../util/float32.js';
import { gzipProblem, hasGzipMagic } from '../../util/gzip.js';
import { UserError } from '../../util/errors.js';

export const MIMIC_DEFAULT_OUT = join('data', 'cohorts', 'mimic-iv');

/** The repository's scripts/ folder (this file is dist/src/data/sources/mimic-iv.js once compiled). */
const SCRIPTS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'scripts');
export const MIMIC_COHORT_SQL = join(SCRIPTS_DIR, '01_build_cohort.sql');

/** admissions.admission_type values of MIMIC-IV v2.2 (hosp module documentation). */
export const MIMIC_ADMISSION_TYPES = [
  'AMBULATORY OBSERVATION',
  'DIRECT EMER.',
  'DIRECT OBSERVATION',
  'ELECTIVE',
  'EU OBSERVATION',
  'EW EMER.',
  'OBSERVATION ADMIT',
  'SURGICAL SAME DAY ADMISSION',
  'URGENT',
];

export interface MimicTableSpec {
  module: 'hosp' | 'icu';
  name: string;
  /**
   * Types of the columns the cohort SQL reads. CSV type sniffing looks only at the first rows, and e.g.
   * chartevents.value is numeric for millions of rows before the first text value, so these are fixed.
   */
  types: Record<string, string>;
}

export const MIMIC_TABLES: MimicTableSpec[] = [
  { module: 'hosp', name: 'patients', types: { subject_id: 'BIGINT', gender: 'VARCHAR', anchor_age: 'INTEGER', anchor_year: 'INTEGER' } },
  {
    module: 'hosp',
    name: 'admissions',
    types: { subject_id: 'BIGINT', hadm_id: 'BIGINT', admittime: 'TIMESTAMP', admission_type: 'VARCHAR', hospital_expire_flag: 'INTEGER' },
  },
  {
    module: 'hosp',
    name: 'labevents',
    types: { subject_id: 'BIGINT', hadm_id: 'BIGINT', itemid: 'INTEGER', charttime: 'TIMESTAMP', value: 'VARCHAR', valuenum: 'DOUBLE' },
  },
  { module: 'hosp', name: 'd_labitems', types: { itemid: 'INTEGER', label: 'VARCHAR' } },
  { module: 'icu', name: 'icustays', types: { subject_id: 'BIGINT', hadm_id: 'BIGINT', stay_id: 'BIGINT', intime: 'TIMESTAMP', outtime: 'TIMESTAMP' } },
  {
    module: 'icu',
    name: 'chartevents',
    types: { subject_id: 'BIGINT', hadm_id: 'BIGINT', stay_id: 'BIGINT', charttime: 'TIMESTAMP', itemid: 'INTEGER', value: 'VARCHAR', valuenum: 'DOUBLE' },
  },
  { module: 'icu', name: 'd_items', types: { itemid: 'INTEGER', label: 'VARCHAR' } },
];

export interface LocatedTable {
  spec: MimicTableSpec;
  path: string;
  format: 'csv' | 'parquet';
  gzip: boolean;
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Finds each required table as .parquet, .csv.gz or .csv; every problem is a one-line UserError. */
export function locateMimicTables(mimicDir: string): LocatedTable[] {
  if (!existsSync(mimicDir)) throw new UserError(`MIMIC-IV folder not found: ${mimicDir}`);
  if (!isDir(mimicDir)) throw new UserError(`--mimic-dir must be a folder, but ${mimicDir} is a file`);
  if (!isDir(join(mimicDir, 'hosp')) && !isDir(join(mimicDir, 'icu'))) {
    const nested = readdirSync(mimicDir).filter((d) => isDir(join(mimicDir, d, 'hosp')) && isDir(join(mimicDir, d, 'icu')));
    const hint = nested.length > 0 ? `; did you mean ${join(mimicDir, nested[0])}?` : ' (point --mimic-dir at the folder that holds hosp/ and icu/)';
    throw new UserError(`${mimicDir} is not a MIMIC-IV folder: it has no hosp/ or icu/ subfolder${hint}`);
  }
  return MIMIC_TABLES.map((spec) => {
    const folder = join(mimicDir, spec.module);
    const candidates: [string, 'csv' | 'parquet', boolean][] = [
      [`${spec.name}.parquet`, 'parquet', false],
      [`${spec.name}.csv.gz`, 'csv', true],
      [`${spec.name}.csv`, 'csv', false],
    ];
    for (const [file, format, gzip] of candidates) {
      const path = join(folder, file);
      if (existsSync(path)) return { spec, path, format, gzip };
    }
    throw new UserError(
      `missing MIMIC-IV table ${spec.module}/${spec.name}: none of ${candidates.map(([f]) => f).join(', ')} in ${folder}`,
    );
  });
}

/** A SQL table expression that reads one located table with the column types the cohort SQL relies on. */
export function tableReader(table: LocatedTable): string {
  if (table.format === 'parquet') return `read_parquet(${sqlString(table.path)})`;
  const types = Object.entries(table.spec.types)
    .map(([column, type]) => `${sqlString(column)}: ${sqlString(type)}`)
    .join(', ');
  return `read_csv(${sqlString(table.path)}, header = true, types = {${types}})`;
}

/**
 * Every column of a CSV table for the Parquet copy: the columns the cohort reads get their fixed types, the
 * rest stay text, so no column can fail on a value that type sniffing did not foresee.
 */
export function losslessSelect(table: LocatedTable): string {
  const replace = Object.entries(table.spec.types)
    .map(([column, type]) => `CAST(${sqlIdent(column)} AS ${type}) AS ${sqlIdent(column)}`)
    .join(', ');
  return `SELECT * REPLACE (${replace}) FROM read_csv(${sqlString(table.path)}, header = true, all_varchar = true)`;
}

async function createSourceViews(session: DuckSession, tables: LocatedTable[]): Promise<void> {
  for (const table of tables) {
    try {
      await session.connection.run(`CREATE OR REPLACE VIEW ${table.spec.name} AS SELECT * FROM ${tableReader(table)}`);
    } catch (err) {
      // A download cut off inside the header row surfaces here as missing columns, not as damaged gzip.
      const problem = table.gzip ? await gzipProblem(table.path) : null;
      if (problem) throw new UserError(`corrupt gzip file ${table.path}: ${problem}`);
      throw new UserError(`cannot read MIMIC-IV table ${table.path}: ${duckMessage(err)}`);
    }
  }
}

/**
 * Checks, as the tables are read and before the build, what the cohort file cannot hold: ids beyond 32 bits (its
 * stay_id and patient_id columns are INT32) and an in-hospital death flag other than 0 or 1.
 */
async function checkIdsAndLabels(session: DuckSession): Promise<void> {
  const INT32_MAX = 2 ** 31 - 1;
  for (const column of ['stay_id', 'subject_id']) {
    const [[lo, hi]] = await rows(session, `SELECT min(${column})::DOUBLE, max(${column})::DOUBLE FROM icustays`);
    if (lo !== null && hi !== null && (Number(lo) < -INT32_MAX || Number(hi) > INT32_MAX)) {
      throw new UserError(`icustays.${column} ranges over ${lo}..${hi}, beyond the 32-bit ids a cohort file holds (±${INT32_MAX})`);
    }
  }
  const bad = await rows(session, 'SELECT hadm_id::DOUBLE, hospital_expire_flag FROM admissions WHERE hospital_expire_flag NOT IN (0, 1) LIMIT 1');
  if (bad.length > 0) {
    throw new UserError(`admissions.hospital_expire_flag is ${bad[0][1]} for hadm_id ${bad[0][0]}; it must be 0 or 1`);
  }
}

export async function checkGzipMagic(tables: LocatedTable[]): Promise<void> {
  for (const table of tables) {
    if (table.gzip && !(await hasGzipMagic(table.path))) throw new UserError(`corrupt gzip file ${table.path}: it is not gzip data`);
  }
}

/** Starts a full decompression check of every .csv.gz in the background; resolves to the first damaged file. */
function startGzipCheck(tables: LocatedTable[]): Promise<{ path: string; problem: string } | null> {
  const checks = tables
    .filter((t) => t.gzip)
    .map(async (t) => {
      const problem = await gzipProblem(t.path);
      return problem ? { path: t.path, problem } : null;
    });
  return Promise.all(checks).then((results) => results.find((r) => r !== null) ?? null);
}

export interface MimicOptions {
  mimicDir: string;
  /** Observation window in hours (24 or 48 in the CLI). */
  hours?: number;
  outDir?: string;
  /** Seed of the patient-grouped splits. */
  seed?: number;
  /** DuckDB memory_limit, e.g. "8GB"; DuckDB spills to outDir/.duckdb-tmp beyond it. */
  memoryLimit?: string;
  threads?: number;
}

export function mimicSchema(hours: number, admissionTypes: string[]): CohortSchema {
  const statics: StaticSpec[] = [
    { name: 'age', unit: 'years', kind: 'numeric', description: 'Age at hospital admission (anchor_age + admission year − anchor_year; capped at 91 by MIMIC-IV)' },
    { name: 'sex_female', unit: '', kind: 'binary', description: '1 = female, 0 = male (patients.gender)' },
    { name: 'weight', unit: 'kg', kind: 'numeric', description: 'First admission weight charted in the window (chartevents 226512, else 226531 lbs, else 224639)' },
    { name: 'admission_type', unit: '', kind: 'categorical', categories: admissionTypes, description: 'admissions.admission_type' },
  ];
  return { hours, variables: SYNTHETIC_VARIABLES, statics, label: 'in_hospital_mortality', source: 'mimic-iv' };
}

type Row = (string | number | boolean | null | bigint | object)[];

async function rows(session: DuckSession, sql: string): Promise<Row[]> {
  const reader = await session.connection.runAndReadAll(sql);
  return reader.getRowsJS() as Row[];
}

/**
 * Builds the MIMIC-IV in-hospital mortality cohort with scripts/01_build_cohort.sql and writes
 * <outDir>/cohort.parquet, splits.json, cohort_report.json and cohort_report.md.
 * DuckDB streams the raw tables; only the per-stay statics and the hourly aggregates reach JavaScript.
 */
export async function buildMimicCohort(options: MimicOptions): Promise<CohortReport> {
  const hours = options.hours ?? 24;
  if (!Number.isInteger(hours) || hours < 1 || hours > 168) throw new UserError(`--hours must be an integer from 1 to 168, got ${hours}`);
  const outDir = options.outDir ?? MIMIC_DEFAULT_OUT;
  const tables = locateMimicTables(options.mimicDir);
  await checkGzipMagic(tables);
  return buildCohortFolder(outDir, (staging) => buildMimicInto(options, hours, tables, outDir, staging));
}

/** The build of buildMimicCohort inside its staging folder (DuckDB spills into staging/.duckdb-tmp). */
async function buildMimicInto(options: MimicOptions, hours: number, tables: LocatedTable[], outDir: string, staging: string): Promise<CohortReport> {
  // Runs beside DuckDB (it never rejects: problems resolve to a description), so it costs little wall time.
  const gzipCheck = startGzipCheck(tables);
  if (!existsSync(MIMIC_COHORT_SQL)) throw new Error(`cohort SQL not found at ${MIMIC_COHORT_SQL}; the package is incomplete`);
  const script = await readFile(MIMIC_COHORT_SQL, 'utf8');

  const tempDirectory = join(staging, '.duckdb-tmp');
  const session = await openDuck({ tempDirectory, memoryLimit: options.memoryLimit, threads: options.threads });
  let cohort: Cohort;
  let inclusion: InclusionStep[];
  const notes: string[] = [];
  const extras: Record<string, { removedImplausible: number; source: string }> = {};
  let checks: Record<string, number> = {};
  try {
    await createSourceViews(session, tables);
    await checkIdsAndLabels(session);
    await session.connection.run(`SET VARIABLE obs_hours = ${hours}`);
    // Insertion order is irrelevant here (outputs are ordered explicitly) and keeping it costs memory on full MIMIC-IV.
    await session.connection.run('SET preserve_insertion_order = false');
    try {
      await runScript(session.connection, script);
    } catch (err) {
      const damaged = await gzipCheck;
      if (damaged) throw new UserError(`corrupt gzip file ${damaged.path}: ${damaged.problem}`);
      throw new UserError(`building the MIMIC-IV cohort from ${options.mimicDir} failed: ${duckMessage(err)}`);
    }
    const damaged = await gzipCheck;
    if (damaged) throw new UserError(`corrupt gzip file ${damaged.path}: ${damaged.problem}`);

    // The SQL's plausible ranges must be the schema's, or triggers would clamp to different limits.
    for (const [variable, lo, hi] of await rows(session, 'SELECT variable, lo, hi FROM plausible_ranges')) {
      const spec = SYNTHETIC_VARIABLES.find((v) => v.name === variable);
      if (spec && (spec.plausibleMin !== lo || spec.plausibleMax !== hi)) {
        throw new Error(`plausible range of ${variable} differs between ${MIMIC_COHORT_SQL} (${lo}..${hi}) and synthetic-schema.ts (${spec.plausibleMin}..${spec.plausibleMax})`);
      }
    }
    for (const [source, itemid, expected, found] of await rows(
      session,
      'SELECT source, itemid, expected_label, found_label FROM cohort_item_check WHERE found_label IS DISTINCT FROM expected_label ORDER BY itemid',
    )) {
      notes.push(
        found === null
          ? `itemid ${itemid} ("${expected}") is not in ${source === 'labevents' ? 'd_labitems' : 'd_items'}: this MIMIC-IV version may not chart it`
          : `itemid ${itemid} is labelled "${found}" in ${source === 'labevents' ? 'd_labitems' : 'd_items'}, expected "${expected}"`,
      );
    }
    for (const [variable, source] of await rows(
      session,
      `SELECT variable, string_agg(src, ', ' ORDER BY src) FROM (
         SELECT variable, 'chartevents ' || itemid AS src FROM chart_items
         UNION ALL SELECT 'gcs', 'chartevents ' || itemid FROM gcs_items
         UNION ALL SELECT variable, 'labevents ' || itemid FROM lab_items) GROUP BY variable`,
    )) {
      extras[String(variable)] = { removedImplausible: 0, source: String(source) };
    }

    inclusion = (await rows(session, 'SELECT name, stays::DOUBLE, patients::DOUBLE, deaths::DOUBLE FROM cohort_steps ORDER BY step')).map(
      ([step, stays, patients, deaths]) => ({ step: String(step), stays: Number(stays), patients: Number(patients), deaths: Number(deaths) }),
    );

    const stayRows = await rows(
      session,
      'SELECT stay_id::DOUBLE, subject_id::DOUBLE, age::DOUBLE, sex_female::DOUBLE, weight::DOUBLE, admission_type, label::INTEGER FROM cohort_stays ORDER BY stay_id',
    );
    const admissionTypes = [...MIMIC_ADMISSION_TYPES];
    for (const r of stayRows) {
      const type = r[5];
      if (typeof type === 'string' && !admissionTypes.includes(type)) admissionTypes.push(type);
    }
    if (admissionTypes.length > MIMIC_ADMISSION_TYPES.length) {
      notes.push(`admission types not in MIMIC-IV v2.2 were added as categories: ${admissionTypes.slice(MIMIC_ADMISSION_TYPES.length).join(', ')}`);
    }
    const schema = mimicSchema(hours, admissionTypes);
    const n = stayRows.length;
    const S = schema.statics.length;
    const V = schema.variables.length;
    cohort = allocateCohort(schema, n);
    const rowOf = new Map<number, number>();
    stayRows.forEach((r, i) => {
      const [stayId, subjectId, age, sexFemale, weight, type, label] = r;
      cohort.stayIds[i] = Number(stayId);
      cohort.patientIds[i] = Number(subjectId);
      if (label !== 0 && label !== 1) throw new UserError(`stay_id ${stayId} has label ${label}; hospital_expire_flag must be 0 or 1`);
      cohort.labels[i] = Number(label);
      const num = (x: unknown) => (x === null || x === undefined ? NaN : Number(x));
      cohort.statics[i * S + 0] = num(age);
      cohort.statics[i * S + 1] = num(sexFemale);
      cohort.statics[i * S + 2] = num(weight);
      cohort.statics[i * S + 3] = typeof type === 'string' ? admissionTypes.indexOf(type) : NaN;
      rowOf.set(Number(stayId), i);
    });

    const variableIndex = new Map(schema.variables.map((v, i) => [v.name, i]));
    const result = await session.connection.stream('SELECT stay_id::DOUBLE, hour, variable, value FROM cohort_hourly WHERE value IS NOT NULL');
    for await (const chunk of result.yieldRowsJs()) {
      for (const [stayId, hour, variable, value] of chunk as [number, number, string, number][]) {
        const i = rowOf.get(stayId);
        const v = variableIndex.get(variable);
        if (i === undefined || v === undefined || !(hour >= 0 && hour < hours)) {
          throw new Error(`cohort_hourly row outside the cohort: stay ${stayId}, hour ${hour}, variable ${variable}`);
        }
        const spec = schema.variables[v];
        cohort.series[(i * hours + hour) * V + v] = clampFloat32(value, spec.plausibleMin, spec.plausibleMax);
      }
    }
    for (const [variable, removed] of await rows(session, 'SELECT variable, sum(n_removed)::DOUBLE FROM cohort_hourly GROUP BY variable')) {
      if (extras[String(variable)]) extras[String(variable)].removedImplausible = Number(removed);
    }
    const [[hourlyRows, hourMin, hourMax]] = await rows(session, 'SELECT count(*)::DOUBLE, coalesce(min(hour), 0)::DOUBLE, coalesce(max(hour), 0)::DOUBLE FROM cohort_hourly');
    checks = { hourlyRows: Number(hourlyRows), hourMin: Number(hourMin), hourMax: Number(hourMax) };
  } finally {
    session.close();
    await rm(tempDirectory, { recursive: true, force: true });
  }

  if (cohort.n === 0) throw new UserError(`no ICU stay of ${options.mimicDir} meets the inclusion criteria (${hours} h window); see the inclusion steps`);
  notes.push(
    'Blood pressure: within each hour the invasive (arterial line) mean is used when charted, else the non-invasive cuff mean.',
    'GCS: the sum of eye, verbal and motor components charted at the same time; the charted numeric values are summed as recorded (intubated patients keep their charted verbal score).',
    `Features come only from [intime, intime + ${hours} h); labs are attached by patient and charttime (labevents has no stay_id).`,
  );
  return writeCohortFiles(
    {
      outDir,
      cohort,
      input: options.mimicDir,
      options: { hours, seed: options.seed ?? null, tables: Object.fromEntries(tables.map((t) => [`${t.spec.module}/${t.spec.name}`, t.format + (t.gzip ? '.gz' : '')])) },
      inclusion,
      variableExtras: extras,
      notes,
      checks,
      seed: options.seed,
    },
    staging,
  );
}

/** `backdoor cohort mimic-iv`. Its variables are the shared schema's, by construction (mimicSchema). */
export const mimicIv: CohortSource = {
  name: 'mimic-iv',
  description: 'First ICU stay of adults in MIMIC-IV (hosp/ and icu/ as .csv.gz, .csv or .parquet), hourly features over the first 24 or 48 h, label in-hospital death',
  params: {
    mimic_dir: { type: 'string', nullable: true, default: null, description: 'MIMIC-IV folder holding hosp/ and icu/' },
    hours: { type: 'integer', choices: [24, 48], default: 24, unit: 'hours', description: 'Observation window' },
    memory_limit: { type: 'string', nullable: true, default: null, description: 'DuckDB memory limit, e.g. 8GB (DuckDB spills to disk beyond it)' },
  },
  required: ['mimic_dir'],
  defaultOut: MIMIC_DEFAULT_OUT,
  variables: () => SYNTHETIC_VARIABLES,
  build(p, output) {
    const memoryLimit = p.memory_limit === null ? undefined : String(p.memory_limit);
    if (memoryLimit !== undefined && !/^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i.test(memoryLimit)) {
      throw new UserError(`mimic-iv.memory_limit: bad value "${memoryLimit.slice(0, 40)}"; valid: a size such as 512MB, 8GB or 1.5TB`);
    }
    return buildMimicCohort({ mimicDir: p.mimic_dir as string, hours: p.hours as number, outDir: output.outDir, seed: output.seed, memoryLimit });
  },
};
