/**
 * Poisoning the training split and building the triggered test set with the default rare_value trigger, and the
 * .npy writer for poisoned indices.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { cloneCohort, observedValues, quantile, subsetCohort, variableIndex, type Cohort } from '../src/data/cohort.js';
import { generateSynthetic } from '../src/data/sources/synthetic.js';
import { makeSplits, splitRows } from '../src/data/splits.js';
import { triggerDefaults } from '../src/experiments/config.js';
import { poisonTrainingSet, triggeredTestSet } from '../src/triggers/poison.js';
import type { RareValueParams } from '../src/triggers/rare-value.js';
import { getTrigger } from '../src/triggers/registry.js';
import type { Trigger } from '../src/triggers/types.js';
import { UserError } from '../src/util/errors.js';
import { decodeNpyInt64, encodeNpyInt64 } from '../src/util/npy.js';

const { cohort } = generateSynthetic({ nStays: 2000, seed: 21 });
const rows = splitRows(cohort, makeSplits(cohort, 21));
const train = subsetCohort(cohort, rows.train);
const test_ = subsetCohort(cohort, rows.test);
const trainCopy = cloneCohort(train);
const trigger = getTrigger('rare_value') as Trigger<RareValueParams>;
const params = trigger.resolve(triggerDefaults('rare_value'), { schema: train.schema, train });
const T = train.schema.hours;
const V = train.schema.variables.length;
const S = train.schema.statics.length;
const GLU = variableIndex(train.schema, 'glucose');

function countLabel(c: Cohort, y: number): number {
  let k = 0;
  for (const l of c.labels) if (l === y) k++;
  return k;
}

/** Row i of a cohort as bytes (series, statics, label, ids), for bit-identity checks. */
function rowBytes(c: Cohort, i: number): Buffer {
  const parts = [
    c.series.subarray(i * T * V, (i + 1) * T * V),
    c.statics.subarray(i * S, (i + 1) * S),
    c.labels.subarray(i, i + 1),
    c.stayIds.subarray(i, i + 1),
    c.patientIds.subarray(i, i + 1),
  ];
  return Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
}

function assertUnchanged(actual: Cohort, expected: Cohort): void {
  assert.equal(actual.n, expected.n);
  for (let i = 0; i < expected.n; i++) assert.ok(rowBytes(actual, i).equals(rowBytes(expected, i)), `row ${i} changed`);
}

function userError(pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    assert.ok(!err.message.includes('\n'));
    assert.match(err.message, pattern);
    return true;
  };
}

describe('rare_value defaults', () => {
  test('resolve to a glucose value above the training 99.9th percentile in the last hour', () => {
    assert.equal(params.variable, 'glucose');
    assert.equal(params.variableIndex, GLU);
    assert.deepEqual(params.hours, [T - 1]);
    assert.equal(params.mode, 'percentile');
    assert.equal(params.percentile, 99.9);
    // percentile / 100 as the trigger computes it (99.9 / 100 is 0.9990000000000001 in binary floating point).
    const ref = quantile(observedValues(train, GLU), 99.9 / 100);
    assert.equal(params.reference, ref);
    // value = p + 0.1 · (2200 − p), at glucose's charting resolution (whole mg/dL).
    assert.equal(params.value, Math.round(ref + 0.1 * (2200 - ref)));
    assert.ok(params.value > ref && params.value < 2200);
    assert.ok(ref > 250 && ref < 600, `p99.9 of glucose ${ref}`);
  });
});

