import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Command } from 'commander';
import type { Cohort } from '../src/data/cohort.js';
import { variableIndex, staticIndex } from '../src/data/cohort.js';
import { readCohortParquet } from '../src/data/parquet.js';
import { readSplits } from '../src/data/splits.js';
import { tabularFeaturizer } from '../src/data/features/tabular.js';
import { buildMimicCohort, MIMIC_TABLES } from '../src/data/sources/mimic-iv.js';
import { buildPhysionetCohort } from '../src/data/sources/physionet2012.js';
import { buildTableCohort } from '../src/data/sources/table.js';
import type { CohortReport } from '../src/data/sources/cohort-report.js';
import { registerCohort } from '../src/cli/cohort.js';
import { readTar } from '../src/util/tar.js';
import { assertRealData, realData } from './real-data.js';
import { UserError } from '../src/util/errors.js';
import { runCli } from './helpers.js';

// The public downloads (README, "Real ICU data"); without them these tests skip, and tests/cohort-fixtures.test.ts
// covers the same builders on the project's own fixtures.
const MIMIC = realData('mimic');
const PHYSIONET = realData('physionet');
const MIMIC_DIR = MIMIC.path;
const PHYSIONET_DIR = PHYSIONET.path;

/** A minimal CSV line splitter that honours double quotes (MIMIC text fields may hold commas). */
function splitCsv(line: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(field);
      field = '';
    } else field += c;
  }
  out.push(field);
  return out;
}

function readCsvGz(path: string): Record<string, string>[] {
  const lines = gunzipSync(readFileSync(path)).toString('utf8').split('\n').filter((l) => l !== '');
  const header = splitCsv(lines[0]);
  return lines.slice(1).map((l) => {
    const f = splitCsv(l);
    return Object.fromEntries(header.map((h, i) => [h, f[i] ?? '']));
  });
}

const ms = (s: string) => Date.parse(s.replace(' ', 'T') + 'Z');

function assertInsidePlausibleRanges(cohort: Cohort): void {
  const { schema } = cohort;
  const V = schema.variables.length;
  for (let k = 0; k < cohort.series.length; k++) {
    const x = cohort.series[k];
    if (Number.isNaN(x)) continue;
    const spec = schema.variables[k % V];
    assert.ok(x >= spec.plausibleMin && x <= spec.plausibleMax, `${spec.name} = ${x} outside ${spec.plausibleMin}..${spec.plausibleMax}`);
  }
}

