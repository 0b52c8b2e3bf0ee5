/**
 * Cohort folders and setup's files are built aside and renamed into place whole: a build killed midway leaves the
 * previous cohort.parquet with its own splits.json, and the next build leaves no temporary folder behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, runCli, tempDir } from './helpers.js';

const work = tempDir('cohort-aside');

function snapshot(dir: string, files: string[]): Record<string, Buffer> {
  return Object.fromEntries(files.map((name) => [name, readFileSync(join(dir, name))]));
}

/** Starts the CLI and SIGKILLs it as soon as a folder whose name starts with `prefix` appears in `parent`. */
async function killWhenStaged(args: string[], parent: string, prefix: string): Promise<{ signal: NodeJS.Signals | null; staged: string[] }> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: work, stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  let staged: string[] = [];
  let done = false;
  void exited.then(() => (done = true));
  while (!done) {
    staged = readdirSync(parent).filter((n) => n.startsWith(prefix));
    if (staged.length > 0) {
      child.kill('SIGKILL');
      break;
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  return { signal: await exited, staged };
}

const temporaries = (dir: string) => readdirSync(dir).filter((n) => n.includes('.tmp-'));

test('cohort: a build killed midway leaves the old folder whole; the next build removes the leftover', async () => {
  const out = join(work, 'cohorts', 'synthetic');
  const first = runCli(['cohort', 'synthetic', '--n-stays', '300', '--out', out], work);
  assert.equal(first.status, 0, first.stderr);
  const files = ['cohort.parquet', 'splits.json', 'cohort_report.json', 'cohort_report.md', '.backdoor-data.json'];
  const before = snapshot(out, files);

  const killed = await killWhenStaged(['cohort', 'synthetic', '--n-stays', '20000', '--generator-seed', '7', '--out', out], join(work, 'cohorts'), '.synthetic.tmp-');
  assert.equal(killed.signal, 'SIGKILL', 'the build was killed while its staging folder existed');
  assert.deepEqual(snapshot(out, files), before, 'the old cohort.parquet and its splits.json are untouched');
  assert.equal(temporaries(join(work, 'cohorts')).length, 1, 'the killed build left its staging folder');

  // A failed build (bad input) changes nothing either.
  const failed = runCli(['cohort', 'synthetic', '--n-stays', '-3', '--out', out], work);
  assert.equal(failed.status, 2);
  assert.deepEqual(snapshot(out, files), before);

  const next = runCli(['cohort', 'synthetic', '--n-stays', '400', '--out', out, '--json'], work);
  assert.equal(next.status, 0, next.stderr);
  assert.deepEqual(temporaries(join(work, 'cohorts')), [], 'no temporary folder after the next build');
  const report = JSON.parse(readFileSync(join(out, 'cohort_report.json'), 'utf8'));
  assert.equal(report.stays, 400);
  const splits = JSON.parse(readFileSync(join(out, 'splits.json'), 'utf8'));
  assert.equal(splits.train.length + splits.val.length + splits.test.length, 400, 'the new splits belong to the new cohort');
  assert.equal(report.files.cohort, join(out, 'cohort.parquet'), 'the report names the final folder, not the staging one');
});

test('setup: a setup killed midway leaves the previous files; the next setup removes the leftover', async () => {
  const dataDir = join(work, 'data');
  const first = runCli(['setup', '--data-dir', dataDir, '--n-stays', '300', '--dev-size', '100', '--json'], work);
  assert.equal(first.status, 0, first.stderr);
  const files = ['main.parquet', join('dev', 'dev.parquet'), join('splits', 'splits.json'), 'manifest.json'];
  const before = snapshot(dataDir, files);

  const killed = await killWhenStaged(['setup', '--data-dir', dataDir, '--n-stays', '20000', '--dev-size', '2000', '--force'], dataDir, '.setup.tmp-');
  assert.equal(killed.signal, 'SIGKILL');
  assert.deepEqual(snapshot(dataDir, files), before, 'main.parquet, dev.parquet, splits.json and the manifest are the old ones');

  const next = runCli(['setup', '--data-dir', dataDir, '--n-stays', '400', '--dev-size', '100', '--json'], work);
  assert.equal(next.status, 0, next.stderr);
  assert.deepEqual(temporaries(dataDir), []);
  assert.equal(JSON.parse(readFileSync(join(dataDir, 'manifest.json'), 'utf8')).options.nStays, 400);
  assert.ok(existsSync(join(dataDir, 'dev', 'dev.parquet')));
});
