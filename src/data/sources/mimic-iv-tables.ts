import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { sqlIdent, sqlString, duckMessage, type DuckSession } from '../duckdb.js';
import { gzipProblem, hasGzipMagic } from '../../util/gzip.js';
import { UserError } from '../../util/errors.js';

export type Row = (string | number | boolean | null | bigint | object)[];

/** The MIMIC-IV tables the cohort reads: where they are, how DuckDB reads them, and the checks made as they are read. */
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

export async function createSourceViews(session: DuckSession, tables: LocatedTable[]): Promise<void> {
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
export async function checkIdsAndLabels(session: DuckSession): Promise<void> {
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
export function startGzipCheck(tables: LocatedTable[]): Promise<{ path: string; problem: string } | null> {
  const checks = tables
    .filter((t) => t.gzip)
    .map(async (t) => {
      const problem = await gzipProblem(t.path);
      return problem ? { path: t.path, problem } : null;
    });
  return Promise.all(checks).then((results) => results.find((r) => r !== null) ?? null);
}

export async function rows(session: DuckSession, sql: string): Promise<Row[]> {
  const reader = await session.connection.runAndReadAll(sql);
  return reader.getRowsJS() as Row[];
}