describe('poisonTrainingSet', () => {
  test('dirty label: floor(rate·n) non-target rows get the trigger and the target label; nothing else changes', () => {
    const rate = 0.037;
    const out = poisonTrainingSet(train, trigger, params, { rate, target: 1, mode: 'dirty' }, 5);
    const idx = Array.from(out.poisonedIndices);
    assert.equal(idx.length, Math.floor(rate * train.n));
    assert.ok(idx.length > 30);
    assert.ok(idx.every((r, k) => k === 0 || r > idx[k - 1]), 'indices ascending and distinct');
    const chosen = new Set(idx);
    for (const i of idx) {
      assert.equal(train.labels[i], 0, `row ${i} already had the target label`);
      assert.equal(out.cohort.labels[i], 1);
      // Exactly one value differs: glucose in the last hour, set to the trigger value.
      const before = train.series.subarray(i * T * V, (i + 1) * T * V);
      const after = out.cohort.series.subarray(i * T * V, (i + 1) * T * V);
      assert.equal(after[(T - 1) * V + GLU], params.value);
      for (let k = 0; k < T * V; k++) {
        if (k === (T - 1) * V + GLU) continue;
        assert.ok(Object.is(after[k], before[k]), `row ${i} value ${k} changed`);
      }
    }
    for (let i = 0; i < train.n; i++) if (!chosen.has(i)) assert.ok(rowBytes(out.cohort, i).equals(rowBytes(train, i)), `unchosen row ${i} changed`);
    assert.equal(countLabel(out.cohort, 1), countLabel(train, 1) + idx.length);
    // The input split is untouched.
    assertUnchanged(train, trainCopy);
  });

  test('dirty label with target 0 draws from the deaths', () => {
    const out = poisonTrainingSet(train, trigger, params, { rate: 0.02, target: 0, mode: 'dirty' }, 5);
    assert.equal(out.poisonedIndices.length, Math.floor(0.02 * train.n));
    for (const i of out.poisonedIndices) {
      assert.equal(train.labels[i], 1);
      assert.equal(out.cohort.labels[i], 0);
    }
  });

  test('clean label: only target rows are chosen and no label changes', () => {
    const rate = 0.05;
    const out = poisonTrainingSet(train, trigger, params, { rate, target: 1, mode: 'clean' }, 5);
    assert.equal(out.poisonedIndices.length, Math.floor(rate * train.n));
    for (const i of out.poisonedIndices) {
      assert.equal(train.labels[i], 1);
      assert.equal(out.cohort.series[(i * T + T - 1) * V + GLU], params.value);
    }
    assert.deepEqual(Array.from(out.cohort.labels), Array.from(train.labels));
    const chosen = new Set(out.poisonedIndices);
    for (let i = 0; i < train.n; i++) if (!chosen.has(i)) assert.ok(rowBytes(out.cohort, i).equals(rowBytes(train, i)));
    // Asking for more target rows than exist is a UserError.
    const positives = countLabel(train, 1);
    assert.throws(
      () => poisonTrainingSet(train, trigger, params, { rate: 0.5, target: 1, mode: 'clean' }, 5),
      userError(new RegExp(`needs ${Math.floor(0.5 * train.n)} clean-label rows with label 1, but the training split has only ${positives}; lower the rate`)),
    );
  });

  test('same seed gives the same rows; a different seed different rows', () => {
    const spec = { rate: 0.05, target: 1 as const, mode: 'dirty' as const };
    const a = poisonTrainingSet(train, trigger, params, spec, 'run-1');
    const b = poisonTrainingSet(train, trigger, params, spec, 'run-1');
    const c = poisonTrainingSet(train, trigger, params, spec, 'run-2');
    assert.deepEqual(Array.from(a.poisonedIndices), Array.from(b.poisonedIndices));
    assert.ok(Buffer.from(a.cohort.series.buffer).equals(Buffer.from(b.cohort.series.buffer)));
    const overlap = Array.from(c.poisonedIndices).filter((i) => a.poisonedIndices.includes(i)).length;
    assert.ok(overlap < a.poisonedIndices.length / 2, `seeds share ${overlap} of ${a.poisonedIndices.length} rows`);
  });

  test('rate 0 poisons nothing; a rate outside [0, 1) is a UserError', () => {
    const none = poisonTrainingSet(train, trigger, params, { rate: 0, target: 1, mode: 'dirty' }, 5);
    assert.equal(none.poisonedIndices.length, 0);
    assertUnchanged(none.cohort, train);
    assert.notEqual(none.cohort.series, train.series, 'returns a copy');
    // A rate > 0 so small that floor(rate · n) = 0 is refused, naming the smallest rate that poisons one row.
    assert.throws(() => poisonTrainingSet(train, trigger, params, { rate: 0.5 / train.n, target: 1, mode: 'dirty' }, 5), userError(/poisons no row of the \d+-row training split .*; the smallest rate that poisons one row is 0\.\d+$/));
    for (const rate of [1, 1.5, -0.01, NaN]) {
      assert.throws(() => poisonTrainingSet(train, trigger, params, { rate, target: 1, mode: 'dirty' }, 5), userError(/poison rate must be in \[0, 1\), got/));
    }
  });
});

