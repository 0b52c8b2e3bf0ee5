import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { generateSynthetic } from '../src/data/sources/synthetic.js';
import { writeCohortParquet } from '../src/data/parquet.js';
import { makeSplits, writeSplits } from '../src/data/splits.js';
import { expandGrid, selectShard, parseShard } from '../src/experiments/batch.js';
import { detectorsFor, loadSweepSpec, sweepConfigs } from '../src/experiments/sweep.js';
import { failureFileFor, runDirFor, RUN_FILES } from '../src/runs/layout.js';
import { UserError } from '../src/util/errors.js';
import { CLI, runCli, tempDir } from './helpers.js';

const work = tempDir('sweep');
const data = join(work, 'cohort.parquet');
const splits = join(work, 'splits.json');
const grid = join(work, 'grid.yaml');

before(async () => {
  const { cohort } = generateSynthetic({ nStays: 1200, seed: 21 });
  await writeCohortParquet(data, cohort);
  await writeSplits(splits, makeSplits(cohort, 21));
  writeFileSync(
    grid,
    [
      'models: [mlp]',
      'triggers: [rare_value, missingness]',
      'poison_rates: [0.05]',
      'seeds: [0, 1, 2]',
      'baseline: true',
      'detectors: []',
      'overrides:',
      `  data: {path: ${JSON.stringify(data)}, splits: ${JSON.stringify(splits)}}`,
      '  train: {epochs: 3, patience: 0}',
    ].join('\n'),
  );
});

test('the shards of a grid partition it exactly', () => {
  const configs = expandGrid({ models: ['mlp'], triggers: ['rare_value', 'missingness', 'pattern'], rates: [0.01, 0.05], seeds: [0, 1, 2, 3, 4] });
  const key = (c: (typeof configs)[number]) => runDirFor('', c);
  const all = configs.map(key);
  assert.equal(new Set(all).size, 30);
  for (const n of [1, 2, 3, 7, 30, 31]) {
    const parts = Array.from({ length: n }, (_, i) => selectShard(configs, { index: i + 1, count: n }).map(key));
    const union = parts.flat();
    assert.equal(union.length, all.length, `n=${n}: no run in two shards`);
    assert.deepEqual([...union].sort(), [...all].sort(), `n=${n}: the union is the grid`);
    const sizes = parts.map((p) => p.length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `n=${n}: balanced ${sizes}`);
  }
  assert.throws(() => parseShard('0/3'), UserError);
  assert.throws(() => parseShard('4/3'), UserError);
  assert.deepEqual(parseShard('2/3'), { index: 2, count: 3 });
});

test('a grid file expands to the baselines and the poisoned grid', () => {
  const spec = loadSweepSpec(grid);
  const configs = sweepConfigs(spec);
  assert.equal(configs.length, 3 + 2 * 3);
  assert.deepEqual(configs.slice(0, 3).map((c) => [c.trigger.name, c.poison.rate, c.seed]), [['none', 0, 0], ['none', 0, 1], ['none', 0, 2]]);
  assert.equal(configs[5].train.epochs, 3);
});

test('per_model overrides and extra_detectors apply to one model\'s runs only; bad names are one-line errors', () => {
  const file = join(work, 'per-model.yaml');
  writeFileSync(
    file,
    [
      'models: [mlp, tabtransformer]',
      'triggers: [rare_value]',
      'poison_rates: [0.05]',
      'seeds: [0]',
      'detectors: [spectral]',
      'overrides:',
      '  train: {epochs: 3, patience: 0, select: last}',
      'per_model:',
      '  tabtransformer:',
      '    model: {d_token: 32, heads: 4}',
      '    train: {epochs: 5}',
      'extra_detectors:',
      '  mlp: [saliency, spectral]',
    ].join('\n'),
  );
  const spec = loadSweepSpec(file);
  const configs = sweepConfigs(spec);
  const tt = configs.filter((c) => c.model.name === 'tabtransformer');
  const mlp = configs.filter((c) => c.model.name === 'mlp');
  assert.equal(tt.length, 2);
  for (const c of tt) {
    assert.equal(c.model.d_token, 32);
    assert.equal(c.model.heads, 4);
    assert.equal(c.train.epochs, 5);
    assert.equal(c.train.select, 'last');
  }
  for (const c of mlp) {
    assert.equal(c.train.epochs, 3);
    assert.equal(c.train.select, 'last');
    assert.equal(c.model.d_token, undefined);
  }
  assert.deepEqual(detectorsFor(spec, 'mlp'), ['spectral', 'saliency']);
  assert.deepEqual(detectorsFor(spec, 'tabtransformer'), ['spectral']);

  const bad = join(work, 'bad-per-model.yaml');
  writeFileSync(bad, 'models: [mlp]\ntriggers: [rare_value]\nper_model:\n  mpl:\n    train: {epochs: 2}\n');
  assert.throws(() => loadSweepSpec(bad), (err: Error) => err instanceof UserError && /mpl/.test(err.message) && /tabtransformer/.test(err.message) && !err.message.includes('\n'));
  writeFileSync(bad, 'models: [mlp]\ntriggers: [rare_value]\nextra_detectors:\n  mlp: [salience]\n');
  assert.throws(() => sweepConfigs(loadSweepSpec(bad)), (err: Error) => err instanceof UserError && /salience/.test(err.message) && /saliency/.test(err.message));
});

