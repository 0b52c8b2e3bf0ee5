import { readFile } from 'node:fs/promises';
import { parquetMetadata, parquetRead } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import type { Cohort, CohortSchema } from './cohort.js';
import { allocateCohort } from './cohort.js';
import { writeFileAtomic } from '../util/fs.js';
import { UserError } from '../util/errors.js';

/**
 * The cohort Parquet format: one row per ICU stay, wide columns, readable by pandas/pyarrow and DuckDB.
 *
 *   stay_id      INT32   stay identifier
 *   patient_id   INT32   patient identifier (splits never put one patient in two splits)
 *   label        INT32   outcome, 0 or 1 (no nulls)
 *   <static>     DOUBLE  one column per static variable (null = unknown); categorical as STRING
 *   <var>_hHH    FLOAT   one column per variable and hour of the window, HH = 00..T-1 (null = not measured)
 *   true_risk    DOUBLE  synthetic cohorts only: the generator's true outcome probability
 *
 * The key-value metadata `backdoor.schema` holds the CohortSchema as JSON (variables, units, plausible
 * ranges, hours, label name, source) and `backdoor.format` the format version.
 */
export const COHORT_FORMAT_VERSION = '1';
const SCHEMA_KEY = 'backdoor.schema';
const FORMAT_KEY = 'backdoor.format';

export function seriesColumnName(variable: string, hour: number): string {
  return `${variable}_h${String(hour).padStart(2, '0')}`;
}

export function cohortToParquetBuffer(cohort: Cohort): ArrayBuffer {
  const { schema, n } = cohort;
  const T = schema.hours;
  const V = schema.variables.length;
  const S = schema.statics.length;
  const columnData: { name: string; data: unknown[] | Int32Array | Float64Array; type: 'INT32' | 'DOUBLE' | 'FLOAT' | 'STRING'; nullable?: boolean }[] = [];
  const ints = (values: Float64Array, what: string) => {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const x = values[i];
      if (!Number.isInteger(x) || Math.abs(x) > 2 ** 31 - 1) throw new Error(`${what} must be 32-bit integers; row ${i} is ${x}`);
      out[i] = x;
    }
    return out;
  };
  columnData.push({ name: 'stay_id', data: ints(cohort.stayIds, 'stay_id'), type: 'INT32', nullable: false });
  columnData.push({ name: 'patient_id', data: ints(cohort.patientIds, 'patient_id'), type: 'INT32', nullable: false });
  columnData.push({ name: 'label', data: Int32Array.from(cohort.labels), type: 'INT32', nullable: false });
  schema.statics.forEach((spec, s) => {
    if (spec.kind === 'categorical') {
      const cats = spec.categories ?? [];
      const data = Array.from({ length: n }, (_, i) => {
        const x = cohort.statics[i * S + s];
        return Number.isNaN(x) ? null : (cats[x] ?? String(x));
      });
      columnData.push({ name: spec.name, data, type: 'STRING' });
    } else {
      const data = Array.from({ length: n }, (_, i) => {
        const x = cohort.statics[i * S + s];
        return Number.isNaN(x) ? null : x;
      });
      columnData.push({ name: spec.name, data, type: 'DOUBLE' });
    }
  });
  for (let v = 0; v < V; v++) {
    for (let t = 0; t < T; t++) {
      const data = new Array<number | null>(n);
      for (let i = 0; i < n; i++) {
        const x = cohort.series[(i * T + t) * V + v];
        data[i] = Number.isNaN(x) ? null : x;
      }
      columnData.push({ name: seriesColumnName(schema.variables[v].name, t), data, type: 'FLOAT' });
    }
  }
  if (cohort.trueRisk) columnData.push({ name: 'true_risk', data: Float64Array.from(cohort.trueRisk), type: 'DOUBLE', nullable: false });
  return parquetWriteBuffer({
    columnData: columnData as Parameters<typeof parquetWriteBuffer>[0]['columnData'],
    kvMetadata: [
      { key: SCHEMA_KEY, value: JSON.stringify(schema) },
      { key: FORMAT_KEY, value: COHORT_FORMAT_VERSION },
    ],
    rowGroupSize: 100000,
  });
}

export async function writeCohortParquet(path: string, cohort: Cohort): Promise<void> {
  await writeFileAtomic(path, new Uint8Array(cohortToParquetBuffer(cohort)));
}

