/**
 * The PhysioNet 2012 and MIMIC-IV cohort builders on the project's own format fixtures (tests/fixtures/, made up
 * by tests/fixtures/make-fixtures.ts), so the parsers run on every clone; tests/cohorts.test.ts repeats the checks
 * on the real downloads when they are present. Every expected number is counted by hand from make-fixtures.ts.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Cohort } from '../src/data/cohort.js';
import { staticIndex, variableIndex } from '../src/data/cohort.js';
import { readCohortParquet } from '../src/data/parquet.js';
import { MIMIC_ADMISSION_TYPES, MIMIC_TABLES } from '../src/data/sources/mimic-iv.js';
import type { CohortReport } from '../src/data/sources/cohort-report.js';
import { readTar } from '../src/util/tar.js';
import { REPO_ROOT, runCli, tempDir } from './helpers.js';

const FIXTURES = join(REPO_ROOT, 'tests', 'fixtures');
const MIMIC_FIXTURE = join(FIXTURES, 'mimic-iv');
const PHYSIONET_FIXTURE = join(FIXTURES, 'physionet-2012');

/** Builds a cohort through the CLI (`backdoor cohort … --json`) and reads what it wrote. */
async function buildWithCli(args: string[], cwd: string): Promise<{ report: CohortReport; cohort: Cohort }> {
  const r = runCli(['cohort', ...args, '--json'], cwd);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as CohortReport;
  return { report, cohort: await readCohortParquet(report.files.cohort) };
}

