import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RUN_FILES, RUNS_SUMMARY_FILE } from '../src/runs/layout.js';
import { RUN_FORMAT_VERSION } from '../src/runs/format.js';
import { REPO_ROOT, runCli, tempDir } from './helpers.js';

/**
 * tests/fixtures/golden-v0-grid holds what the code before the run-record module (commit 75c6cc8) wrote for this
 * grid: two runs with spectral, outlier and saliency detection and the defence. Its cohort.parquet and splits.json are
 * what the generator of that time wrote for 600 stays with seed 16 (the generator has changed since, issue 11); the
 * grid's data paths are relative, so the run ids match. The MLP's learned values (metrics.json, and the values of the
 * CSVs' compared columns) were regenerated once, by design, when the MLP moved onto the project's dense and dropout
 * ops (issue 15): its dropout masks now come from dropout.ts, not tf.dropout. The CSVs keep the old column names.
 */
const GOLDEN = join(REPO_ROOT, 'tests', 'fixtures', 'golden-v0-grid');
const RUNS = ['mlp/none/0/seed_0', 'mlp/rare_value/0.05/seed_0'];
const work = tempDir('format');

function parseCsv(text: string): Record<string, string>[] {
  const [header, ...rows] = text.trim().split('\n');
  const names = header!.split(',');
  return rows.map((r) => Object.fromEntries(r.split(',').map((v, i) => [names[i]!, v])));
}

before(async () => {
  for (const file of ['cohort.parquet', 'splits.json']) copyFileSync(join(GOLDEN, file), join(work, file));
  copyFileSync(join(GOLDEN, 'grid.yaml'), join(work, 'grid.yaml'));
  const r = runCli(['benchmark', '--grid', 'grid.yaml', '--runs-dir', 'runs', '--jobs', '1'], work);
  assert.equal(r.status, 0, r.stderr);
});

/** DER's utility term is clean AUROC since the evaluation fixes (it was accuracy at p ≥ 0.5), so its columns differ by design. */
const REDEFINED = /^def_.+_der$/;

/**
 * Detection is scored within the target class since issue 10: `det_<m>_auroc`, `_auprc`, `_tpr1`, `_tpr5` are now
 * the target-class figures, and the all-rows AUROC and AUPRC they held moved to `det_<m>_all_rows_auroc`, `_auprc`
 * (the all-rows TPR columns are gone). Where an old column's value lives now, or null when it is redefined.
 */
function currentColumn(column: string): string | null {
  if (REDEFINED.test(column) || /^det_.+_tpr[15]$/.test(column)) return null;
  const moved = /^det_(.+)_(auroc|auprc)$/.exec(column);
  return moved ? `det_${moved[1]}_all_rows_${moved[2]}` : column;
}

/** Compares every old value with its current column; returns how many were compared. */
function compareRow(old: Record<string, string>, now: Record<string, string>, where: string, rename: (c: string) => string = (c) => c): number {
  let compared = 0;
  for (const [column, value] of Object.entries(old)) {
    const current = currentColumn(rename(column));
    if (current === null) continue;
    assert.equal(now[current], value, `${where} ${column} (now ${current})`);
    compared++;
  }
  return compared;
}

test('metrics.json is byte-identical, and experiment_summary.csv keeps every value but for the redefined DER and detection figures, to the code before the redesign', () => {
  for (const run of RUNS) {
    const metrics = (root: string) => readFileSync(join(root, 'runs', run, RUN_FILES.metrics), 'utf8');
    assert.equal(metrics(work), metrics(GOLDEN), `${run}/${RUN_FILES.metrics}`);
    const summary = (root: string) => parseCsv(readFileSync(join(root, 'runs', run, RUN_FILES.summary), 'utf8'))[0]!;
    assert.ok(compareRow(summary(GOLDEN), summary(work), `${run}/${RUN_FILES.summary}`) > 29);
  }
});

test('summary.csv keeps every value it had (all-rows detection AUROC under det_<m>_all_rows_auroc), and gains the target-class, def_ and att_ columns', () => {
  const before = parseCsv(readFileSync(join(GOLDEN, 'summary.csv'), 'utf8'));
  const after = parseCsv(readFileSync(join(work, 'runs', RUNS_SUMMARY_FILE), 'utf8'));
  assert.equal(after.length, before.length);
  const renamed = (column: string) => column.replace(/^detection_auroc_(.+)$/, 'det_$1_auroc');
  let compared = 0;
  before.forEach((row, i) => {
    compared += compareRow(row, after[i]!, `row ${i}`, renamed);
  });
  assert.equal(compared, 2 * 33);
  const poisoned = after[1]!;
  assert.equal(poisoned.det_outlier_all_rows_auroc, '0.975');
  assert.equal(poisoned.det_label_auroc, '0.5', 'the label reference within the target class');
  for (const column of ['det_outlier_auroc', 'def_outlier_der', 'def_outlier_control_der', 'def_spectral_asr_after', 'att_tar_triggered', 'det_saliency_tpr5']) assert.match(poisoned[column]!, /^-?\d/, column);
  assert.equal(after[0]!.def_outlier_der, '', 'a clean baseline has no defence');
});

function setVersion(run: string, version: number | null): void {
  const path = join(work, 'runs', run, RUN_FILES.metadata);
  const { format_version: _v, ...rest } = JSON.parse(readFileSync(path, 'utf8'));
  writeFileSync(path, JSON.stringify(version === null ? rest : { format_version: version, ...rest }, null, 2) + '\n');
}

test('runs written before format versions are read by evaluate, detect and visualize; a newer version is refused in one line', () => {
  const run = RUNS[1]!;
  const runDir = join('runs', run);
  assert.equal(JSON.parse(readFileSync(join(work, runDir, RUN_FILES.metadata), 'utf8')).format_version, RUN_FORMAT_VERSION);
  setVersion(run, null);
  const evaluate = runCli(['evaluate', '--run-dir', runDir, '--json'], work);
  assert.equal(evaluate.status, 0, evaluate.stderr);
  assert.equal(JSON.parse(evaluate.stdout).matchesSaved, true);
  const detect = runCli(['detect', '--run-dir', runDir, '--method', 'outlier', '--json'], work);
  assert.equal(detect.status, 0, detect.stderr);
  assert.equal(JSON.parse(detect.stdout).results[0].metrics.all_rows.auroc, 0.975);
  const visualize = runCli(['visualize', '--runs-dir', 'runs', '--out', 'report-old'], work);
  assert.equal(visualize.status, 0, visualize.stderr);

  setVersion(run, 99);
  for (const args of [['evaluate', '--run-dir', runDir], ['detect', '--run-dir', runDir, '--method', 'outlier'], ['visualize', '--runs-dir', 'runs', '--out', 'report-new']]) {
    const r = runCli(args, work);
    assert.equal(r.status, 2, `${args[0]}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, /format_version 99 is newer than this build reads/);
  }
  setVersion(run, RUN_FORMAT_VERSION);
});