/** Reads a cohort Parquet file, validating every column and label; errors are one line and name the file. */
export async function readCohortParquet(path: string): Promise<Cohort> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`data file not found: ${path} (run \`backdoor setup\` to generate the default cohort)`);
    throw new UserError(`cannot read data file ${path}: ${(err as Error).message}`);
  }
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  let metadata;
  try {
    metadata = parquetMetadata(buffer);
  } catch (err) {
    throw new UserError(`corrupt data file ${path}: not a readable Parquet file (${(err as Error).message})`);
  }
  const kv = new Map((metadata.key_value_metadata ?? []).map((e) => [e.key, e.value]));
  const schemaJson = kv.get(SCHEMA_KEY);
  if (!schemaJson) {
    throw new UserError(`${path} is not a backdoor cohort file: it has no "${SCHEMA_KEY}" metadata (write cohorts with \`backdoor setup\` or \`backdoor cohort\`)`);
  }
  let schema: CohortSchema;
  try {
    schema = JSON.parse(schemaJson) as CohortSchema;
  } catch {
    throw new UserError(`corrupt data file ${path}: its "${SCHEMA_KEY}" metadata is not valid JSON`);
  }
  const named = (list: unknown) => Array.isArray(list) && list.every((e) => typeof (e as { name?: unknown } | null)?.name === 'string');
  if (typeof schema !== 'object' || schema === null || !Number.isInteger(schema.hours) || schema.hours < 1 || !named(schema.variables) || !named(schema.statics)) {
    throw new UserError(`corrupt data file ${path}: its "${SCHEMA_KEY}" metadata is not a cohort schema (it needs hours, variables and statics)`);
  }
  const n = Number(metadata.num_rows);
  const T = schema.hours;
  const V = schema.variables.length;
  const S = schema.statics.length;
  const present = new Set(metadata.schema.slice(1).map((el) => el.name));
  const required = ['stay_id', 'patient_id', 'label', ...schema.statics.map((s) => s.name)];
  for (const variable of schema.variables) for (let t = 0; t < T; t++) required.push(seriesColumnName(variable.name, t));
  const missing = required.filter((c) => !present.has(c));
  if (missing.length > 0) {
    const shown = missing.slice(0, 5).join(', ') + (missing.length > 5 ? `, … (${missing.length} in all)` : '');
    throw new UserError(`${path} lacks required columns: ${shown}; a cohort file needs stay_id, patient_id, label, the static columns and <variable>_hHH series columns`);
  }

  const cohort = allocateCohort(schema, n, { trueRisk: present.has('true_risk') });
  const seriesTarget = new Map<string, [number, number]>();
  schema.variables.forEach((v, vi) => {
    for (let t = 0; t < T; t++) seriesTarget.set(seriesColumnName(v.name, t), [vi, t]);
  });
  const staticTarget = new Map(schema.statics.map((s, si) => [s.name, si]));
  const badLabels: number[] = [];

  try {
    await parquetRead({
      file: buffer,
      columns: [...required, ...(cohort.trueRisk ? ['true_risk'] : [])],
      onChunk: ({ columnName, columnData, rowStart }) => {
        const data = columnData as ArrayLike<unknown>;
        const len = data.length;
        if (columnName === 'stay_id' || columnName === 'patient_id') {
          const target = columnName === 'stay_id' ? cohort.stayIds : cohort.patientIds;
          for (let k = 0; k < len; k++) target[rowStart + k] = Number(data[k]);
        } else if (columnName === 'label') {
          for (let k = 0; k < len; k++) {
            const y = data[k] === null || data[k] === undefined ? NaN : Number(data[k]);
            if (y === 0 || y === 1) cohort.labels[rowStart + k] = y;
            else badLabels.push(rowStart + k);
          }
        } else if (columnName === 'true_risk') {
          for (let k = 0; k < len; k++) cohort.trueRisk![rowStart + k] = Number(data[k]);
        } else if (staticTarget.has(columnName)) {
          const s = staticTarget.get(columnName)!;
          const cats = schema.statics[s].categories;
          for (let k = 0; k < len; k++) {
            const x = data[k];
            let value = NaN;
            if (x !== null && x !== undefined) {
              // An unknown category name (indexOf = -1) is unknown; a negative numeric static is a real value.
              if (cats && typeof x === 'string') {
                const c = cats.indexOf(x);
                value = c < 0 ? NaN : c;
              } else value = Number(x);
            }
            cohort.statics[(rowStart + k) * S + s] = value;
          }
        } else {
          const [v, t] = seriesTarget.get(columnName)!;
          for (let k = 0; k < len; k++) {
            const x = data[k];
            cohort.series[((rowStart + k) * T + t) * V + v] = x === null || x === undefined ? NaN : Number(x);
          }
        }
      },
    });
  } catch (err) {
    throw new UserError(`corrupt data file ${path}: ${(err as Error).message}`);
  }
  if (badLabels.length > 0) {
    const first = badLabels[0];
    throw new UserError(
      `${path}: label is missing, NaN or not 0/1 in ${badLabels.length} row(s) (first: row ${first}, stay_id ${cohort.stayIds[first]}); every stay needs a 0/1 label`,
    );
  }
  return cohort;
}