/** A failing CLI build: exit 2 and a one-line message, no stack trace. */
function assertCliRefuses(args: string[], cwd: string, pattern: RegExp): void {
  const r = runCli(['cohort', ...args], cwd);
  assert.equal(r.status, 2, `exit ${r.status}: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], pattern);
}

function at(cohort: Cohort, stayId: number, name: string, hour: number): number {
  const i = [...cohort.stayIds].indexOf(stayId);
  assert.ok(i >= 0, `stay ${stayId} is not in the cohort`);
  const { hours, variables } = cohort.schema;
  return cohort.series[(i * hours + hour) * variables.length + variableIndex(cohort.schema, name)];
}

function staticOf(cohort: Cohort, stayId: number, name: string): number {
  const i = [...cohort.stayIds].indexOf(stayId);
  return cohort.statics[i * cohort.schema.statics.length + staticIndex(cohort.schema, name)];
}

/** The hours of one stay where `name` is observed, with their values. */
function observed(cohort: Cohort, stayId: number, name: string): [number, number][] {
  const out: [number, number][] = [];
  for (let t = 0; t < cohort.schema.hours; t++) {
    const x = at(cohort, stayId, name, t);
    if (!Number.isNaN(x)) out.push([t, x]);
  }
  return out;
}

const close = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) < 1e-4, `${what}: ${actual}, expected ${expected}`);

describe('MIMIC-IV cohort on the format fixture (tests/fixtures/mimic-iv)', () => {
  const tmp = tempDir('mimic-fixture');
  let report: CohortReport;
  let cohort: Cohort;

  before(async () => {
    ({ report, cohort } = await buildWithCli(['mimic-iv', '--mimic-dir', MIMIC_FIXTURE, '--hours', '24', '--out', join(tmp, 'mimic')], tmp));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('counts each inclusion step: minor, later stay, short stay and missing label are dropped', () => {
    assert.deepEqual(report.inclusion, [
      // 7 stays of 6 patients; deaths: 30002, 30003, 30004, 30005 (30006 has no hospital_expire_flag).
      { step: 'all ICU stays', stays: 7, patients: 6, deaths: 4 },
      // 30003: anchor_age 17 in the admission year. 30007 stays: 17 at anchor + 2 years = 19.
      { step: 'adults (age >= 18 at admission)', stays: 6, patients: 5, deaths: 3 },
      // 30002 is the second stay of patient 10001.
      { step: 'first ICU stay per patient', stays: 5, patients: 5, deaths: 2 },
      // 30004 lasts 20 h; 30007 lasts exactly 24 h and stays.
      { step: 'ICU stay >= 24 h', stays: 4, patients: 4, deaths: 1 },
      // 30006 has an empty hospital_expire_flag.
      { step: 'with in-hospital mortality label', stays: 3, patients: 3, deaths: 1 },
    ]);
    assert.deepEqual([...cohort.stayIds], [30001, 30005, 30007]);
    assert.deepEqual([...cohort.patientIds], [10001, 10004, 10006]);
    assert.deepEqual([...cohort.labels], [0, 1, 0]);
    assert.equal(report.stays, 3);
    assert.equal(report.deaths, 1);
  });

  it('takes age, sex, weight and admission type from the right rows', () => {
    assert.deepEqual([30001, 30005, 30007].map((id) => staticOf(cohort, id, 'age')), [60, 45, 19]);
    assert.deepEqual([30001, 30005, 30007].map((id) => staticOf(cohort, id, 'sex_female')), [1, 1, 1]);
    // 30001: Admission Weight (Kg) 70. 30005: 220 lbs (priority 2) beats Daily Weight 95 kg (priority 3).
    assert.equal(staticOf(cohort, 30001, 'weight'), 70);
    close(staticOf(cohort, 30005, 'weight'), 220 * 0.45359237, '30005 weight');
    assert.ok(Number.isNaN(staticOf(cohort, 30007, 'weight')), '30007 has no weight charted');
    const types = cohort.schema.statics[staticIndex(cohort.schema, 'admission_type')].categories!;
    assert.deepEqual(types, MIMIC_ADMISSION_TYPES);
    assert.deepEqual([30001, 30005, 30007].map((id) => types[staticOf(cohort, id, 'admission_type')]), ['EW EMER.', 'ELECTIVE', 'URGENT']);
  });

  it('bins chartevents hourly inside [intime, intime + 24 h), invasive blood pressure first, implausible values out', () => {
    // HR of 30001: 07:59 is before intime, 08:10 80 and 08:50 90, 09:30 100, 12:00 400 (impossible) and 12:30 60,
    // next day 07:59 70; 08:00 is the window's end.
    assert.deepEqual(observed(cohort, 30001, 'heart_rate'), [[0, 85], [1, 100], [4, 60], [23, 70]]);
    // Hour 2: arterial 120 and 130 beat the cuff's 100; hour 3 has only the cuff.
    assert.deepEqual(observed(cohort, 30001, 'sbp'), [[2, 125], [3, 110]]);
    assert.deepEqual(observed(cohort, 30001, 'resp_rate'), [[0, 18]]);
    assert.deepEqual(observed(cohort, 30001, 'spo2'), [[0, 97]]);
    // 98.6 °F at hour 5.
    const temperature = observed(cohort, 30001, 'temperature');
    assert.equal(temperature.length, 1);
    assert.equal(temperature[0][0], 5);
    close(temperature[0][1], 37, 'temperature');
    // 14:00: eye 4 + verbal 5 + motor 6; 15:00 lacks the motor score, so no total.
    assert.deepEqual(observed(cohort, 30001, 'gcs'), [[6, 15]]);
    // 30005: HR 110 at 08:30; the next day's 09:00 is hour 25.
    assert.deepEqual(observed(cohort, 30005, 'heart_rate'), [[0, 110]]);
    // 30007: the arterial mean 10 mmHg is below 14, so the cuff's 80 is used; 10:30 next day is hour 23.
    assert.deepEqual(observed(cohort, 30007, 'mbp'), [[0, 80]]);
    assert.deepEqual(observed(cohort, 30007, 'heart_rate'), [[23, 88]]);
    assert.equal(report.checks?.hourlyRows, 17);
    assert.equal(report.checks?.hourMax, 23);
  });

  it('attaches labs by patient and time, only of the stay’s own admission or none', () => {
    // Creatinine 1.2 (hadm 20001) at hour 2; 3.0 at hour 4 belongs to admission 20002.
    assert.deepEqual(observed(cohort, 30001, 'creatinine'), [[2, 1.2]].map(([t, x]) => [t, Math.fround(x)]));
    // Glucose 140 (no hadm_id, chemistry) and 160 (blood gas) pooled in hour 3.
    assert.deepEqual(observed(cohort, 30001, 'glucose'), [[3, 150]]);
    // Potassium at 07:00 precedes the stay; hemoglobin 0.5 g/dL is impossible.
    assert.deepEqual(observed(cohort, 30001, 'potassium'), []);
    assert.deepEqual(observed(cohort, 30001, 'hemoglobin'), []);
    assert.deepEqual(observed(cohort, 30005, 'lactate'), [[12, 2.5]]);
    const removed = Object.fromEntries(report.variables.map((v) => [v.name, v.removedImplausible]));
    assert.equal(removed.heart_rate, 1);
    assert.equal(removed.hemoglobin, 1);
    assert.equal(removed.mbp, 1);
  });

  it('names the itemid its d_labitems lacks, and says the splits are too small', () => {
    assert.deepEqual(report.notes.filter((n) => n.startsWith('itemid')), ['itemid 51300 ("WBC Count") is not in d_labitems: this MIMIC-IV version may not chart it']);
    assert.deepEqual(report.splits.train, { stays: 3, deaths: 1 });
    assert.ok(report.notes.includes('the test split is empty: the cohort is too small to train and evaluate on'));
  });

  it('refuses in one line, exit 2: wrong folder, missing table, cut-off gzip', async () => {
    assertCliRefuses(['mimic-iv', '--mimic-dir', join(tmp, 'nope'), '--out', join(tmp, 'x')], tmp, /MIMIC-IV folder not found/);
    assertCliRefuses(['mimic-iv', '--mimic-dir', PHYSIONET_FIXTURE, '--out', join(tmp, 'x')], tmp, /is not a MIMIC-IV folder: it has no hosp\/ or icu\//);
    const partial = join(tmp, 'partial');
    for (const t of MIMIC_TABLES) {
      await mkdir(join(partial, t.module), { recursive: true });
      if (t.name !== 'chartevents') await copyFile(join(MIMIC_FIXTURE, t.module, `${t.name}.csv.gz`), join(partial, t.module, `${t.name}.csv.gz`));
    }
    assertCliRefuses(['mimic-iv', '--mimic-dir', partial, '--out', join(tmp, 'x')], tmp, /missing MIMIC-IV table icu\/chartevents: none of chartevents\.parquet, chartevents\.csv\.gz, chartevents\.csv in /);
    await copyFile(join(MIMIC_FIXTURE, 'icu', 'chartevents.csv.gz'), join(partial, 'icu', 'chartevents.csv.gz'));
    const labevents = await readFile(join(MIMIC_FIXTURE, 'hosp', 'labevents.csv.gz'));
    await writeFile(join(partial, 'hosp', 'labevents.csv.gz'), labevents.subarray(0, Math.floor(labevents.length / 2)));
    assertCliRefuses(['mimic-iv', '--mimic-dir', partial, '--out', join(tmp, 'x')], tmp, /corrupt gzip file .*labevents\.csv\.gz/);
  });
});

describe('PhysioNet 2012 cohort on the format fixture (tests/fixtures/physionet-2012)', () => {
  const tmp = tempDir('physionet-fixture');
  let report: CohortReport;
  let cohort: Cohort;

  before(async () => {
    ({ report, cohort } = await buildWithCli(['physionet2012', '--dir', PHYSIONET_FIXTURE, '--out', join(tmp, 'pn')], tmp));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('reads set-a from its .tar.gz and set-b from its folder, with the labels of the Outcomes files', () => {
    assert.deepEqual(report.options, { sets: ['a', 'b'], sources: { a: 'archive', b: 'folder' }, seed: null });
    assert.deepEqual([...cohort.stayIds], [900001, 900002, 900003, 900101, 900102]);
    assert.deepEqual([...cohort.labels], [0, 0, 1, 1, 0]);
    assert.deepEqual(
      report.inclusion.map((s) => [s.stays, s.deaths]),
      [
        [5, 2],
        [5, 2],
      ],
    );
    assert.equal(cohort.schema.hours, 48);
  });

  it('turns the 00:00 descriptors into statics: −1 and implausible values unknown, Gender 0 female', () => {
    const statics = (id: number) => ['age', 'sex_female', 'weight', 'height', 'icu_type'].map((s) => staticOf(cohort, id, s));
    const icuTypes = cohort.schema.statics[staticIndex(cohort.schema, 'icu_type')].categories!;
    assert.deepEqual(statics(900001), [64, 1, 81.5, NaN, icuTypes.indexOf('Medical ICU')]);
    assert.deepEqual(statics(900002), [45, 0, NaN, Math.fround(170.2), icuTypes.indexOf('Cardiac Surgery Recovery Unit')]);
    // Age 200 is outside 15–120.
    assert.deepEqual(statics(900003), [NaN, 1, 55, 160, icuTypes.indexOf('Surgical ICU')]);
    assert.deepEqual(statics(900101), [81, 0, 70, NaN, icuTypes.indexOf('Coronary Care Unit')]);
    assert.ok(report.notes.includes('Implausible descriptors set to unknown: Age 1 (limits Age 15–120 y, Weight 20–300 kg, Height 100–250 cm).'));
  });

  it('bins hourly over 48 h: invasive pressure first, 48:00 kept in hour 47, later and implausible values out', () => {
    // 900001 HR: 00:05 70 and 00:40 80; 05:00 500 is impossible; 47:30 90 and 48:00 100; 48:30 is after the window.
    assert.deepEqual(observed(cohort, 900001, 'heart_rate'), [[0, 75], [47, 95]]);
    // Hour 0 cuff only; hour 1 SysABP 110 and 130 beat NISysABP 90; hour 2 cuff only.
    assert.deepEqual(observed(cohort, 900001, 'sbp'), [[0, 120], [1, 120], [2, 100]]);
    assert.deepEqual(observed(cohort, 900001, 'temperature'), [[3, 37]]);
    // A GCS stamped 00:00 is a measurement, not a descriptor.
    assert.deepEqual(observed(cohort, 900001, 'gcs'), [[0, 15]]);
    assert.deepEqual(observed(cohort, 900002, 'lactate'), [[12, 2.5]]);
    // MAP 0 is below mbp's 14 mmHg, so the cuff's NIMAP 70 is used.
    assert.deepEqual(observed(cohort, 900002, 'mbp'), [[20, 70]]);
    assert.deepEqual(observed(cohort, 900003, 'resp_rate'), [[6, 22]]);
    assert.deepEqual(observed(cohort, 900101, 'heart_rate'), [[0, 100], [1, 104]]);
    assert.deepEqual(observed(cohort, 900102, 'glucose'), [[2, 180]]);
    const removed = Object.fromEntries(report.variables.map((v) => [v.name, v.removedImplausible]));
    assert.equal(removed.heart_rate, 1);
    assert.equal(removed.mbp, 1);
    assert.ok(report.notes.includes('Values stamped exactly 48:00 were kept in hour 47: 1. Values after 48:00 dropped: 1.'));
    assert.ok(report.notes.includes('Unknown parameters ignored: Foo (1).'));
  });

  it('reads one set on request', async () => {
    const { report: onlyB } = await buildWithCli(['physionet2012', '--dir', PHYSIONET_FIXTURE, '--sets', 'b', '--out', join(tmp, 'b')], tmp);
    assert.equal(onlyB.stays, 2);
    assert.equal(onlyB.deaths, 1);
  });

  it('refuses in one line, exit 2: wrong folder, missing outcomes, cut-off archive, a record without label', async () => {
    assertCliRefuses(['physionet2012', '--dir', MIMIC_FIXTURE, '--out', join(tmp, 'x')], tmp, /is not a PhysioNet 2012 folder/);
    const noOutcomes = join(tmp, 'no-outcomes');
    await mkdir(noOutcomes);
    await copyFile(join(PHYSIONET_FIXTURE, 'set-a.tar.gz'), join(noOutcomes, 'set-a.tar.gz'));
    assertCliRefuses(['physionet2012', '--dir', noOutcomes, '--out', join(tmp, 'x')], tmp, /missing outcomes file for set a: Outcomes-a\.txt not found in/);

    const truncated = join(tmp, 'truncated');
    await mkdir(truncated);
    const archive = await readFile(join(PHYSIONET_FIXTURE, 'set-a.tar.gz'));
    await writeFile(join(truncated, 'set-a.tar.gz'), archive.subarray(0, Math.floor(archive.length / 2)));
    await copyFile(join(PHYSIONET_FIXTURE, 'Outcomes-a.txt'), join(truncated, 'Outcomes-a.txt'));
    assertCliRefuses(['physionet2012', '--dir', truncated, '--out', join(tmp, 'x')], tmp, /corrupt archive .*set-a\.tar\.gz/);

    // The archive's records extracted to set-a/, with an Outcomes file that lacks 900002.
    const unlabelled = join(tmp, 'unlabelled');
    await mkdir(join(unlabelled, 'set-a'), { recursive: true });
    for (const entry of readTar(gunzipSync(archive))) {
      if (entry.type === 'file') await writeFile(join(unlabelled, 'set-a', entry.name.split('/').at(-1)!), entry.data);
    }
    await writeFile(join(unlabelled, 'Outcomes-a.txt'), 'RecordID,SAPS-I,SOFA,Length_of_stay,Survival,In-hospital_death\n900001,12,4,6,-1,0\n900003,20,9,4,4,1\n');
    assertCliRefuses(['physionet2012', '--dir', unlabelled, '--out', join(tmp, 'x')], tmp, /RecordID 900002 is not in .*Outcomes-a\.txt/);
  });
});
