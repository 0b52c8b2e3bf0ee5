import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync, mkdirSync, writeFileSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { generateSynthetic } from '../src/data/sources/synthetic.js';
import { writeCohortParquet } from '../src/data/parquet.js';
import { makeSplits, writeSplits } from '../src/data/splits.js';
import { resolveRunConfig } from '../src/experiments/config.js';
import { executeRun } from '../src/experiments/run.js';
import { partialDirFor, RUN_FILES } from '../src/runs/layout.js';
import { listCheckpoints, readCheckpoint, resolveCheckpointPath } from '../src/train/checkpoint.js';
import { UserError } from '../src/util/errors.js';
import { runCli, tempDir } from './helpers.js';

const work = tempDir('resume');
const data = join(work, 'cohort.parquet');
const splits = join(work, 'splits.json');

function config(extra: Record<string, unknown> = {}) {
  return resolveRunConfig({
    overrides: {
      data: { path: data, splits },
      trigger: { name: 'rare_value' },
      poison: { rate: 0.05 },
      seed: 4,
      // patience 0: all 7 epochs run, so an interruption at epoch 3 leaves real work to resume.
      train: { epochs: 7, patience: 0, ...extra },
    },
  });
}

class Interrupt extends Error {}

before(async () => {
  const { cohort } = generateSynthetic({ nStays: 1500, seed: 11 });
  await writeCohortParquet(data, cohort);
  await writeSplits(splits, makeSplits(cohort, 11));
});

test('a run interrupted after epoch 3 resumes to metrics identical to an uninterrupted run', async () => {
  const whole = await executeRun(config(), { runsDir: join(work, 'whole') });
  const runsDir = join(work, 'interrupted');
  await assert.rejects(
    executeRun(config(), {
      runsDir,
      log: (line) => {
        if (line.startsWith('epoch 3:')) throw new Interrupt('simulated crash after epoch 3');
      },
    }),
    Interrupt,
  );
  const runDir = join(runsDir, 'mlp', 'rare_value', '0.05', 'seed_4');
  assert.equal(existsSync(runDir), false);
  const saved = await listCheckpoints(join(partialDirFor(runDir), 'checkpoints'));
  assert.ok(saved.some((c) => c.epoch === 3), `checkpoints: ${saved.map((c) => c.epoch)}`);

  const lines: string[] = [];
  const resumed = await executeRun(config(), { runsDir, log: (line) => lines.push(line) });
  assert.equal(resumed.status, 'completed');
  assert.ok(lines[0].startsWith('resuming from epoch 3'), lines[0]);
  assert.equal(lines.filter((l) => l.startsWith('epoch ')).length, 4, 'only epochs 4-7 were trained again');
  assert.deepEqual(resumed.metrics, whole.metrics);
  assert.ok(readFileSync(join(runDir, RUN_FILES.metrics)).equals(readFileSync(join(whole.dir, RUN_FILES.metrics))));
  assert.ok(readFileSync(join(runDir, RUN_FILES.history)).equals(readFileSync(join(whole.dir, RUN_FILES.history))));
  assert.ok(readFileSync(join(runDir, RUN_FILES.weights)).equals(readFileSync(join(whole.dir, RUN_FILES.weights))));
  assert.equal(existsSync(partialDirFor(runDir)), false, 'the partial folder is gone once the run is complete');
});

test('checkpoint policy best_last keeps the best and the last epoch; --resume from an explicit checkpoint is exact', async () => {
  const whole = await executeRun(config({ checkpoints: 'all' }), { runsDir: join(work, 'all') });
  const kept = await listCheckpoints(join(whole.dir, 'checkpoints'));
  assert.deepEqual(kept.map((c) => c.epoch), [1, 2, 3, 4, 5, 6, 7]);

  const pruned = await executeRun(config(), { runsDir: join(work, 'pruned') });
  const keptPruned = (await listCheckpoints(join(pruned.dir, 'checkpoints'))).map((c) => c.epoch);
  const best = pruned.metrics.training.best_epoch;
  assert.deepEqual(keptPruned, [...new Set([best, 7])].sort((a, b) => a - b));

  // Resume from epoch 2 of the keep-all run through the CLI, into a copy of that run folder given by --runs-dir.
  const copyRuns = join(work, 'cli-resume');
  cpSync(join(work, 'all'), copyRuns, { recursive: true });
  const copyDir = join(copyRuns, 'mlp', 'rare_value', '0.05', 'seed_4');
  const r = runCli(['train', '--resume', join(copyDir, 'checkpoints', 'epoch_0002'), '--runs-dir', copyRuns, '--json'], work);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(readFileSync(join(copyDir, RUN_FILES.metrics)).equals(readFileSync(join(whole.dir, RUN_FILES.metrics))));
});

test('checkpoints are selected by epoch number, not by text order', async () => {
  const dir = join(work, 'order');
  for (const name of ['epoch_2', 'epoch_10', 'epoch_9', 'notes']) mkdirSync(join(dir, name), { recursive: true });
  writeFileSync(join(dir, 'epoch_10', 'checkpoint.json'), '{}');
  assert.deepEqual((await listCheckpoints(dir)).map((c) => c.epoch), [2, 9, 10]);
  assert.equal(await resolveCheckpointPath(dir), join(dir, 'epoch_10'));
});

test('a truncated or altered checkpoint is refused with a clear error', async () => {
  const source = (await listCheckpoints(join(work, 'all', 'mlp', 'rare_value', '0.05', 'seed_4', 'checkpoints')))[0].path;
  const ok = await readCheckpoint(source);
  assert.equal(ok.epoch, 1);
  const truncated = join(work, 'truncated');
  cpSync(source, truncated, { recursive: true });
  const bin = readFileSync(join(truncated, 'tensors.bin'));
  writeFileSync(join(truncated, 'tensors.bin'), bin.subarray(0, bin.length - 100));
  await assert.rejects(readCheckpoint(truncated), (err: Error) => err instanceof UserError && /truncated/.test(err.message));
  const altered = join(work, 'altered');
  cpSync(source, altered, { recursive: true });
  bin[10] ^= 0xff;
  writeFileSync(join(altered, 'tensors.bin'), bin);
  await assert.rejects(readCheckpoint(altered), (err: Error) => err instanceof UserError && /SHA-256/.test(err.message));
  await assert.rejects(readCheckpoint(join(work, 'order', 'epoch_2')), (err: Error) => err instanceof UserError && /not a checkpoint/.test(err.message));
  assert.deepEqual(readdirSync(source).sort(), ['checkpoint.json', 'tensors.bin']);
});
