import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { generateSynthetic } from '../src/data/sources/synthetic.js';
import { writeCohortParquet } from '../src/data/parquet.js';
import { makeSplits, writeSplits } from '../src/data/splits.js';
import { runCli, tempDir } from './helpers.js';

const work = tempDir('cli');
const data = join(work, 'small.parquet');
const splits = join(work, 'splits.json');
const runsDir = join(work, 'runs');

before(async () => {
  const { cohort } = generateSynthetic({ nStays: 400, seed: 7 });
  await writeCohortParquet(data, cohort);
  await writeSplits(splits, makeSplits(cohort, 7));
  writeFileSync(join(work, 'corrupt.parquet'), Buffer.from('this is not a parquet file at all, just text'.repeat(20)));
  const bytes = readFileSync(data);
  writeFileSync(join(work, 'truncated.parquet'), bytes.subarray(0, Math.floor(bytes.length / 2)));
  writeFileSync(join(work, 'a-file'), 'x');
  const schema = JSON.stringify(cohort.schema);
  const few = (labels: (number | null)[]) =>
    Buffer.from(
      parquetWriteBuffer({
        columnData: [
          { name: 'stay_id', data: Int32Array.from([1, 2, 3]), type: 'INT32' },
          { name: 'patient_id', data: Int32Array.from([1, 2, 3]), type: 'INT32' },
          { name: 'label', data: labels, type: 'DOUBLE' },
        ],
        kvMetadata: [{ key: 'backdoor.schema', value: schema }],
      }),
    );
  writeFileSync(join(work, 'no-columns.parquet'), few([0, 1, 0]));
  // A complete cohort file whose label column holds a NaN.
  const { cohort: tiny } = generateSynthetic({ nStays: 20, seed: 3 });
  await writeCohortParquet(join(work, 'nan-label.parquet'), tiny);
  const { parquetReadObjects } = await import('hyparquet');
  const buf = readFileSync(join(work, 'nan-label.parquet'));
  const rows = await parquetReadObjects({ file: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer });
  const columns = Object.keys(rows[0]);
  const columnData = columns.map((name) => {
    const values = rows.map((r) => r[name]);
    if (name === 'label') return { name, data: values.map((v, i) => (i === 4 ? NaN : Number(v))), type: 'DOUBLE' as const };
    if (name === 'admission_type') return { name, data: values, type: 'STRING' as const };
    if (name === 'stay_id' || name === 'patient_id') return { name, data: Int32Array.from(values.map(Number)), type: 'INT32' as const };
    return { name, data: values.map((v) => (v === null ? null : Number(v))), type: 'DOUBLE' as const };
  });
  writeFileSync(join(work, 'nan-label.parquet'), Buffer.from(parquetWriteBuffer({ columnData, kvMetadata: [{ key: 'backdoor.schema', value: JSON.stringify(tiny.schema) }] })));
  await writeSplits(join(work, 'nan-splits.json'), makeSplits(tiny, 3));
});

