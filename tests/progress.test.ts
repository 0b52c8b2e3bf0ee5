/** The progress renderer against fake streams: a terminal bar with epochs and an ETA, plain lines elsewhere. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createProgress, type ProgressStream } from '../src/util/progress.js';
import { generateSynthetic } from '../src/data/sources/synthetic.js';
import { writeCohortParquet } from '../src/data/parquet.js';
import { makeSplits, writeSplits } from '../src/data/splits.js';
import { CLI, tempDir } from './helpers.js';

function fakeStream(isTTY: boolean, columns: number | undefined): ProgressStream & { text: () => string } {
  const chunks: string[] = [];
  return { isTTY, columns, write: (s: string) => chunks.push(s), text: () => chunks.join('') };
}

/** One run of three epochs, as `train` reports it. */
function trainOneRun(stream: ProgressStream): void {
  const progress = createProgress({ stream });
  progress.start(1);
  progress.begin('mlp/none/0/seed_0');
  for (let epoch = 1; epoch <= 3; epoch++) progress.step(epoch, 3, 'epoch');
  progress.end('mlp/none/0/seed_0', 'AUROC 0.800 (1.0 s)', true);
  progress.finish();
}

test('on a terminal the bar shows the epoch and fills as epochs finish', () => {
  const stream = fakeStream(true, 100);
  trainOneRun(stream);
  const frames = stream.text().split('\r\x1b[2K').filter((f) => f.startsWith('['));
  const epochFrames = frames.filter((f) => / epoch \d\/3 /.test(f));
  assert.equal(epochFrames.length, 3);
  // 1 of 3 epochs of the only run: a third of 24 cells filled.
  assert.match(epochFrames[0], /^\[#{8}\.{16}\] 0\/1 epoch 1\/3 ETA \d+s mlp\/none\/0\/seed_0$/);
  assert.match(epochFrames[2], /^\[#{24}\] 0\/1 epoch 3\/3 ETA/);
  assert.match(stream.text(), /\[1\/1\] mlp\/none\/0\/seed_0: AUROC 0\.800 \(1\.0 s\)\n/);
  for (const frame of frames) assert.ok(frame.replace(/\n.*/s, '').length <= 99, 'a frame fits the 100 columns');
});

test('a terminal reporting 0 columns gets plain lines, no redrawn bar that would pile up', () => {
  const stream = fakeStream(true, 0);
  trainOneRun(stream);
  const text = stream.text();
  assert.doesNotMatch(text, /\r|\x1b\[/, 'no carriage return or escape sequence');
  assert.deepEqual(text.trimEnd().split('\n').map((l) => l.replace(/\d+s$/, 'Ns')), [
    'start mlp/none/0/seed_0',
    '[1/1] mlp/none/0/seed_0: AUROC 0.800 (1.0 s)',
    '1/1 runs in Ns',
  ]);
});

test('a pipe gets plain lines; NO_COLOR removes colour from the bar', () => {
  const pipe = fakeStream(false, undefined);
  trainOneRun(pipe);
  assert.doesNotMatch(pipe.text(), /\r|\x1b\[/);
  const saved = process.env.NO_COLOR;
  process.env.NO_COLOR = '1';
  try {
    const terminal = fakeStream(true, 80);
    const progress = createProgress({ stream: terminal });
    progress.start(1);
    progress.begin('r');
    progress.end('r', 'failed: x', false);
    progress.finish();
    assert.doesNotMatch(terminal.text(), /\x1b\[3[12]m/, 'no colour with NO_COLOR');
    delete process.env.NO_COLOR;
    const coloured = fakeStream(true, 80);
    const p2 = createProgress({ stream: coloured });
    p2.start(1);
    p2.begin('r');
    p2.end('r', 'failed: x', false);
    assert.match(coloured.text(), /\x1b\[31mfailed: x\x1b\[0m/);
  } finally {
    if (saved === undefined) delete process.env.NO_COLOR;
    else process.env.NO_COLOR = saved;
  }
});

test('train on a pseudo-terminal shows each epoch; with 0 columns it prints plain lines', async (t) => {
  const probe = spawnSync('script', ['--version'], { encoding: 'utf8' });
  if (probe.status !== 0) return t.skip('util-linux `script` is not installed; the renderer tests above cover the bar');
  const work = tempDir('progress-tty');
  const { cohort } = generateSynthetic({ nStays: 300, seed: 5 });
  await writeCohortParquet(join(work, 'c.parquet'), cohort);
  await writeSplits(join(work, 'splits.json'), makeSplits(cohort, 5));
  const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const run = (columns: number, runs: string) => {
    const command = [`stty cols ${columns};`, quote(process.execPath), quote(CLI), 'train', '--data', quote(join(work, 'c.parquet')), '--splits', quote(join(work, 'splits.json')), '--epochs', '3', 'train.patience=0', '--runs-dir', quote(join(work, runs))].join(' ');
    const r = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    return r.stdout;
  };
  const wide = run(100, 'runs-wide');
  for (const epoch of [1, 2, 3]) assert.match(wide, new RegExp(`\\] 0/1 epoch ${epoch}/3 ETA \\d+s mlp/none/0/seed_0`), `epoch ${epoch} on the bar`);
  assert.doesNotMatch(wide, /\x1b\[3\dm/, 'NO_COLOR: no colour');
  const zero = run(0, 'runs-zero');
  assert.doesNotMatch(zero, /\x1b\[2K|epoch \d\/3/, 'no redrawn bar at 0 columns');
  assert.match(zero, /start mlp\/none\/0\/seed_0\r?\n\[1\/1\] mlp\/none\/0\/seed_0: AUROC/);
});
