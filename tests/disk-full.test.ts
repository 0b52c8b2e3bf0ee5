/**
 * A full disk (ENOSPC) through the real CLI: one error line and exit 2, no 0-byte record, no orphan temporary
 * folder once a later run succeeds. Needs a tiny file system: a 200 KiB tmpfs, which only root may mount; the
 * test says loudly when it cannot.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { generateSynthetic } from '../src/data/sources/synthetic.js';
import { writeCohortParquet } from '../src/data/parquet.js';
import { makeSplits, writeSplits } from '../src/data/splits.js';
import { isTemporaryName } from '../src/util/fs.js';
import { runCli, tempDir } from './helpers.js';

const work = tempDir('disk-full');
const full = join(work, 'full');
let mounted = false;
let why = '';

before(async () => {
  const { cohort } = generateSynthetic({ nStays: 300, seed: 5 });
  await writeCohortParquet(join(work, 'c.parquet'), cohort);
  await writeSplits(join(work, 'splits.json'), makeSplits(cohort, 5));
  mkdirSync(full);
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=200k', 'tmpfs', full], { encoding: 'utf8' });
  mounted = m.status === 0;
  why = mounted ? '' : `cannot mount a 200 KiB tmpfs here (${(m.stderr || m.error?.message || `exit ${m.status}`).trim()}); ENOSPC is NOT tested`;
  if (!mounted) process.stderr.write(`\n*** disk-full.test: SKIPPED: ${why}\n\n`);
});

after(() => {
  if (mounted) spawnSync('umount', [full]);
});

/** Every path below dir whose name is a temporary one, and every empty .failed.json. */
function leftovers(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (isTemporaryName(e.name)) return [path];
    if (e.name.endsWith('.failed.json') && statSync(path).size === 0) return [`${path} (0 bytes)`];
    return e.isDirectory() ? leftovers(path) : [];
  });
}

function oneErrorLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.length > 0 && !/^\[|^\d+\/\d+ runs|^start /.test(l));
  assert.equal(lines.length, 1, `expected one error line, got:\n${stderr}`);
  assert.doesNotMatch(stderr, /^\s+at /m, 'no stack trace');
  return lines[0];
}

const train = ['train', '--data', join(work, 'c.parquet'), '--splits', join(work, 'splits.json'), '--epochs', '1', '--runs-dir', join(full, 'runs')];
const cohort = ['cohort', 'synthetic', '--n-stays', '2000', '--out', join(full, 'cohort')];

test('ENOSPC: train and cohort on a full disk give one line and exit 2; a later run leaves nothing behind', (t) => {
  if (!mounted) return t.skip(why);
  const trained = runCli(train, work);
  assert.equal(trained.status, 2, trained.stderr);
  assert.match(oneErrorLine(trained.stderr), /^backdoor: error: cannot write.*no space left on the device \(ENOSPC\)/);
  assert.deepEqual(leftovers(full), [], 'no temporary folder or empty record after the failure');

  const built = runCli(cohort, work);
  assert.equal(built.status, 2, built.stderr);
  assert.match(oneErrorLine(built.stderr), /no space left on the device \(ENOSPC\)/);
  assert.equal(existsSync(join(full, 'cohort')), false, 'no cohort folder');
  assert.deepEqual(leftovers(full), []);

  const remount = spawnSync('mount', ['-o', 'remount,size=40m', full], { encoding: 'utf8' });
  assert.equal(remount.status, 0, remount.stderr);
  const again = runCli(train, work);
  assert.equal(again.status, 0, again.stderr);
  assert.ok(existsSync(join(full, 'runs', 'mlp', 'none', '0', 'seed_0', 'metrics.json')));
  const rebuilt = runCli(cohort, work);
  assert.equal(rebuilt.status, 0, rebuilt.stderr);
  assert.deepEqual(leftovers(full), [], 'no orphan after the later successful runs');
  assert.deepEqual(readdirSync(join(full, 'runs', 'mlp', 'none', '0')), ['seed_0']);
});