function benchmark(runsDir: string, extra: string[] = []) {
  return runCli(['benchmark', '--grid', grid, '--runs-dir', runsDir, '--jobs', '2', ...extra], work);
}

test('a sweep killed with SIGKILL resumes: finished runs untouched, only the rest run, the same summary.csv', async () => {
  const whole = benchmark(join(work, 'whole'));
  assert.equal(whole.status, 0, whole.stderr);
  const expected = readFileSync(join(work, 'whole', 'summary.csv'), 'utf8');
  assert.equal(expected.trim().split('\n').length, 1 + 9);

  const runsDir = join(work, 'killed');
  const child = spawn(process.execPath, [CLI, 'benchmark', '--grid', grid, '--runs-dir', runsDir, '--jobs', '2'], { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] });
  let finished = 0;
  await new Promise<void>((resolve) => {
    child.stderr.on('data', (chunk: Buffer) => {
      finished += (chunk.toString().match(/AUROC/g) ?? []).length;
      if (finished >= 3) {
        child.kill('SIGKILL');
        resolve();
      }
    });
  });
  await new Promise((resolve) => child.on('exit', resolve));
  // Give orphaned workers a moment to notice the closed channel and exit.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const dirs = sweepConfigs(loadSweepSpec(grid)).map((c) => runDirFor(runsDir, c));
  const done = dirs.filter((d) => existsSync(join(d, RUN_FILES.metadata)));
  assert.ok(done.length >= 3 && done.length < dirs.length, `${done.length} runs finished before the kill`);
  const stamps = new Map(done.map((d) => [d, statSync(join(d, RUN_FILES.metrics)).mtimeMs]));

  const dry = runCli(['benchmark', '--grid', grid, '--runs-dir', runsDir, '--dry-run', '--json'], work);
  const plan = JSON.parse(dry.stdout) as { status: string }[];
  assert.equal(plan.filter((p) => p.status === 'complete').length, done.length);

  const rerun = benchmark(runsDir);
  assert.equal(rerun.status, 0, rerun.stderr);
  assert.equal((rerun.stderr.match(/skipped \(complete\)/g) ?? []).length, done.length);
  for (const [d, mtime] of stamps) assert.equal(statSync(join(d, RUN_FILES.metrics)).mtimeMs, mtime, `${d} was rewritten`);
  assert.equal(readFileSync(join(runsDir, 'summary.csv'), 'utf8'), expected);
});

test('a failing run is recorded with its error, the sweep goes on, and the exit code says so', () => {
  const runsDir = join(work, 'failing');
  // Clean-label poisoning at 50% needs more target-class rows than the training split has.
  const r = runCli(['experiments', '--triggers', 'rare_value', '--poison-rates', '0.05,0.5', '--seeds', '0', '--mode', 'clean', '--epochs', '2', '--jobs', '1', '--data', data, '--splits', splits, '--runs-dir', runsDir], work);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /1 run\(s\) failed/);
  // A clean-label run's folder names its mode.
  const ok = join(runsDir, 'mlp', 'rare_value-clean', '0.05', 'seed_0');
  const bad = join(runsDir, 'mlp', 'rare_value-clean', '0.5', 'seed_0');
  assert.ok(existsSync(join(ok, RUN_FILES.metadata)));
  assert.equal(existsSync(bad), false);
  const failure = JSON.parse(readFileSync(failureFileFor(bad), 'utf8'));
  assert.match(failure.error, /needs \d+ clean-label rows with label 1, but the training split has only \d+/);
  assert.equal(failure.config.poison.rate, 0.5);
  assert.equal(readFileSync(join(runsDir, 'summary.csv'), 'utf8').trim().split('\n').length, 2);
});