function expectUserError(args: string[], pattern: RegExp, runs = runsDir): void {
  const r = runCli(['train', '--epochs', '1', '--runs-dir', runs, ...args], work);
  assert.equal(r.status, 2, `exit ${r.status}; stderr: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n').filter((l) => !/^\[|^\d+\/\d+ runs/.test(l));
  assert.equal(lines.length, 1, `expected one error line, got:\n${r.stderr}`);
  assert.match(lines[0], /^backdoor: error: /);
  assert.match(lines[0], pattern);
  assert.equal(existsSync(join(runs, 'mlp')), false, 'a run folder was left behind');
}

const good = () => ['--data', data, '--splits', splits];

test('unknown model and trigger name the valid choices', () => {
  expectUserError([...good(), '--model', 'resnet'], /unknown model "resnet"; valid: mlp/);
  expectUserError([...good(), '--trigger', 'laser'], /unknown trigger "laser"; valid: none, rare_value, missingness, hybrid, pattern, correlation, frequency_domain, distribution_shift/);
});

test('a poison rate outside [0, 1) is refused', () => {
  expectUserError([...good(), '--trigger', 'rare_value', '--poison-rate', '1'], /poison rate must be a number in \[0, 1\), got 1/);
  expectUserError([...good(), '--trigger', 'rare_value', '--poison-rate', '-0.1'], /poison rate must be a number in \[0, 1\)/);
  const r = runCli(['experiments', '--poison-rates', '0.01,1.5', '--epochs', '1', '--runs-dir', runsDir, ...good()], work);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /poison rate must be in \[0, 1\), got 1.5/);
});

test('missing, corrupt and truncated data files', () => {
  expectUserError(['--data', join(work, 'nope.parquet'), '--splits', splits], /data file not found: .*nope\.parquet/);
  expectUserError(['--data', join(work, 'corrupt.parquet'), '--splits', splits], /corrupt data file .*corrupt\.parquet/);
  expectUserError(['--data', join(work, 'truncated.parquet'), '--splits', splits], /corrupt data file .*truncated\.parquet/);
});

test('a Parquet file without the required columns', () => {
  expectUserError(['--data', join(work, 'no-columns.parquet'), '--splits', splits], /lacks required columns: age, sex_female, weight, admission_type, heart_rate_h00/);
});

test('a NaN label', () => {
  expectUserError(['--data', join(work, 'nan-label.parquet'), '--splits', join(work, 'nan-splits.json')], /label is missing, NaN or not 0\/1 in 1 row\(s\)/);
});

test('an unwritable runs folder', () => {
  expectUserError(good(), /cannot write to runs folder .*a-file\/runs/, join(work, 'a-file', 'runs'));
});

test('bad trigger parameters and overrides', () => {
  expectUserError([...good(), '--trigger', 'rare_value', '--poison-rate', '0.05', 'trigger.variable=shoe_size'], /unknown variable "shoe_size"|shoe_size/);
  expectUserError([...good(), 'train.epochz=3'], /unknown train setting "epochz"; valid: epochs, batch_size, learning_rate, patience, pos_weight/);
});

test('--help states the defaults', () => {
  const r = runCli(['experiments', '--help'], work);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /--poison-rates <list>/);
  assert.match(r.stdout, /default:\s+0\.005,0\.01,0\.05,0\.1\)/);
  assert.match(r.stdout, /--runs-dir <dir>.*\(default: "runs"\)/);
});

test('a valid small run succeeds with exit 0 and --json output', () => {
  const r = runCli(['train', '--epochs', '2', '--runs-dir', join(work, 'ok-runs'), '--json', ...good()], work);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.runs.length, 1);
  assert.equal(out.runs[0].status, 'completed');
  assert.equal(out.runs[0].metrics.training.epochs_run, 2);
  assert.deepEqual(readdirSync(join(work, 'ok-runs', 'mlp', 'none', '0')), ['seed_0']);
});

test('all with --data-dir runs the grid on the cohort it wrote there and reports only that grid\'s runs', () => {
  const cwd = tempDir('all-data-dir');
  const dataDir = join(cwd, 'elsewhere');
  const all = () =>
    runCli(
      ['all', '--data-dir', dataDir, '--n-stays', '600', '--dev-size', '300', '--models', 'mlp', '--triggers', 'rare_value', '--poison-rates', '0.05', '--seeds', '0', '--detectors', 'outlier', '--runs-dir', join(cwd, 'runs')],
      cwd,
    );
  const r = all();
  assert.equal(r.status, 0, r.stderr);
  assert.equal(existsSync(join(cwd, 'data')), false, 'nothing written to ./data');
  const config = readFileSync(join(cwd, 'runs', 'mlp', 'rare_value', '0.05', 'seed_0', 'config.yaml'), 'utf8');
  assert.match(config, new RegExp(`path: ${join(dataDir, 'dev', 'dev.parquet')}`));
  assert.match(config, new RegExp(`splits: ${join(dataDir, 'splits', 'splits.json')}`));
  const summary = readFileSync(join(cwd, 'runs', 'summary.csv'), 'utf8').trim().split('\n');
  assert.equal(summary.length, 1 + 2, 'the clean baseline and the poisoned run');
  assert.ok(existsSync(join(cwd, 'report', 'report.html')));
  assert.ok(existsSync(join(cwd, 'report', 'figures', 'dashboard.png')));
  const reported = readFileSync(join(cwd, 'report', 'summary.csv'), 'utf8');
  assert.equal(reported.trim().split('\n').length, 1 + 2);

  // Another sweep's run in the same runs folder (here a copy under runs/other/) stays out of all's statistics.
  cpSync(join(cwd, 'runs', 'mlp'), join(cwd, 'runs', 'other', 'mlp'), { recursive: true });
  const again = all();
  assert.equal(again.status, 0, again.stderr);
  assert.equal(readFileSync(join(cwd, 'report', 'summary.csv'), 'utf8'), reported);
});
