/**
 * The cohort Parquet format: exact round trips (NaN positions, categorical statics, true risk), the layout other
 * tools see (hyparquet metadata, DuckDB), and one-line UserErrors for every kind of bad file.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { DuckDBInstance } from '@duckdb/node-api';
import { parquetMetadata } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';

import type { Cohort, CohortSchema } from '../src/data/cohort.js';
import { cohortToParquetBuffer, readCohortParquet, seriesColumnName, writeCohortParquet } from '../src/data/parquet.js';
import { generateSynthetic } from '../src/data/sources/synthetic.js';
import { UserError } from '../src/util/errors.js';

function nanPositions(a: Float32Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < a.length; i++) if (Number.isNaN(a[i])) out.push(i);
  return out;
}

/** Every array of two cohorts equal, element by element (NaN equals NaN), plus the schema. */
function assertSameCohort(actual: Cohort, expected: Cohort): void {
  assert.equal(actual.n, expected.n);
  assert.deepEqual(actual.schema, expected.schema);
  assert.deepEqual(Array.from(actual.stayIds), Array.from(expected.stayIds));
  assert.deepEqual(Array.from(actual.patientIds), Array.from(expected.patientIds));
  assert.deepEqual(Array.from(actual.labels), Array.from(expected.labels));
  assert.deepEqual(nanPositions(actual.series), nanPositions(expected.series));
  assert.deepEqual(nanPositions(actual.statics), nanPositions(expected.statics));
  // deepEqual compares with Object.is, so NaN matches NaN and every finite value must be bit-equal as float32.
  assert.deepEqual(Array.from(actual.series), Array.from(expected.series));
  assert.deepEqual(Array.from(actual.statics), Array.from(expected.statics));
  if (expected.trueRisk) assert.deepEqual(Array.from(actual.trueRisk!), Array.from(expected.trueRisk));
  else assert.equal(actual.trueRisk, undefined);
}

/** Asserts `fn` rejects with a one-line UserError whose message matches every pattern. */
async function rejectsUser(fn: () => Promise<unknown>, ...patterns: RegExp[]): Promise<string> {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof UserError, `expected a UserError, got ${caught instanceof Error ? `${caught.name}: ${caught.message}` : String(caught)}`);
  const message = caught.message;
  assert.ok(!message.includes('\n'), `message is not one line: ${JSON.stringify(message)}`);
  for (const p of patterns) assert.match(message, p);
  return message;
}

type Column = Parameters<typeof parquetWriteBuffer>[0]['columnData'][number];

/**
 * Writes a cohort file column by column, independently of src/data/parquet.ts, so tests can omit columns,
 * replace the label column or drop the metadata.
 */
function rawCohortFile(
  cohort: Cohort,
  options: { omit?: string[]; label?: Column; replace?: Column[]; metadata?: boolean } = {},
): ArrayBuffer {
  const { schema, n } = cohort;
  const T = schema.hours;
  const V = schema.variables.length;
  const S = schema.statics.length;
  const cols: Column[] = [
    { name: 'stay_id', data: Int32Array.from(cohort.stayIds), type: 'INT32', nullable: false },
    { name: 'patient_id', data: Int32Array.from(cohort.patientIds), type: 'INT32', nullable: false },
    options.label ?? { name: 'label', data: Int32Array.from(cohort.labels), type: 'INT32', nullable: false },
  ];
  schema.statics.forEach((spec, s) => {
    const values = Array.from({ length: n }, (_, i) => cohort.statics[i * S + s]);
    if (spec.kind === 'categorical') {
      cols.push({ name: spec.name, data: values.map((x) => (Number.isNaN(x) ? null : spec.categories![x])), type: 'STRING' });
    } else {
      cols.push({ name: spec.name, data: values.map((x) => (Number.isNaN(x) ? null : x)), type: 'DOUBLE' });
    }
  });
  schema.variables.forEach((spec, v) => {
    for (let t = 0; t < T; t++) {
      const data = Array.from({ length: n }, (_, i) => {
        const x = cohort.series[(i * T + t) * V + v];
        return Number.isNaN(x) ? null : x;
      });
      cols.push({ name: seriesColumnName(spec.name, t), data, type: 'FLOAT' });
    }
  });
  const omit = new Set(options.omit ?? []);
  const replace = new Map((options.replace ?? []).map((c) => [c.name, c]));
  return parquetWriteBuffer({
    columnData: cols.filter((c) => !omit.has(c.name)).map((c) => replace.get(c.name) ?? c),
    kvMetadata: options.metadata === false ? undefined : [{ key: 'backdoor.schema', value: JSON.stringify(schema) }, { key: 'backdoor.format', value: '1' }],
  });
}

