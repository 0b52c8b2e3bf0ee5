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
 * grid's data paths are relative, so the run ids match.
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

/** The CSV's text with the redefined columns blanked. */
function withoutRedefined(csv: string): string {
  const [header, ...rows] = csv.trimEnd().split('\n');
  const keep = header!.split(',').map((c) => !REDEFINED.test(c));
  return [header, ...rows.map((r) => r.split(',').map((v, i) => (keep[i] ? v : '')).join(','))].join('\n');
}

test('metrics.json is byte-identical, and experiment_summary.csv too but for the redefined DER, to the code before the redesign', () => {
  for (const run of RUNS) {
    const metrics = (root: string) => readFileSync(join(root, 'runs', run, RUN_FILES.metrics), 'utf8');
    assert.equal(metrics(work), metrics(GOLDEN), `${run}/${RUN_FILES.metrics}`);
    const summary = (root: string) => withoutRedefined(readFileSync(join(root, 'runs', run, RUN_FILES.summary), 'utf8'));
    assert.equal(summary(work), summary(GOLDEN), `${run}/${RUN_FILES.summary}`);
  }
});

test('summary.csv keeps every value it had, the detection AUROC under its det_ name, and gains the def_ and att_ columns', () => {
  const before = parseCsv(readFileSync(join(GOLDEN, 'summary.csv'), 'utf8'));
  const after = parseCsv(readFileSync(join(work, 'runs', RUNS_SUMMARY_FILE), 'utf8'));
  assert.equal(after.length, before.length);
  const renamed = (column: string) => column.replace(/^detection_auroc_(.+)$/, 'det_$1_auroc');
  let compared = 0;
  before.forEach((row, i) => {
    for (const [column, value] of Object.entries(row)) {
      if (REDEFINED.test(column)) continue;
      assert.equal(after[i]![renamed(column)], value, `row ${i} ${column}`);
      compared++;
    }
  });
  assert.equal(compared, 2 * 33);
  const poisoned = after[1]!;
  assert.equal(poisoned.det_outlier_auroc, '0.975');
  for (const column of ['def_outlier_der', 'def_spectral_asr_after', 'att_tar_triggered', 'det_saliency_tpr5']) assert.match(poisoned[column]!, /^-?\d/, column);
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
  assert.equal(JSON.parse(detect.stdout).results[0].metrics.auroc, 0.975);
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