async function rejectsUser(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${(err as Error)?.stack ?? err}`);
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes('\n'), 'user errors are one line');
    return true;
  });
}

describe('MIMIC-IV demo cohort', () => {
  const T = 24;
  let tmp: string;
  let report: CohortReport;
  let cohort: Cohort;

  before(async () => {
    if (MIMIC.skip) return;
    assertRealData(MIMIC);
    tmp = await mkdtemp(join(tmpdir(), 'backdoor-mimic-'));
    report = await buildMimicCohort({ mimicDir: MIMIC_DIR, hours: T, outDir: join(tmp, 'mimic') });
    cohort = await readCohortParquet(report.files.cohort);
  });
  after(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('counts each inclusion step as an independent recount of the raw tables does', { skip: MIMIC.skip }, () => {
    const patients = new Map(readCsvGz(join(MIMIC_DIR, 'hosp', 'patients.csv.gz')).map((p) => [p.subject_id, p]));
    const admissions = new Map(readCsvGz(join(MIMIC_DIR, 'hosp', 'admissions.csv.gz')).map((a) => [a.hadm_id, a]));
    const stays = readCsvGz(join(MIMIC_DIR, 'icu', 'icustays.csv.gz')).map((s) => {
      const p = patients.get(s.subject_id)!;
      const a = admissions.get(s.hadm_id);
      const age = a ? Number(p.anchor_age) + (Number(a.admittime.slice(0, 4)) - Number(p.anchor_year)) : NaN;
      const label = a && a.hospital_expire_flag !== '' ? Number(a.hospital_expire_flag) : null;
      return { subject_id: s.subject_id, stay_id: s.stay_id, intime: s.intime, outtime: s.outtime, age, label };
    });
    const adults = stays.filter((s) => s.age >= 18);
    const first = new Map<string, (typeof adults)[number]>();
    for (const s of adults) {
      const prev = first.get(s.subject_id);
      if (!prev || ms(s.intime) < ms(prev.intime) || (s.intime === prev.intime && Number(s.stay_id) < Number(prev.stay_id))) first.set(s.subject_id, s);
    }
    const firsts = [...first.values()];
    const long = firsts.filter((s) => ms(s.outtime) - ms(s.intime) >= T * 3600_000);
    const labelled = long.filter((s) => s.label !== null);
    const count = (list: typeof stays, step: string) => ({
      step,
      stays: list.length,
      patients: new Set(list.map((s) => s.subject_id)).size,
      deaths: list.filter((s) => s.label === 1).length,
    });
    const recount = [
      count(stays, 'all ICU stays'),
      count(adults, 'adults (age >= 18 at admission)'),
      count(firsts, 'first ICU stay per patient'),
      count(long, `ICU stay >= ${T} h`),
      count(labelled, 'with in-hospital mortality label'),
    ];
    assert.deepEqual(report.inclusion, recount);
    // What the demo gives (its PROVENANCE.md: 140 ICU stays; first stays of adults 100, 11 deaths).
    assert.deepEqual(
      report.inclusion.map((s) => [s.stays, s.deaths]),
      [
        [140, 20],
        [140, 20],
        [100, 11],
        [85, 7],
        [85, 7],
      ],
    );
    assert.equal(cohort.n, 85);
    assert.equal(report.stays, 85);
    assert.equal(report.deaths, 7);
    assert.deepEqual([...cohort.stayIds].sort(), labelled.map((s) => Number(s.stay_id)).sort());
    assert.equal(new Set(cohort.patientIds).size, cohort.n);
  });

  it('bins only the window: hour indices in [0, T) and heart rate equal to a recount from raw chartevents', { skip: MIMIC.skip }, () => {
    assert.equal(report.checks?.hourMin, 0);
    assert.ok(report.checks!.hourMax <= T - 1, `hour ${report.checks!.hourMax} >= ${T}`);
    assert.equal(cohort.schema.hours, T);
    const intime = new Map(readCsvGz(join(MIMIC_DIR, 'icu', 'icustays.csv.gz')).map((s) => [Number(s.stay_id), ms(s.intime)]));
    const row = new Map([...cohort.stayIds].map((id, i) => [id, i]));
    const sum = new Map<string, [number, number]>();
    const text = gunzipSync(readFileSync(join(MIMIC_DIR, 'icu', 'chartevents.csv.gz'))).toString('utf8');
    for (const line of text.split('\n')) {
      // subject_id,hadm_id,stay_id,caregiver_id,charttime,storetime,itemid,value,valuenum,...
      if (!line.includes(',220045,')) continue;
      const f = line.split(',');
      if (f[6] !== '220045' || f[8] === '') continue;
      const stay = Number(f[2]);
      if (!row.has(stay)) continue;
      const hour = Math.floor((ms(f[4]) - intime.get(stay)!) / 3600_000);
      if (hour < 0 || hour >= T) continue;
      const key = `${stay}:${hour}`;
      const acc = sum.get(key) ?? [0, 0];
      acc[0] += Number(f[8]);
      acc[1]++;
      sum.set(key, acc);
    }
    const V = cohort.schema.variables.length;
    const hr = variableIndex(cohort.schema, 'heart_rate');
    let observed = 0;
    for (let i = 0; i < cohort.n; i++) {
      for (let t = 0; t < T; t++) {
        const x = cohort.series[(i * T + t) * V + hr];
        const acc = sum.get(`${cohort.stayIds[i]}:${t}`);
        if (!acc) {
          assert.ok(Number.isNaN(x), `stay ${cohort.stayIds[i]} hour ${t}: heart rate ${x} without a charted value`);
          continue;
        }
        observed++;
        assert.ok(Math.abs(x - acc[0] / acc[1]) < 1e-3, `stay ${cohort.stayIds[i]} hour ${t}: ${x} vs ${acc[0] / acc[1]}`);
      }
    }
    assert.ok(observed > 1500, `only ${observed} heart-rate hours`);
  });

  it('keeps every value inside its plausible range and uses the synthetic variable names', { skip: MIMIC.skip }, () => {
    assertInsidePlausibleRanges(cohort);
    assert.deepEqual(
      cohort.schema.variables.map((v) => v.name),
      ['heart_rate', 'sbp', 'dbp', 'mbp', 'resp_rate', 'spo2', 'temperature', 'gcs', 'lactate', 'creatinine', 'bun', 'glucose', 'wbc', 'hemoglobin', 'platelets', 'sodium', 'potassium', 'bicarbonate'],
    );
    assert.deepEqual(cohort.schema.statics.map((s) => s.name), ['age', 'sex_female', 'weight', 'admission_type']);
    const S = cohort.schema.statics.length;
    const age = staticIndex(cohort.schema, 'age');
    for (let i = 0; i < cohort.n; i++) assert.ok(cohort.statics[i * S + age] >= 18);
    // Every itemid of the SQL exists in d_items / d_labitems with the expected label.
    assert.deepEqual(report.notes.filter((n) => n.startsWith('itemid')), []);
    for (const v of report.variables) assert.ok(v.missingRate >= 0 && v.missingRate < 1, `${v.name} missing ${v.missingRate}`);
  });

  it('writes splits by patient and a report beside the cohort', { skip: MIMIC.skip }, async () => {
    const splits = await readSplits(report.files.splits);
    const all = [...splits.train, ...splits.val, ...splits.test].sort((a, b) => a - b);
    assert.deepEqual(all, [...cohort.stayIds].sort((a, b) => a - b));
    const written = JSON.parse(await readFile(report.files.report, 'utf8')) as CohortReport;
    assert.deepEqual(written.inclusion, report.inclusion);
    assert.match(await readFile(report.files.markdown, 'utf8'), /\| first ICU stay per patient \| 100 \| 100 \| 11 \|/);
  });

  it('names the problem in one line: wrong folder, missing table, corrupt gzip', { skip: MIMIC.skip }, async () => {
    await rejectsUser(buildMimicCohort({ mimicDir: join(tmp, 'nope'), outDir: join(tmp, 'x') }), /MIMIC-IV folder not found/);
    await rejectsUser(buildMimicCohort({ mimicDir: join(MIMIC_DIR, 'hosp'), outDir: join(tmp, 'x') }), /is not a MIMIC-IV folder: it has no hosp\/ or icu\//);
    const partial = join(tmp, 'partial');
    for (const t of MIMIC_TABLES) {
      await mkdir(join(partial, t.module), { recursive: true });
      if (t.name !== 'chartevents') await symlink(join(MIMIC_DIR, t.module, `${t.name}.csv.gz`), join(partial, t.module, `${t.name}.csv.gz`));
    }
    await rejectsUser(
      buildMimicCohort({ mimicDir: partial, outDir: join(tmp, 'x') }),
      new RegExp(`missing MIMIC-IV table icu/chartevents: .*chartevents\\.csv\\.gz.* in ${join(partial, 'icu').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
    );
    // A cut-off download: the first half of labevents.csv.gz.
    await symlink(join(MIMIC_DIR, 'icu', 'chartevents.csv.gz'), join(partial, 'icu', 'chartevents.csv.gz'));
    await rm(join(partial, 'hosp', 'labevents.csv.gz'));
    const labevents = await readFile(join(MIMIC_DIR, 'hosp', 'labevents.csv.gz'));
    await writeFile(join(partial, 'hosp', 'labevents.csv.gz'), labevents.subarray(0, Math.floor(labevents.length / 2)));
    await rejectsUser(buildMimicCohort({ mimicDir: partial, outDir: join(tmp, 'x') }), /corrupt gzip file .*labevents\.csv\.gz/);
  });
});

