import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Cohort, CohortSchema, VariableSpec } from '../cohort.js';
import { writeCohortOutputs, type CohortReport } from './cohort-report.js';
import type { CohortSource } from './types.js';
import { openDuck, sqlIdent, sqlString, duckMessage, type DuckSession } from '../duckdb.js';
import { UserError } from '../../util/errors.js';

export const TABLE_DEFAULT_OUT = join('data', 'cohorts', 'table');

export interface TableOptions {
  /** A Parquet (.parquet) or CSV (.csv, .csv.gz, .tsv, .txt) file with one row per stay. */
  file: string;
  label: string;
  id: string;
  /** Patient column for patient-grouped splits; default: the id column (one stay per patient). */
  patient?: string;
  /** Feature columns; default: every numeric column except id, patient and label. */
  features?: string[];
  outDir?: string;
  seed?: number;
}

const NUMERIC_TYPES = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|REAL|DECIMAL.*|BOOLEAN)$/;
const INTEGER_TYPES = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT)$/;

function reader(file: string): string {
  const lower = file.toLowerCase();
  if (lower.endsWith('.parquet') || lower.endsWith('.pq')) return `read_parquet(${sqlString(file)})`;
  if (/\.(csv|tsv|txt)(\.gz)?$/.test(lower)) return `read_csv(${sqlString(file)}, header = true)`;
  throw new UserError(`cannot tell the format of ${file}: name it .parquet, .csv, .csv.gz or .tsv`);
}

async function columnTypes(session: DuckSession, from: string, file: string): Promise<Map<string, string>> {
  try {
    const result = await session.connection.runAndReadAll(`DESCRIBE SELECT * FROM ${from}`);
    return new Map(result.getRowsJS().map((r) => [String(r[0]), String(r[1])]));
  } catch (err) {
    throw new UserError(`cannot read ${file}: ${duckMessage(err)}`);
  }
}

/**
 * A user's own table as a cohort: one row per stay, each feature column a "variable" observed in the single
 * hour of a 1-hour window. The tabular featurizer then gives each feature's value (its mean, min, max and last
 * are that value) and a missing indicator, so the MLP works unchanged; the schema is marked tabularOnly so
 * sequence models and time-based triggers refuse it. A table carries no clinical ranges, so each feature's
 * observed minimum and maximum stand in as its plausible range (triggers clamp into values the data contain).
 */
