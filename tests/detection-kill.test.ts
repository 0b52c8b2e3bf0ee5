import { withReferenceDetectors } from '../src/detectors/registry.js';
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join, relative } from 'node:path';
import { generateSynthetic } from '../src/data/sources/synthetic.js';
import { writeCohortParquet } from '../src/data/parquet.js';
import { makeSplits, writeSplits } from '../src/data/splits.js';
import { deriveRng } from '../src/engine/rng.js';
import { DETECTION_DIR, isTemporaryName, RUN_FILES, RUNS_SUMMARY_FILE } from '../src/runs/layout.js';
import { missingDetection, readDetectionManifest } from '../src/runs/detection-records.js';
import { CLI, runCli, tempDir } from './helpers.js';

const work = tempDir('detect-kill');
const RUN = join('mlp', 'rare_value', '0.05', 'seed_0');
const METHODS = ['spectral', 'outlier', 'saliency'];
const TRIALS = 8;

function grid(name: string, detectors: string[]): string {
  writeFileSync(
    join(work, name),
    [
      'models: [mlp]',
      'triggers: [rare_value]',
      'poison_rates: [0.05]',
      'seeds: [0]',
      'baseline: false',
      `detectors: [${detectors.join(', ')}]`,
      `defend: ${detectors.length > 0}`,
      'overrides:',
      '  data: {path: cohort.parquet, splits: splits.json}',
      '  train: {epochs: 3, patience: 0}',
    ].join('\n'),
  );
  return name;
}

/**
 * A detection output as compared across runs: the bytes, but for JSON records the parsed content without the
 * wall-clock `seconds` a method or defence took, and for the manifest its file list (its sizes follow those seconds;
 * that they match the files on disk is what missingDetection checks).
 */
function comparable(file: string, bytes: Buffer): unknown {
  if (!file.endsWith('.json')) return bytes.toString('base64');
  const parsed = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  if (file.endsWith('manifest.json')) return Object.keys((parsed.files ?? {}) as object).sort();
  const { seconds: _seconds, ...rest } = parsed;
  return rest;
}

/** Every file under a folder, relative, with its bytes. */
function files(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.set(relative(dir, path), readFileSync(path));
    }
  };
  walk(dir);
  return out;
}

let referenceSeconds = 0;
let reference: Map<string, Buffer>;

before(async () => {
  const { cohort } = generateSynthetic({ nStays: 800, seed: 5 });
  await writeCohortParquet(join(work, 'cohort.parquet'), cohort);
  await writeSplits(join(work, 'splits.json'), makeSplits(cohort, 5));
  const trained = runCli(['benchmark', '--grid', grid('train.yaml', []), '--runs-dir', 'base', '--jobs', '1'], work);
  assert.equal(trained.status, 0, trained.stderr);
  cpSync(join(work, 'base'), join(work, 'reference'), { recursive: true });
  const started = performance.now();
  const whole = runCli(['benchmark', '--grid', grid('detect.yaml', METHODS), '--runs-dir', 'reference', '--jobs', '1'], work);
  referenceSeconds = (performance.now() - started) / 1000;
  assert.equal(whole.status, 0, whole.stderr);
  reference = files(join(work, 'reference'));
});

/** Starts detection on a copy of the trained run in its own process group and SIGKILLs the group after `ms`. */
async function killDuring(runsDir: string, ms: number): Promise<boolean> {
  const child = spawn(process.execPath, [CLI, 'benchmark', '--grid', 'detect.yaml', '--runs-dir', runsDir, '--jobs', '1'], { cwd: work, detached: true, stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // Already finished.
    }
  }, ms);
  const code = await exited;
  clearTimeout(timer);
  return code !== 0;
}

test(`detection killed at ${TRIALS} seeded moments and rerun: every output in place, the reference summary, no temporary files`, async (t) => {
  const rng = deriveRng('detection-kill-test');
  const outcomes: string[] = [];
  for (let trial = 0; trial < TRIALS; trial++) {
    const runsDir = `trial_${trial}`;
    cpSync(join(work, 'base'), join(work, runsDir), { recursive: true });
    // Past the first 30% (process start, loading the run), up to the end of an uninterrupted run.
    const ms = Math.round(rng.uniform(0.3, 1) * referenceSeconds * 1000);
    const killed = await killDuring(runsDir, ms);
    const runDir = join(work, runsDir, RUN);
    const manifest = await readDetectionManifest(runDir);
    const present = [...files(join(work, runsDir)).keys()];
    const left = present.filter((f) => f.split('/').some(isTemporaryName)).length;
    const outputs = present.filter((f) => f.includes(`${DETECTION_DIR}/`) && !f.split('/').some(isTemporaryName)).length;
    outcomes.push(`kill at ${ms} ms: ${killed ? `killed with ${Object.keys(manifest?.methods ?? {}).length}/${withReferenceDetectors(METHODS).length} methods recorded, ${outputs} detection file(s), ${left} temporary` : 'finished first'}`);

    if (killed) {
      const plan = runCli(['benchmark', '--grid', 'detect.yaml', '--runs-dir', runsDir, '--dry-run', '--json'], work);
      // Complete once the chosen methods and the reference detectors that always run beside them are all recorded.
      const recorded = Object.keys(manifest?.methods ?? {});
      const allRecorded = withReferenceDetectors(METHODS).every((m) => recorded.includes(m));
      const expected = allRecorded ? 'complete' : existsSync(join(runDir, RUN_FILES.metadata)) ? 'detection' : 'todo';
      assert.equal(JSON.parse(plan.stdout)[0].status, expected, `trial ${trial}: the plan after the kill`);
    }
    const rerun = runCli(['benchmark', '--grid', 'detect.yaml', '--runs-dir', runsDir, '--jobs', '1'], work);
    assert.equal(rerun.status, 0, rerun.stderr);
    assert.deepEqual(await missingDetection(runDir, METHODS, true), [], `trial ${trial}: detection incomplete after the rerun`);
    const after = files(join(work, runsDir));
    const stray = [...after.keys()].filter((f) => f.split('/').some((part) => isTemporaryName(part) || part.endsWith('.lock')));
    assert.deepEqual(stray, [], `trial ${trial}: temporary files remain`);
    assert.equal(after.get(RUNS_SUMMARY_FILE)?.toString(), reference.get(RUNS_SUMMARY_FILE)?.toString(), `trial ${trial}: summary.csv`);
    for (const [file, bytes] of reference) {
      if (!file.includes(`${DETECTION_DIR}/`) && !file.endsWith('.csv')) continue;
      assert.ok(after.has(file), `trial ${trial}: ${file} is missing`);
      assert.deepEqual(comparable(file, after.get(file)!), comparable(file, bytes), `trial ${trial}: ${file} differs from the uninterrupted run`);
    }
  }
  t.diagnostic(`reference detection run ${referenceSeconds.toFixed(1)} s; ${outcomes.join('; ')}`);
  assert.ok(outcomes.some((o) => o.includes('killed with')), `no trial was killed before it finished: ${outcomes.join('; ')}`);
});
