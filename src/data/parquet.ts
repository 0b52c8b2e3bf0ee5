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
 *   <var>_hHH    FLOAT   one column per variable and hour of the window, HH = 00..T-1 (null = not measured;
 *                        an infinity is refused on reading, not taken as missing: it is damage, not a gap)
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
      if (!Number.isInteger(x) || Math.abs(x) > 2 ** 31 - 1) throw new UserError(`${what} must be 32-bit integers (±${2 ** 31 - 1}) in a cohort file; row ${i} is ${x}`);
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
  const columnNames = metadata.schema.slice(1).map((el) => el.name);
  const n = Number(metadata.num_rows);
  const rowGroupRows = metadata.row_groups.reduce((acc, g) => acc + Number(g.num_rows), 0);
  if (!Number.isSafeInteger(n) || n < 0 || n !== rowGroupRows) {
    throw new UserError(`corrupt data file ${path}: it claims ${metadata.num_rows} rows but its row groups hold ${rowGroupRows}`);
  }
  schema = checkSchema(path, schema, columnNames, n);
  const T = schema.hours;
  const V = schema.variables.length;
  const S = schema.statics.length;
  const present = new Set(columnNames);
  const required = ['stay_id', 'patient_id', 'label', ...schema.statics.map((s) => s.name)];
  for (const variable of schema.variables) for (let t = 0; t < T; t++) required.push(seriesColumnName(variable.name, t));
  const missing = required.filter((c) => !present.has(c));
  if (missing.length > 0) {
    const shown = missing.slice(0, 5).join(', ') + (missing.length > 5 ? `, … (${missing.length} in all)` : '');
    throw new UserError(`${path} lacks required columns: ${shown}; a cohort file needs stay_id, patient_id, label, the static columns and <variable>_hHH series columns`);
  }
  checkHours(path, schema, columnNames);

  const cohort = allocateCohort(schema, n, { trueRisk: present.has('true_risk') });
  const seriesTarget = new Map<string, [number, number]>();
  schema.variables.forEach((v, vi) => {
    for (let t = 0; t < T; t++) seriesTarget.set(seriesColumnName(v.name, t), [vi, t]);
  });
  const staticTarget = new Map(schema.statics.map((s, si) => [s.name, si]));
  const badLabels: number[] = [];
  const nonFinite = { count: 0, first: '' };
  const valueChecked = (x: unknown, column: string, row: number): number => {
    if (x === null || x === undefined) return NaN;
    const v = Number(x);
    // NaN stays "not measured" as before; an infinity is damage, refused below with the count.
    if (v === Infinity || v === -Infinity) {
      nonFinite.count++;
      if (!nonFinite.first) nonFinite.first = `${column}, row ${row} (${String(x)})`;
    }
    return v;
  };

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
          for (let k = 0; k < len; k++) cohort.trueRisk![rowStart + k] = valueChecked(data[k], columnName, rowStart + k);
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
              } else value = valueChecked(x, columnName, rowStart + k);
            }
            cohort.statics[(rowStart + k) * S + s] = value;
          }
        } else {
          const [v, t] = seriesTarget.get(columnName)!;
          for (let k = 0; k < len; k++) {
            const x = data[k];
            cohort.series[((rowStart + k) * T + t) * V + v] = valueChecked(x, columnName, rowStart + k);
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
  if (nonFinite.count > 0) {
    throw new UserError(`${path}: ${nonFinite.count} value(s) are infinite or not numbers (first: ${nonFinite.first}); a cohort holds finite values, null for not measured`);
  }
  let positives = 0;
  for (let i = 0; i < n; i++) positives += cohort.labels[i];
  if (n > 0 && (positives === 0 || positives === n)) {
    throw new UserError(`${path}: every one of its ${n} stays has label ${positives === 0 ? 0 : 1}; a cohort needs both outcomes to train and evaluate a model`);
  }
  return cohort;
}

/** Largest series a cohort file may declare (stays × hours × variables), a 4 GiB Float32Array; larger is damage. */
const MAX_SERIES_VALUES = 2 ** 30;
/** How many absent series columns a file may lack before its schema is taken as forged rather than the file as incomplete. */
const MAX_MISSING_LISTED = 10_000;
const VARIABLE_KINDS = ['vital', 'lab', 'score'];
const STATIC_KINDS = ['numeric', 'binary', 'categorical'];

/**
 * Checks the `backdoor.schema` metadata against the file's real dimensions before anything is allocated: every
 * size it states is bounded by the columns and rows the file holds, and every field has its type.
 */
function checkSchema(path: string, raw: unknown, columnNames: string[], n: number): CohortSchema {
  const bad = (problem: string) => new UserError(`corrupt data file ${path}: its "${SCHEMA_KEY}" metadata ${problem}`);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('is not a cohort schema (it needs hours, variables and statics)');
  const schema = raw as Record<string, unknown>;
  if (!Array.isArray(schema.variables) || !Array.isArray(schema.statics)) throw bad('is not a cohort schema (it needs hours, variables and statics)');
  if (schema.variables.length === 0) throw bad('is not a cohort schema: it lists no variables (a cohort needs at least one)');
  const hours = schema.hours;
  if (typeof hours !== 'number' || !Number.isSafeInteger(hours) || hours < 1) throw bad(`has hours ${JSON.stringify(hours)}; it must be an integer ≥ 1`);
  const names = new Set<string>();
  const checkName = (entry: unknown, what: string): Record<string, unknown> => {
    const e = entry as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null || typeof e.name !== 'string' || e.name === '') throw bad(`has a ${what} without a name`);
    if (names.has(e.name)) throw bad(`names "${e.name}" twice`);
    names.add(e.name);
    return e;
  };
  for (const entry of schema.variables) {
    const v = checkName(entry, 'variable');
    if (!VARIABLE_KINDS.includes(v.kind as string)) throw bad(`gives variable "${v.name}" kind ${JSON.stringify(v.kind)}; valid: ${VARIABLE_KINDS.join(', ')}`);
    if (typeof v.plausibleMin !== 'number' || typeof v.plausibleMax !== 'number' || !(v.plausibleMin <= v.plausibleMax)) {
      throw bad(`gives variable "${v.name}" no plausible range (plausibleMin ≤ plausibleMax)`);
    }
    if (v.resolution !== undefined && !(typeof v.resolution === 'number' && v.resolution > 0 && Number.isFinite(v.resolution))) {
      throw bad(`gives variable "${v.name}" resolution ${JSON.stringify(v.resolution)}; it must be a positive number or absent`);
    }
  }
  for (const entry of schema.statics) {
    const st = checkName(entry, 'static variable');
    if (!STATIC_KINDS.includes(st.kind as string)) throw bad(`gives static "${st.name}" kind ${JSON.stringify(st.kind)}; valid: ${STATIC_KINDS.join(', ')}`);
    if (st.kind === 'categorical' && !(Array.isArray(st.categories) && st.categories.every((c) => typeof c === 'string'))) {
      throw bad(`gives categorical static "${st.name}" no list of categories`);
    }
  }
  const V = schema.variables.length;
  // A bound, not the exact check (readCohortParquet names missing columns): no file-sized list is built from a forged size.
  if (V * hours > columnNames.length + MAX_MISSING_LISTED) {
    throw bad(`declares ${V} variables × ${hours} hours, far more series columns than the file's ${columnNames.length} columns`);
  }
  if (n * V * hours > MAX_SERIES_VALUES) throw new UserError(`${path}: ${n} stays × ${hours} hours × ${V} variables exceeds the ${MAX_SERIES_VALUES} values a cohort may hold`);
  return raw as CohortSchema;
}

/** The hours the file's columns cover: its first variable's <name>_hHH columns; the schema must state exactly those. */
function checkHours(path: string, schema: CohortSchema, columnNames: string[]): void {
  const first = schema.variables[0].name;
  const prefix = `${first}_h`;
  let fileHours = 0;
  for (const c of columnNames) {
    if (!c.startsWith(prefix) || !/^\d+$/.test(c.slice(prefix.length))) continue;
    fileHours = Math.max(fileHours, Number(c.slice(prefix.length)) + 1);
  }
  if (schema.hours !== fileHours) {
    throw new UserError(`corrupt data file ${path}: its "${SCHEMA_KEY}" metadata says ${schema.hours} hours but the file's ${first} columns cover ${fileHours}`);
  }
}
