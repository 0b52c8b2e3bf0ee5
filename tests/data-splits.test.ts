/**
 * Patient-grouped, outcome-stratified splits; split files; the dev subset; and `setupData`, which ties the
 * generator, splits, dev subset and Parquet files together.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { subsetCohort, type Cohort } from '../src/data/cohort.js';
import { readCohortParquet } from '../src/data/parquet.js';
import { dataPaths, setupData } from '../src/data/setup.js';
import { generateSynthetic } from '../src/data/sources/synthetic.js';
import { devSubsetRows, makeSplits, readSplits, splitRows, SPLIT_NAMES, writeSplits, type Splits } from '../src/data/splits.js';
import { UserError } from '../src/util/errors.js';

function prevalence(cohort: Cohort, rows?: number[]): number {
  const idx = rows ?? Array.from({ length: cohort.n }, (_, i) => i);
  let pos = 0;
  for (const i of idx) pos += cohort.labels[i];
  return pos / idx.length;
}

function isOneLineUserError(pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    assert.ok(!err.message.includes('\n'));
    assert.match(err.message, pattern);
    return true;
  };
}

const { cohort } = generateSynthetic({ nStays: 2000, seed: 3 });
const splits = makeSplits(cohort, 42);
const rows = splitRows(cohort, splits);

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'backdoor-splits-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('makeSplits / splitRows', () => {
  test('every stay is in exactly one split and no patient is in two', () => {
    const all = [...splits.train, ...splits.val, ...splits.test];
    assert.equal(all.length, cohort.n);
    assert.equal(new Set(all).size, cohort.n);
    assert.deepEqual([...all].sort((a, b) => a - b), Array.from(cohort.stayIds).sort((a, b) => a - b));
    const splitOfPatient = new Map<number, string>();
    let repeatPatientsSeen = 0;
    for (const name of SPLIT_NAMES) {
      for (const i of rows[name]) {
        const p = cohort.patientIds[i];
        const prev = splitOfPatient.get(p);
        if (prev !== undefined) {
          assert.equal(prev, name, `patient ${p} is in ${prev} and ${name}`);
          repeatPatientsSeen++;
        }
        splitOfPatient.set(p, name);
      }
    }
    // The check is not vacuous: the cohort has patients with several stays.
    assert.ok(repeatPatientsSeen > 50, `${repeatPatientsSeen} repeat stays`);
    // Lists are sorted stay ids, and splitRows returns rows in cohort order.
    for (const name of SPLIT_NAMES) {
      assert.deepEqual(splits[name], [...splits[name]].sort((a, b) => a - b));
      assert.deepEqual(rows[name].map((i) => cohort.stayIds[i]).sort((a, b) => a - b), splits[name]);
      assert.ok(rows[name].every((r, k) => k === 0 || r > rows[name][k - 1]));
    }
    assert.equal(splits.method, 'patient-grouped, outcome-stratified');
    assert.deepEqual(splits.fractions, { train: 0.7, val: 0.15, test: 0.15 });
  });

  test('sizes within ±2 % of 70/15/15 and each split within ±2 points of the cohort prevalence', () => {
    const overall = prevalence(cohort);
    const want = { train: 0.7, val: 0.15, test: 0.15 };
    for (const name of SPLIT_NAMES) {
      const share = rows[name].length / cohort.n;
      assert.ok(Math.abs(share - want[name]) <= 0.02, `${name} holds ${share} of stays`);
      const p = prevalence(cohort, rows[name]);
      assert.ok(Math.abs(p - overall) <= 0.02, `${name} prevalence ${p} vs cohort ${overall}`);
    }
  });

  test('custom fractions are honoured', () => {
    const s = makeSplits(cohort, 42, { train: 0.5, val: 0.25, test: 0.25 });
    const r = splitRows(cohort, s);
    assert.ok(Math.abs(r.train.length / cohort.n - 0.5) <= 0.02, `${r.train.length}`);
    assert.ok(Math.abs(r.val.length / cohort.n - 0.25) <= 0.02, `${r.val.length}`);
  });

  test('deterministic in the seed', () => {
    assert.deepEqual(makeSplits(cohort, 42), splits);
    const other = makeSplits(cohort, 43);
    assert.notDeepEqual(other.train, splits.train);
    // The same seed as a string is the same seed.
    assert.deepEqual(makeSplits(cohort, '42').test, splits.test);
  });

  test('a splits file that misses stays, or leaves a split empty, is a UserError', () => {
    const missing: Splits = { ...splits, test: splits.test.slice(3) };
    assert.throws(() => splitRows(cohort, missing), isOneLineUserError(new RegExp(`^3 stay\\(s\\) of the data file are in no split \\(first stay_id ${splits.test[0]}\\)`)));
    const emptyVal: Splits = { ...splits, train: [...splits.train, ...splits.val], val: [] };
    assert.throws(() => splitRows(cohort, emptyVal), isOneLineUserError(/the val split holds no stay/));
  });

  test('write then read a splits file; bad files are UserErrors', async () => {
    const path = join(dir, 'sub', 'splits.json');
    await writeSplits(path, splits);
    assert.deepEqual(await readSplits(path), splits);
    await assert.rejects(readSplits(join(dir, 'absent.json')), isOneLineUserError(/splits file not found/));
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{"train": [1,2');
    await assert.rejects(readSplits(bad), isOneLineUserError(/corrupt splits file .*not valid JSON/));
    const noTest = join(dir, 'notest.json');
    await writeFile(noTest, JSON.stringify({ train: [1], val: [2] }));
    await assert.rejects(readSplits(noTest), isOneLineUserError(/no "test" list of stay ids/));
  });
});

describe('devSubsetRows', () => {
  const size = 600;
  const dev = devSubsetRows(cohort, splits, size, 7);

  test('whole patients, about the requested size, same split proportions and outcome mix', () => {
    assert.ok(Math.abs(dev.length - size) <= 0.05 * size, `dev subset has ${dev.length} stays`);
    assert.equal(new Set(dev).size, dev.length);
    assert.ok(dev.every((r, k) => k === 0 || r > dev[k - 1]), 'rows ascending');
    // Whole patients: every stay of a chosen patient is chosen.
    const chosenPatients = new Set(dev.map((i) => cohort.patientIds[i]));
    let patientStays = 0;
    for (let i = 0; i < cohort.n; i++) if (chosenPatients.has(cohort.patientIds[i])) patientStays++;
    assert.equal(patientStays, dev.length);
    // Same split proportions.
    const sub = subsetCohort(cohort, dev);
    const subRows = splitRows(sub, splits);
    for (const name of SPLIT_NAMES) {
      const full = rows[name].length / cohort.n;
      const part = subRows[name].length / sub.n;
      assert.ok(Math.abs(part - full) <= 0.02, `${name}: ${part} of dev vs ${full} of cohort`);
    }
    assert.ok(Math.abs(prevalence(sub) - prevalence(cohort)) <= 0.02, `dev prevalence ${prevalence(sub)}`);
  });

  test('deterministic in the seed; size ≥ n returns every row', () => {
    assert.deepEqual(devSubsetRows(cohort, splits, size, 7), dev);
    assert.notDeepEqual(devSubsetRows(cohort, splits, size, 8), dev);
    assert.deepEqual(devSubsetRows(cohort, splits, cohort.n, 7), Array.from({ length: cohort.n }, (_, i) => i));
  });
});

describe('setupData', () => {
  test('writes main, dev, splits and manifest that agree with the generator; a second call reuses them', async () => {
    const dataDir = join(dir, 'data');
    const options = { dataDir, nStays: 500, devSize: 200, hours: 6, seed: 17 };
    const report = await setupData(options);
    assert.equal(report.status, 'generated');
    const paths = dataPaths(dataDir);
    assert.deepEqual(report.files, paths);

    const expected = generateSynthetic({ nStays: 500, hours: 6, seed: 17 }).cohort;
    const main = await readCohortParquet(paths.main);
    assert.deepEqual(Array.from(main.series), Array.from(expected.series));
    assert.deepEqual(Array.from(main.labels), Array.from(expected.labels));
    const savedSplits = await readSplits(paths.splits);
    assert.deepEqual(savedSplits, makeSplits(expected, 17));

    const dev = await readCohortParquet(paths.dev);
    assert.ok(Math.abs(dev.n - 200) <= 10, `dev has ${dev.n} stays`);
    const devRows = devSubsetRows(expected, savedSplits, 200, 17);
    assert.deepEqual(Array.from(dev.stayIds), devRows.map((i) => expected.stayIds[i]));
    assert.deepEqual(Array.from(dev.series), Array.from(subsetCohort(expected, devRows).series));

    assert.equal(report.main.nStays, 500);
    assert.equal(report.dev.nStays, dev.n);
    const mainRows = splitRows(expected, savedSplits);
    for (const name of SPLIT_NAMES) {
      assert.equal(report.main.splits[name].stays, mainRows[name].length);
      assert.ok(Math.abs(report.main.splits[name].prevalence - prevalence(expected, mainRows[name])) < 1e-12);
    }
    const manifest = JSON.parse(await readFile(paths.manifest, 'utf8'));
    assert.deepEqual(manifest.options, { nStays: 500, devSize: 200, hours: 6, seed: 17 });

    const again = await setupData(options);
    assert.equal(again.status, 'existing');
    assert.deepEqual(again.main, report.main);
  });

  test('bad sizes are UserErrors', async () => {
    const dataDir = join(dir, 'data-bad');
    await assert.rejects(setupData({ dataDir, nStays: 500, devSize: 50, hours: 6, seed: 1 }), isOneLineUserError(/dev size must be an integer ≥ 100, got 50/));
    await assert.rejects(setupData({ dataDir, nStays: 500, devSize: 600, hours: 6, seed: 1 }), isOneLineUserError(/dev size \(600\) cannot exceed the cohort size \(500\)/));
    await assert.rejects(setupData({ dataDir, nStays: 500, devSize: 100, hours: 1, seed: 1 }), isOneLineUserError(/hours must be an integer in \[2, 168\]/));
  });
});