export async function buildTableCohort(options: TableOptions): Promise<CohortReport> {
  const { file } = options;
  if (!existsSync(file)) throw new UserError(`table file not found: ${file}`);
  if (statSync(file).isDirectory()) throw new UserError(`--file must be a file, but ${file} is a folder`);
  const from = reader(file);
  const outDir = options.outDir ?? TABLE_DEFAULT_OUT;
  const session = await openDuck();
  let cohort: Cohort;
  try {
    const types = await columnTypes(session, from, file);
    const columns = [...types.keys()];
    const need = (column: string, role: string) => {
      if (!types.has(column)) throw new UserError(`${role} column "${column}" is not in ${file}; columns: ${columns.join(', ')}`);
    };
    need(options.id, 'id');
    need(options.label, 'label');
    const patient = options.patient ?? options.id;
    need(patient, 'patient');
    for (const role of [['id', options.id], ['patient', patient]] as const) {
      if (!INTEGER_TYPES.test(types.get(role[1])!)) {
        throw new UserError(`${role[0]} column "${role[1]}" is ${types.get(role[1])}; ids must be integers`);
      }
    }
    const reserved = new Set([options.id, patient, options.label]);
    let features: string[];
    if (options.features && options.features.length > 0) {
      features = options.features;
      for (const f of features) {
        need(f, 'feature');
        if (reserved.has(f)) throw new UserError(`feature column "${f}" is also the id, patient or label column`);
        if (!NUMERIC_TYPES.test(types.get(f)!)) throw new UserError(`feature column "${f}" is ${types.get(f)}; features must be numeric`);
      }
      if (new Set(features).size !== features.length) throw new UserError(`--features lists a column twice: ${features.join(', ')}`);
    } else {
      features = columns.filter((c) => !reserved.has(c) && NUMERIC_TYPES.test(types.get(c)!));
      if (features.length === 0) throw new UserError(`${file} has no numeric column besides id, patient and label to use as a feature`);
    }

    const select = [
      `${sqlIdent(options.id)}::DOUBLE`,
      `${sqlIdent(patient)}::DOUBLE`,
      `TRY_CAST(${sqlIdent(options.label)} AS DOUBLE)`,
      ...features.map((f) => `${sqlIdent(f)}::DOUBLE`),
      `${sqlIdent(options.label)}::VARCHAR`,
    ].join(', ');
    let rows: (number | null)[][];
    // The label is read leniently so a text value ("NA") is reported by row instead of failing the cast.
    try {
      rows = (await session.connection.runAndReadAll(`SELECT ${select} FROM ${from}`)).getRowsJS() as (number | null)[][];
    } catch (err) {
      throw new UserError(`cannot read ${file}: ${duckMessage(err)}`);
    }
    const n = rows.length;
    if (n === 0) throw new UserError(`${file} has no rows`);
    const V = features.length;
    const lo = new Array<number>(V).fill(Infinity);
    const hi = new Array<number>(V).fill(-Infinity);
    const seenIds = new Map<number, number>();
    const stayIds = new Float64Array(n);
    const patientIds = new Float64Array(n);
    const labels = new Uint8Array(n);
    const series = new Float32Array(n * V).fill(NaN);
    for (let i = 0; i < n; i++) {
      const r = rows[i];
      const [id, pid, label] = r;
      if (id === null || !Number.isInteger(id) || Math.abs(id) > 2 ** 31 - 1) {
        throw new UserError(`row ${i + 1} of ${file}: id "${id}" in column "${options.id}" is not a 32-bit integer`);
      }
      if (seenIds.has(id)) throw new UserError(`${file}: id ${id} appears in rows ${seenIds.get(id)! + 1} and ${i + 1}; the table needs one row per stay`);
      seenIds.set(id, i);
      if (pid === null || !Number.isInteger(pid) || Math.abs(pid) > 2 ** 31 - 1) {
        throw new UserError(`row ${i + 1} of ${file} (id ${id}): patient "${pid}" in column "${patient}" is not a 32-bit integer`);
      }
      if (label !== 0 && label !== 1) {
        const raw = r[3 + V] as unknown as string | null;
        const shown = label === null || Number.isNaN(label) ? (raw === null ? 'missing' : `"${raw}"`) + ' (NaN)' : String(label);
        throw new UserError(`row ${i + 1} of ${file} (id ${id}): label in column "${options.label}" is ${shown}; every stay needs a 0/1 label`);
      }
      stayIds[i] = id;
      patientIds[i] = pid;
      labels[i] = label;
      for (let v = 0; v < V; v++) {
        const x = r[3 + v];
        if (x === null || !Number.isFinite(x)) continue;
        series[i * V + v] = x;
        const x32 = Math.fround(x);
        if (x32 < lo[v]) lo[v] = x32;
        if (x32 > hi[v]) hi[v] = x32;
      }
    }
    const variables: VariableSpec[] = features.map((f, v) => {
      if (lo[v] === Infinity) throw new UserError(`feature column "${f}" of ${file} has no values`);
      return { name: f, unit: '', kind: 'lab', plausibleMin: lo[v], plausibleMax: hi[v], description: `column "${f}" of ${file}; plausible range = observed range` };
    });
    const schema: CohortSchema = { hours: 1, variables, statics: [], label: options.label, source: 'table', tabularOnly: true };
    cohort = { schema, n, stayIds, patientIds, statics: new Float32Array(0), series, labels };
  } finally {
    session.close();
  }
  return writeCohortOutputs({
    outDir,
    cohort,
    input: file,
    options: { label: options.label, id: options.id, patient: options.patient ?? null, features: cohort.schema.variables.map((v) => v.name), seed: options.seed ?? null },
    inclusion: [
      { step: `rows in ${file}`, stays: cohort.n, patients: new Set(cohort.patientIds).size, deaths: cohort.labels.reduce((a, y) => a + y, 0) },
    ],
    notes: ['A table has no time axis: each feature is one value in a 1-hour window (tabularOnly); sequence models and time-based triggers refuse it.'],
    seed: options.seed,
  });
}

/** `backdoor cohort table`. Its variables are the user's own columns, so no name is promised. */
export const table: CohortSource = {
  name: 'table',
  description: 'Your own Parquet or CSV file with one row per stay (tabular models only)',
  params: {
    file: { type: 'string', nullable: true, default: null, description: 'Parquet (.parquet) or CSV (.csv, .csv.gz, .tsv) file' },
    label: { type: 'string', nullable: true, default: null, description: 'Outcome column (0/1)' },
    id: { type: 'string', nullable: true, default: null, description: 'Stay id column (integers)' },
    patient: { type: 'string', nullable: true, default: null, description: 'Patient id column for patient-grouped splits (default: the id column)' },
    features: { type: 'list', items: { type: 'string' }, nullable: true, default: null, description: 'Feature columns, comma-separated (default: every other numeric column)' },
  },
  required: ['file', 'label', 'id'],
  defaultOut: TABLE_DEFAULT_OUT,
  variables: () => null,
  build: (p, output) =>
    buildTableCohort({
      file: p.file as string,
      label: p.label as string,
      id: p.id as string,
      patient: (p.patient as string | null) ?? undefined,
      features: (p.features as string[] | null) ?? undefined,
      outDir: output.outDir,
      seed: output.seed,
    }),
};
