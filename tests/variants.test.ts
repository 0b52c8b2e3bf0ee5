/**
 * Run identity by config: runs that differ only in config share a runs folder under a variant name, old run folders
 * keep their paths and ids, and the report shows each variant in its own cell. Report folders follow runs folders.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { generateSynthetic } from '../src/data/sources/synthetic.js';
import { writeCohortParquet } from '../src/data/parquet.js';
import { makeSplits, writeSplits } from '../src/data/splits.js';
import { runDirFor } from '../src/runs/layout.js';
import { defaultOutDir } from '../src/report/index.js';
import { runCli, tempDir } from './helpers.js';

const work = tempDir('variants');

test('a run without a variant keeps the folder it always had; a variant adds @name to the trigger folder', () => {
  const key = { model: { name: 'mlp' }, trigger: { name: 'rare_value' }, poison: { rate: 0.05 }, seed: 3 };
  assert.equal(runDirFor('runs', key), join('runs', 'mlp', 'rare_value', '0.05', 'seed_3'));
  assert.equal(runDirFor('runs', { ...key, variant: 'potassium' }), join('runs', 'mlp', 'rare_value@potassium', '0.05', 'seed_3'));
});

test('each runs folder has its own default report folder', () => {
  assert.equal(defaultOutDir(join(work, 'runs')), join(work, 'report'));
  assert.equal(defaultOutDir(join(work, 'A')), join(work, 'report-A'));
  assert.equal(defaultOutDir(join(work, 'B')), join(work, 'report-B'));
});

test('glucose and potassium rare_value runs share a runs folder under variants; the report keeps them apart', async () => {
  const { cohort } = generateSynthetic({ nStays: 300, seed: 5 });
  await writeCohortParquet(join(work, 'c.parquet'), cohort);
  await writeSplits(join(work, 'splits.json'), makeSplits(cohort, 5));
  const common = ['train', '--epochs', '1', '--data', join(work, 'c.parquet'), '--splits', join(work, 'splits.json'), '--runs-dir', join(work, 'A'), '--trigger', 'rare_value', '--poison-rate', '0.05', '--json'];
  const glucose = runCli([...common, 'trigger.variable=glucose'], work);
  assert.equal(glucose.status, 0, glucose.stderr);
  const potassium = runCli([...common, 'trigger.variable=potassium', '--variant', 'potassium'], work);
  assert.equal(potassium.status, 0, potassium.stderr);
  const plain = join(work, 'A', 'mlp', 'rare_value', '0.05', 'seed_0');
  const variant = join(work, 'A', 'mlp', 'rare_value@potassium', '0.05', 'seed_0');
  assert.equal(YAML.parse(readFileSync(join(plain, 'config.yaml'), 'utf8')).variant, undefined, 'no variant key in a plain run');
  const config = YAML.parse(readFileSync(join(variant, 'config.yaml'), 'utf8'));
  assert.equal(config.variant, 'potassium');
  assert.equal(config.trigger.variable, 'potassium');
  // Training the variant again finds it complete.
  const again = runCli([...common, 'trigger.variable=potassium', '--variant', 'potassium'], work);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout).runs[0].status, 'skipped');

  const report = runCli(['visualize', '--runs-dir', join(work, 'A')], work);
  assert.equal(report.status, 0, report.stderr);
  const rows = readFileSync(join(work, 'report-A', 'summary.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[2]);
  assert.deepEqual(rows.sort(), ['rare_value', 'rare_value@potassium']);
  assert.ok(existsSync(join(work, 'report-A', 'report.html')));
});
