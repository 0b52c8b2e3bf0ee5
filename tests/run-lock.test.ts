import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { generateSynthetic } from '../src/data/sources/synthetic.js';
import { writeCohortParquet } from '../src/data/parquet.js';
import { makeSplits, writeSplits } from '../src/data/splits.js';
import { CLI, tempDir } from './helpers.js';

const work = tempDir('run-lock');

before(async () => {
  const { cohort } = generateSynthetic({ nStays: 600, seed: 8 });
  await writeCohortParquet(join(work, 'cohort.parquet'), cohort);
  await writeSplits(join(work, 'splits.json'), makeSplits(cohort, 8));
  writeFileSync(
    join(work, 'grid.yaml'),
    [
      'models: [mlp]',
      'triggers: [rare_value, missingness]',
      'poison_rates: [0.05]',
      'seeds: [0, 1]',
      'baseline: true',
      'detectors: [outlier]',
      'overrides:',
      '  data: {path: cohort.parquet, splits: splits.json}',
      '  train: {epochs: 2, patience: 0}',
    ].join('\n'),
  );
});

function benchmark(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'benchmark', '--grid', 'grid.yaml', '--runs-dir', 'runs', '--jobs', '1', '--shard', '1/1', '--json'], { cwd: work, env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('two processes on the same grid and shard train no run twice', async () => {
  const [a, b] = await Promise.all([benchmark(), benchmark()]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  const statuses = new Map<string, string[]>();
  for (const out of [a, b]) {
    for (const run of JSON.parse(out.stdout).runs as { dir: string; status: string }[]) statuses.set(run.dir, [...(statuses.get(run.dir) ?? []), run.status]);
  }
  assert.equal(statuses.size, 6);
  for (const [dir, s] of statuses) assert.deepEqual([...s].sort(), ['completed', 'skipped'], `${dir} was trained ${s.filter((x) => x === 'completed').length} times`);
  const waits = `${a.stderr}${b.stderr}`.match(/waiting for \S+: locked by pid \d+ on \S+/g) ?? [];
  for (const [dir] of statuses) assert.ok(existsSync(join(work, dir, 'detection')), `${dir} has no detection`);
  const locks = readdirSync(join(work, 'runs', 'mlp', 'rare_value', '0.05')).filter((n) => n.endsWith('.lock'));
  assert.deepEqual(locks, [], 'locks are released');
  // Which process waited depends on scheduling; each wait said whose lock it waited for.
  for (const w of waits) assert.match(w, /^waiting for runs\/mlp\//);
});

function train(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const args = ['train', '--data', 'cohort.parquet', '--splits', 'splits.json', '--epochs', '6', 'train.patience=0', '--trigger', 'rare_value', '--poison-rate', '0.05', '--runs-dir', 'train-runs', '--json'];
    const child = spawn(process.execPath, [CLI, ...args], { cwd: work, env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('two train commands on the same run: one trains, the other waits for its lock or skips, and says which', async () => {
  const results = await Promise.all([train(), train()]);
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  const statuses = results.map((r) => (JSON.parse(r.stdout).runs as { status: string }[])[0].status);
  assert.deepEqual([...statuses].sort(), ['completed', 'skipped'], 'the run was trained once');
  const skipper = results[statuses.indexOf('skipped')];
  assert.match(skipper.stderr, /mlp\/rare_value\/0\.05\/seed_0: skipped \(complete\)/);
  const trainer = results[statuses.indexOf('completed')];
  assert.doesNotMatch(trainer.stderr, /waiting for/, 'the process that trained did not wait');
  const rateDir = join(work, 'train-runs', 'mlp', 'rare_value', '0.05');
  assert.deepEqual(readdirSync(rateDir).sort(), ['seed_0'], 'no .partial, lock or temporary folder left');
});