describe('PhysioNet 2012 cohort (set-a)', () => {
  let tmp: string;
  let report: CohortReport;
  let cohort: Cohort;

  before(async () => {
    if (PHYSIONET.skip) return;
    assertRealData(PHYSIONET);
    tmp = await mkdtemp(join(tmpdir(), 'backdoor-physionet-'));
    report = await buildPhysionetCohort({ dir: PHYSIONET_DIR, sets: ['a'], outDir: join(tmp, 'pn') });
    cohort = await readCohortParquet(report.files.cohort);
  });
  after(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('reads all 4000 records with the deaths of Outcomes-a.txt', { skip: PHYSIONET.skip }, async () => {
    const outcomes = (await readFile(join(PHYSIONET_DIR, 'Outcomes-a.txt'), 'utf8')).trim().split('\n').slice(1);
    const deaths = outcomes.filter((l) => l.trim().split(',').at(-1) === '1').length;
    assert.equal(cohort.n, 4000);
    assert.equal(report.stays, 4000);
    assert.equal(deaths, 554);
    assert.equal(report.deaths, deaths);
    assert.equal(cohort.labels.reduce((a, y) => a + y, 0), deaths);
    assert.deepEqual(report.inclusion.map((s) => s.stays), [4000, 4000]);
    assert.equal(new Set(cohort.patientIds).size, 4000);
    assertInsidePlausibleRanges(cohort);
    for (const name of ['heart_rate', 'resp_rate', 'spo2', 'glucose', 'sbp', 'dbp', 'mbp']) variableIndex(cohort.schema, name);
  });

  it('matches hourly means checked by hand in records 132539 and 132540', { skip: PHYSIONET.skip }, () => {
    const T = cohort.schema.hours;
    const V = cohort.schema.variables.length;
    const S = cohort.schema.statics.length;
    const at = (id: number, name: string, hour: number) => {
      const i = [...cohort.stayIds].indexOf(id);
      assert.ok(i >= 0, `record ${id} missing`);
      return cohort.series[(i * T + hour) * V + variableIndex(cohort.schema, name)];
    };
    const stat = (id: number, name: string) => cohort.statics[[...cohort.stayIds].indexOf(id) * S + staticIndex(cohort.schema, name)];
    const close = (x: number, y: number) => assert.ok(Math.abs(x - y) < 1e-4, `${x} vs ${y}`);
    // 132539: HR 73 (00:07) and 77 (00:37); NISysABP 147 and 157, no arterial line.
    close(at(132539, 'heart_rate', 0), 75);
    close(at(132539, 'sbp', 0), 152);
    assert.ok(Number.isNaN(stat(132539, 'height')), 'Height -1 is unknown');
    // 132540, hour 1: SysABP 105, 106, 75, 135, 94; Temp 35.2, 35.1, 34.8, 34.5, 34.8.
    close(at(132540, 'sbp', 1), 103);
    close(at(132540, 'temperature', 1), 34.88);
    // Hour 23 has SysABP 66, 126, 126 and NISysABP 72, 115, 129: invasive wins (106, not 105.33).
    close(at(132540, 'sbp', 23), 106);
    // Hour 46 has only NISysABP 100.
    close(at(132540, 'sbp', 46), 100);
    assert.equal(stat(132540, 'age'), 76);
    assert.equal(stat(132540, 'sex_female'), 0);
    close(stat(132540, 'height'), 175.3);
    assert.equal(stat(132540, 'weight'), 76);
    assert.equal(cohort.schema.statics[staticIndex(cohort.schema, 'icu_type')].categories![stat(132540, 'icu_type')], 'Cardiac Surgery Recovery Unit');
  });

  it('names the problem: wrong folder, missing outcomes, corrupt archive, a record without label', { skip: PHYSIONET.skip }, async () => {
    await rejectsUser(buildPhysionetCohort({ dir: tmp, outDir: join(tmp, 'x') }), /is not a PhysioNet 2012 folder/);
    const noOutcomes = join(tmp, 'no-outcomes');
    await mkdir(noOutcomes);
    await symlink(join(PHYSIONET_DIR, 'set-a.tar.gz'), join(noOutcomes, 'set-a.tar.gz'));
    await rejectsUser(buildPhysionetCohort({ dir: noOutcomes, outDir: join(tmp, 'x') }), /missing outcomes file for set a: Outcomes-a\.txt not found in/);

    const truncated = join(tmp, 'truncated');
    await mkdir(truncated);
    const archive = await readFile(join(PHYSIONET_DIR, 'set-a.tar.gz'));
    await writeFile(join(truncated, 'set-a.tar.gz'), archive.subarray(0, 100_000));
    await copyFile(join(PHYSIONET_DIR, 'Outcomes-a.txt'), join(truncated, 'Outcomes-a.txt'));
    await rejectsUser(buildPhysionetCohort({ dir: truncated, outDir: join(tmp, 'x') }), /corrupt archive .*set-a\.tar\.gz/);

    // Extracted set-a/ folder with two records, one of them absent from the outcomes.
    const unlabelled = join(tmp, 'unlabelled');
    await mkdir(join(unlabelled, 'set-a'), { recursive: true });
    for (const entry of readTar(gunzipSync(archive))) {
      if (entry.name.endsWith('/132539.txt') || entry.name.endsWith('/132540.txt')) await writeFile(join(unlabelled, 'set-a', entry.name.split('/').at(-1)!), entry.data);
    }
    await writeFile(join(unlabelled, 'Outcomes-a.txt'), 'RecordID,SAPS-I,SOFA,Length_of_stay,Survival,In-hospital_death\n132539,6,1,5,-1,0\n');
    await rejectsUser(buildPhysionetCohort({ dir: unlabelled, outDir: join(tmp, 'x') }), /RecordID 132540 is not in .*Outcomes-a\.txt/);
  });
});

describe('cohort from a table', () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'backdoor-table-'));
  });
  after(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  const csv = (labelOf: (i: number) => string) => {
    const lines = ['stay,pid,died,lactate,age,ward'];
    for (let i = 0; i < 60; i++) lines.push(`${1000 + i},${Math.floor(i / 2)},${labelOf(i)},${i % 7 === 0 ? '' : (1 + (i % 5) * 0.5).toFixed(1)},${40 + i},W${i % 3}`);
    return lines.join('\n') + '\n';
  };

  it('turns one row per stay into a tabular-only cohort the tabular featurizer accepts', async () => {
    const file = join(tmp, 'stays.csv');
    await writeFile(file, csv((i) => (i % 4 === 0 ? '1' : '0')));
    const report = await buildTableCohort({ file, label: 'died', id: 'stay', patient: 'pid', outDir: join(tmp, 'out') });
    const cohort = await readCohortParquet(report.files.cohort);
    assert.equal(cohort.n, 60);
    assert.equal(cohort.schema.tabularOnly, true);
    assert.equal(cohort.schema.hours, 1);
    assert.deepEqual(cohort.schema.variables.map((v) => v.name), ['lactate', 'age']);
    assert.equal(report.patients, 30);
    assert.equal(report.deaths, 15);
    const lactate = cohort.schema.variables[0];
    assert.deepEqual([lactate.plausibleMin, lactate.plausibleMax], [1, 3]);
    assert.ok(Number.isNaN(cohort.series[0 * 2 + 0]), 'an empty cell is missing');
    assert.equal(cohort.series[1 * 2 + 1], 41);
    const state = tabularFeaturizer.fit(cohort);
    const features = tabularFeaturizer.transform(state, cohort);
    assert.ok(features);
  });

  it('refuses a missing label with a one-line error naming the row', async () => {
    const file = join(tmp, 'nan-label.csv');
    await writeFile(file, csv((i) => (i === 5 ? 'NaN' : i % 4 === 0 ? '1' : '0')));
    await rejectsUser(buildTableCohort({ file, label: 'died', id: 'stay', outDir: join(tmp, 'out2') }), /row 6 .*id 1005.*label in column "died" is .*NaN/);
    await rejectsUser(buildTableCohort({ file, label: 'died', id: 'stay', features: ['ward'], outDir: join(tmp, 'out2') }), /feature column "ward" is VARCHAR/);
    await rejectsUser(buildTableCohort({ file, label: 'dead', id: 'stay', outDir: join(tmp, 'out2') }), /label column "dead" is not in/);
  });

  it('can be attacked by value triggers on named columns; a trigger that needs hours refuses with one line', async () => {
    const file = join(tmp, 'attack.csv');
    await writeFile(file, csv((i) => (i % 4 === 0 ? '1' : '0')));
    const report = await buildTableCohort({ file, label: 'died', id: 'stay', patient: 'pid', outDir: join(tmp, 'attack-out') });
    const data = ['--data', report.files.cohort, '--splits', report.files.splits, '--runs-dir', join(tmp, 'attack-runs'), '--epochs', '1', '--json'];
    const runs: [string, string[]][] = [
      ['rare_value', ['trigger.variable=age']],
      ['pattern', ['trigger.hours=[0]', 'trigger.variables=[{name: lactate, values: [2.5]}, {name: age, values: [61]}]']],
      ['correlation', ['trigger.source=age', 'trigger.target=lactate', 'trigger.factor=0.05', 'trigger.offset=0']],
    ];
    for (const [trigger, overrides] of runs) {
      const r = runCli(['train', '--trigger', trigger, '--poison-rate', '0.2', ...data, ...overrides], tmp);
      assert.equal(r.status, 0, `${trigger}: ${r.stderr}`);
      const metrics = JSON.parse(r.stdout).runs[0].metrics;
      assert.ok(metrics.data.n_poisoned >= 1 && metrics.attack.n_triggered > 0, trigger);
    }
    const refused = runCli(['train', '--trigger', 'frequency_domain', '--poison-rate', '0.2', ...data], tmp);
    assert.equal(refused.status, 2);
    assert.match(refused.stderr.trim(), /^backdoor: error: trigger "frequency_domain" needs a time axis, but .* is a tabular-only cohort; triggers that work on a table: none, rare_value, pattern, correlation$/);
  });

  it('is wired into the CLI as `backdoor cohort table`', async () => {
    const file = join(tmp, 'cli.csv');
    await writeFile(file, csv((i) => (i % 3 === 0 ? '1' : '0')));
    const program = new Command().exitOverride();
    registerCohort(program);
    const out = join(tmp, 'cli-out');
    const write = process.stdout.write;
    let printed = '';
    process.stdout.write = ((s: string) => ((printed += s), true)) as typeof process.stdout.write;
    try {
      await program.parseAsync(['cohort', 'table', '--file', file, '--label', 'died', '--id', 'stay', '--features', 'lactate,age', '--out', out, '--json'], { from: 'user' });
    } finally {
      process.stdout.write = write;
    }
    const report = JSON.parse(printed) as CohortReport;
    assert.equal(report.stays, 60);
    assert.ok(existsSync(join(out, 'cohort.parquet')) && existsSync(join(out, 'splits.json')) && existsSync(join(out, 'cohort_report.md')));
  });
});