let dir: string;
const { cohort: synth } = generateSynthetic({ nStays: 2000, seed: 5 });
const tiny = generateSynthetic({ nStays: 12, hours: 3, seed: 9 }).cohort;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'backdoor-parquet-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('cohort parquet round trip', () => {
  test('a 2000-stay synthetic cohort reads back identical, NaN positions included', async () => {
    const path = join(dir, 'synth.parquet');
    await writeCohortParquet(path, synth);
    const back = await readCohortParquet(path);
    assertSameCohort(back, synth);
    // The cohort does have gaps and unknown statics for the NaN check to mean something.
    const seriesNaN = nanPositions(synth.series).length;
    assert.ok(seriesNaN > 0.3 * synth.series.length && seriesNaN < 0.8 * synth.series.length, `${seriesNaN} NaN series values`);
    assert.ok(nanPositions(synth.statics).length > 50, 'some weights are unknown');
    // Categorical statics: all three admission types present and identical per row.
    const S = synth.schema.statics.length;
    const counts = [0, 0, 0];
    for (let i = 0; i < back.n; i++) counts[back.statics[i * S + 3]]++;
    assert.ok(counts.every((c) => c > 100), `admission types ${counts}`);
    // The buffer writer and the file writer agree byte for byte.
    assert.ok(Buffer.from(cohortToParquetBuffer(synth)).equals(await readFile(path)));
  });

  test('file layout: column types and the schema metadata', async () => {
    const buffer = cohortToParquetBuffer(tiny);
    const meta = parquetMetadata(buffer);
    assert.equal(Number(meta.num_rows), 12);
    const kv = new Map((meta.key_value_metadata ?? []).map((e) => [e.key, e.value]));
    assert.deepEqual(JSON.parse(kv.get('backdoor.schema')!), tiny.schema);
    assert.equal(kv.get('backdoor.format'), '1');
    const cols = meta.schema.slice(1);
    const type = (name: string) => cols.find((c) => c.name === name)?.type;
    assert.equal(cols.length, 3 + 4 + 18 * 3 + 1);
    assert.equal(type('stay_id'), 'INT32');
    assert.equal(type('label'), 'INT32');
    assert.equal(type('age'), 'DOUBLE');
    assert.equal(type('admission_type'), 'BYTE_ARRAY');
    assert.equal(type('heart_rate_h00'), 'FLOAT');
    assert.equal(type('bicarbonate_h02'), 'FLOAT');
    assert.equal(type('true_risk'), 'DOUBLE');
    assert.equal(seriesColumnName('glucose', 7), 'glucose_h07');
    assert.equal(seriesColumnName('glucose', 123), 'glucose_h123');
  });

  test('hand-made cohort: unknown categorical, negative and unknown numeric statics, no trueRisk', async () => {
    const schema: CohortSchema = {
      hours: 2,
      variables: [{ name: 'x', unit: 'u', kind: 'lab', plausibleMin: -10, plausibleMax: 10, description: 'x' }],
      statics: [
        { name: 'base_excess', unit: 'mEq/L', kind: 'numeric', description: 'can be negative' },
        { name: 'ward', unit: '', kind: 'categorical', categories: ['a', 'b', 'c'], description: 'ward' },
      ],
      label: 'y',
      source: 'test',
    };
    const cohort: Cohort = {
      schema,
      n: 3,
      stayIds: Float64Array.from([5, 6, 7]),
      patientIds: Float64Array.from([1, 1, 2]),
      statics: Float32Array.from([-4.5, 2, NaN, NaN, 0, 0]),
      series: Float32Array.from([-1.25, NaN, NaN, NaN, 3.5, 0]),
      labels: Uint8Array.from([1, 0, 1]),
    };
    const path = join(dir, 'hand.parquet');
    await writeCohortParquet(path, cohort);
    const back = await readCohortParquet(path);
    assertSameCohort(back, cohort);
    assert.equal(back.statics[0], -4.5);
    assert.ok(Number.isNaN(back.statics[3]), 'unknown ward stays unknown');
    assert.equal(back.statics[5], 0, 'ward "a" is category 0');
  });

  test('DuckDB reads the file we write', async () => {
    const path = join(dir, 'synth-duck.parquet');
    await writeCohortParquet(path, synth);
    const instance = await DuckDBInstance.create(':memory:');
    const con = await instance.connect();
    try {
      const sql = `SELECT count(*) AS n, avg(label) AS prevalence, count(heart_rate_h00) AS hr0, sum(heart_rate_h00) AS hr0sum,
        count(weight) AS weights, sum(CASE WHEN admission_type = 'emergency' THEN 1 ELSE 0 END) AS emergency, max(stay_id) AS max_stay
        FROM read_parquet('${path.replaceAll("'", "''")}')`;
      const [row] = (await con.runAndReadAll(sql)).getRowObjects();
      const T = synth.schema.hours;
      const V = synth.schema.variables.length;
      const S = synth.schema.statics.length;
      let pos = 0;
      let hr0 = 0;
      let hr0sum = 0;
      let weights = 0;
      let emergency = 0;
      for (let i = 0; i < synth.n; i++) {
        pos += synth.labels[i];
        const hr = synth.series[i * T * V + 0];
        if (!Number.isNaN(hr)) {
          hr0++;
          hr0sum += hr;
        }
        if (!Number.isNaN(synth.statics[i * S + 2])) weights++;
        if (synth.statics[i * S + 3] === 1) emergency++;
      }
      assert.equal(Number(row.n), 2000);
      assert.ok(Math.abs(Number(row.prevalence) - pos / synth.n) < 1e-12, `avg(label) ${row.prevalence} vs ${pos / synth.n}`);
      assert.equal(Number(row.hr0), hr0);
      assert.ok(hr0 > 1000 && hr0 < 2000);
      assert.ok(Math.abs(Number(row.hr0sum) - hr0sum) < 1e-6 * hr0sum);
      assert.equal(Number(row.weights), weights);
      assert.equal(Number(row.emergency), emergency);
      assert.equal(Number(row.max_stay), Math.max(...synth.stayIds));
    } finally {
      con.closeSync();
      instance.closeSync();
    }
  });
});

