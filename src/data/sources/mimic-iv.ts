import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Cohort, CohortSchema, StaticSpec } from '../cohort.js';
import { allocateCohort } from '../cohort.js';
import { SYNTHETIC_VARIABLES } from './synthetic-schema.js';
import { buildCohortFolder, writeCohortFiles, type CohortReport, type InclusionStep } from './cohort-report.js';
import type { CohortSource } from './types.js';
import { checkGzipMagic, checkIdsAndLabels, createSourceViews, locateMimicTables, rows, startGzipCheck, type LocatedTable } from './mimic-iv-tables.js';
export { locateMimicTables, MIMIC_TABLES, tableReader, type LocatedTable, type MimicTableSpec } from './mimic-iv-tables.js';
import { openDuck, runScript, duckMessage } from '../duckdb.js';
import { clampFloat32 } from '../../util/float32.js';
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