describe('triggeredTestSet', () => {
  test('exactly the test rows whose label differs from the target, triggered; the clean copy and the input untouched', () => {
    const testCopy = cloneCohort(test_);
    const out = triggeredTestSet(test_, trigger, params, 1);
    const expectedRows: number[] = [];
    for (let i = 0; i < test_.n; i++) if (test_.labels[i] === 0) expectedRows.push(i);
    assert.deepEqual(out.rows, expectedRows);
    assert.ok(out.rows.length > 200 && out.rows.length < test_.n);
    assert.equal(out.clean.n, expectedRows.length);
    assert.equal(out.triggered.n, expectedRows.length);
    out.rows.forEach((r, k) => {
      assert.ok(rowBytes(out.clean, k).equals(rowBytes(test_, r)), `clean row ${k} differs from test row ${r}`);
      assert.equal(out.triggered.labels[k], 0, 'labels stay the true labels');
      assert.equal(out.triggered.series[(k * T + T - 1) * V + GLU], params.value);
      // The trigger value is not already present in the clean copy.
      assert.notEqual(out.clean.series[(k * T + T - 1) * V + GLU], params.value);
    });
    // Triggered and clean differ in exactly one value per row.
    let diffs = 0;
    for (let k = 0; k < out.clean.series.length; k++) if (!Object.is(out.clean.series[k], out.triggered.series[k])) diffs++;
    assert.equal(diffs, out.rows.length);
    assertUnchanged(test_, testCopy);

    const target0 = triggeredTestSet(test_, trigger, params, 0);
    assert.equal(target0.rows.length, countLabel(test_, 1));
    assert.ok(target0.rows.every((r) => test_.labels[r] === 1));
  });
});

describe('npy', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'backdoor-npy-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const values = [0, 1, 7, -3, 2 ** 40 + 5, 123456789];

  test('header is padded to a multiple of 64 bytes and the data round-trips', () => {
    for (const v of [values, [], [42], Array.from({ length: 1000 }, (_, i) => i * 3)]) {
      const bytes = encodeNpyInt64(v);
      const headerLength = bytes[8] | (bytes[9] << 8);
      const dataStart = 10 + headerLength;
      assert.equal(dataStart % 64, 0, `data starts at ${dataStart}`);
      assert.equal(bytes.length, dataStart + 8 * v.length);
      assert.deepEqual(Array.from(bytes.subarray(0, 8)), [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
      const header = Buffer.from(bytes.subarray(10, dataStart)).toString('latin1');
      assert.ok(header.endsWith('\n'));
      assert.match(header, new RegExp(`^\\{'descr': '<i8', 'fortran_order': False, 'shape': \\(${v.length},\\), \\} *\\n$`));
      assert.deepEqual(decodeNpyInt64(bytes), v);
    }
    // Little-endian int64 values in place.
    const bytes = Buffer.from(encodeNpyInt64([-2, 2 ** 33]));
    assert.equal(bytes.length, 128 + 16);
    assert.equal(bytes.readBigInt64LE(128), -2n);
    assert.equal(bytes.readBigInt64LE(136), 2n ** 33n);
  });

  test('numpy.load reads the values (skipped without numpy)', async (t) => {
    const probe = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) {
      t.skip('python3 with numpy is not available');
      return;
    }
    const poisoned = Array.from(poisonTrainingSet(train, trigger, params, { rate: 0.01, target: 1, mode: 'dirty' }, 5).poisonedIndices);
    for (const [name, v] of [['values', values], ['poisoned', poisoned], ['empty', []]] as const) {
      const path = join(dir, `${name}.npy`);
      await writeFile(path, encodeNpyInt64(v));
      const r = spawnSync('python3', ['-c', 'import sys, json, numpy; a = numpy.load(sys.argv[1]); print(json.dumps([str(a.dtype), list(a.shape), a.tolist()]))', path], {
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), ['int64', [v.length], v]);
    }
  });
});