describe('cohort parquet errors are one-line UserErrors', () => {
  test('missing file', async () => {
    const path = join(dir, 'nope', 'missing.parquet');
    const msg = await rejectsUser(() => readCohortParquet(path), /data file not found/, /backdoor setup/);
    assert.ok(msg.includes(path));
  });

  test('random bytes', async () => {
    const path = join(dir, 'random.parquet');
    await writeFile(path, randomBytes(4096));
    await rejectsUser(() => readCohortParquet(path), /corrupt data file/, /random\.parquet/);
  });

  test('empty file', async () => {
    const path = join(dir, 'empty.parquet');
    await writeFile(path, new Uint8Array(0));
    await rejectsUser(() => readCohortParquet(path), /corrupt data file/);
  });

  test('a truncated real file', async () => {
    const whole = Buffer.from(cohortToParquetBuffer(synth));
    for (const [name, bytes] of [
      ['half', whole.subarray(0, Math.floor(whole.length / 2))],
      ['tail-cut', whole.subarray(0, whole.length - 3)],
    ] as const) {
      const path = join(dir, `truncated-${name}.parquet`);
      await writeFile(path, bytes);
      await rejectsUser(() => readCohortParquet(path), /corrupt data file/);
    }
  });

  test('a Parquet file without backdoor.schema metadata', async () => {
    const path = join(dir, 'nometa.parquet');
    await writeFile(path, new Uint8Array(rawCohortFile(tiny, { metadata: false })));
    await rejectsUser(() => readCohortParquet(path), /is not a backdoor cohort file/, /backdoor\.schema/);
  });

  test('schema metadata that is not JSON', async () => {
    const path = join(dir, 'badjson.parquet');
    const buffer = parquetWriteBuffer({
      columnData: [{ name: 'stay_id', data: Int32Array.from([1]), type: 'INT32' }],
      kvMetadata: [{ key: 'backdoor.schema', value: '{not json' }],
    });
    await writeFile(path, new Uint8Array(buffer));
    await rejectsUser(() => readCohortParquet(path), /corrupt data file/, /not valid JSON/);
  });

  test('schema metadata that is JSON but not a cohort schema', async () => {
    for (const [k, value] of ['null', '{}', '{"hours":2,"variables":[],"statics":[{"kind":"numeric"}]}', '{"hours":0,"variables":[],"statics":[]}'].entries()) {
      const path = join(dir, `badschema-${k}.parquet`);
      const buffer = parquetWriteBuffer({
        columnData: [{ name: 'stay_id', data: Int32Array.from([1]), type: 'INT32' }],
        kvMetadata: [{ key: 'backdoor.schema', value }],
      });
      await writeFile(path, new Uint8Array(buffer));
      await rejectsUser(() => readCohortParquet(path), /corrupt data file .*: its "backdoor\.schema" metadata is not a cohort schema/);
    }
  });

  test('the control file written the same way reads back (so the error cases below are specific)', async () => {
    const path = join(dir, 'control.parquet');
    await writeFile(path, new Uint8Array(rawCohortFile(tiny)));
    const back = await readCohortParquet(path);
    assertSameCohort(back, { ...tiny, trueRisk: undefined });
  });

  test('an admission type outside the schema categories reads as unknown; numeric statics keep their sign', async () => {
    const adm = Array.from({ length: tiny.n }, (_, i) => ['elective', 'emergency', 'urgent'][tiny.statics[i * 4 + 3]] as string | null);
    adm[2] = 'transfer';
    adm[5] = null;
    const age = Array.from({ length: tiny.n }, (_, i) => tiny.statics[i * 4] as number | null);
    age[1] = -3;
    const path = join(dir, 'oddcat.parquet');
    await writeFile(
      path,
      new Uint8Array(rawCohortFile(tiny, { replace: [{ name: 'admission_type', data: adm, type: 'STRING' }, { name: 'age', data: age, type: 'DOUBLE' }] })),
    );
    const back = await readCohortParquet(path);
    for (let i = 0; i < tiny.n; i++) {
      const expected = i === 2 || i === 5 ? NaN : tiny.statics[i * 4 + 3];
      assert.ok(Object.is(back.statics[i * 4 + 3], expected), `row ${i}: ${back.statics[i * 4 + 3]} vs ${expected}`);
    }
    assert.equal(back.statics[1 * 4], -3);
    assert.equal(back.statics[0], tiny.statics[0]);
  });

  test('a file missing a required series column', async () => {
    const path = join(dir, 'nocol.parquet');
    await writeFile(path, new Uint8Array(rawCohortFile(tiny, { omit: ['glucose_h01'] })));
    await rejectsUser(() => readCohortParquet(path), /lacks required columns: glucose_h01;/);
    const path2 = join(dir, 'nocols.parquet');
    await writeFile(path2, new Uint8Array(rawCohortFile(tiny, { omit: ['label', 'sodium_h00', 'sodium_h01', 'sodium_h02', 'age', 'sbp_h02'] })));
    await rejectsUser(() => readCohortParquet(path2), /lacks required columns: label, age, sbp_h02, sodium_h00, sodium_h01, … \(6 in all\)/);
  });

  test('a NaN label in a DOUBLE label column', async () => {
    const labels = Array.from(tiny.labels, Number);
    labels[4] = NaN;
    const path = join(dir, 'nanlabel.parquet');
    await writeFile(path, new Uint8Array(rawCohortFile(tiny, { label: { name: 'label', data: Float64Array.from(labels), type: 'DOUBLE', nullable: false } })));
    await rejectsUser(
      () => readCohortParquet(path),
      /label is missing, NaN or not 0\/1 in 1 row\(s\)/,
      new RegExp(`first: row 4, stay_id ${tiny.stayIds[4]}`),
    );
  });

  test('a null label, and a label of 2', async () => {
    const withNull: (number | null)[] = Array.from(tiny.labels, Number);
    withNull[0] = null;
    withNull[7] = null;
    const path = join(dir, 'nulllabel.parquet');
    await writeFile(path, new Uint8Array(rawCohortFile(tiny, { label: { name: 'label', data: withNull, type: 'DOUBLE', nullable: true } })));
    await rejectsUser(() => readCohortParquet(path), /label is missing, NaN or not 0\/1 in 2 row\(s\) \(first: row 0/);

    const two = Array.from(tiny.labels, Number);
    two[3] = 2;
    const path2 = join(dir, 'twolabel.parquet');
    await writeFile(path2, new Uint8Array(rawCohortFile(tiny, { label: { name: 'label', data: Float64Array.from(two), type: 'DOUBLE', nullable: false } })));
    await rejectsUser(() => readCohortParquet(path2), /label .* in 1 row\(s\) \(first: row 3/);
  });
});
