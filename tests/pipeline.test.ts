import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, readdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import YAML from 'yaml';
import { setupData } from '../src/data/setup.js';
import { resolveRunConfig } from '../src/experiments/config.js';
import { executeRun, type RunResult } from '../src/experiments/run.js';
import { RUN_FILES } from '../src/runs/layout.js';
import { readCompleteRun } from '../src/runs/records.js';
import { SUMMARY_COLUMNS } from '../src/runs/summary.js';
import { loadDataset } from '../src/experiments/dataset.js';
import { getModel } from '../src/models/registry.js';
import { FEATURIZERS } from '../src/data/features/index.js';
import { predictProba } from '../src/train/trainer.js';
import { auroc } from '../src/metrics/classification.js';
import { decodeNpyInt64 } from '../src/util/npy.js';
import { CLI, runCli, tempDir } from './helpers.js';

// The acceptance checks of the core pipeline, on the embedded dev cohort with default settings.
const work = tempDir('pipeline');
const dataDir = join(work, 'data');
const runsDir = join(work, 'runs');
const dataOverrides = { data: { path: join(dataDir, 'dev', 'dev.parquet'), splits: join(dataDir, 'splits', 'splits.json') } };
let clean: RunResult;
let poisoned: RunResult;

before(async () => {
  await setupData({ dataDir, nStays: 20000, devSize: 5000, hours: 24, seed: 20240601 });
  clean = await executeRun(resolveRunConfig({ overrides: { ...dataOverrides, seed: 0 } }), { runsDir });
  poisoned = await executeRun(resolveRunConfig({ overrides: { ...dataOverrides, seed: 0, trigger: { name: 'rare_value' }, poison: { rate: 0.01 } } }), { runsDir });
});

test('clean MLP on the dev subset reaches a realistic AUROC close to the true-risk ceiling', () => {
  const m = clean.metrics;
  assert.ok(m.clean.auroc >= 0.8 && m.clean.auroc <= 0.92, `clean AUROC ${m.clean.auroc}`);
  assert.ok(m.data.test_true_risk_auroc !== null);
  assert.ok(Math.abs(m.clean.auroc - m.data.test_true_risk_auroc!) <= 0.05, `AUROC ${m.clean.auroc} vs true-risk ${m.data.test_true_risk_auroc}`);
  assert.ok(m.data.test_prevalence > 0.1 && m.data.test_prevalence < 0.15);
  assert.equal(m.attack, null);
  assert.equal(m.data.n_poisoned, 0);
});

test('rare_value at 1% succeeds (ASR ≥ 0.90) and costs at most 0.01 clean AUROC against the same-seed clean run', () => {
  const a = poisoned.metrics.attack!;
  assert.ok(a.asr >= 0.9, `ASR ${a.asr}`);
  assert.ok(clean.metrics.clean.auroc - poisoned.metrics.clean.auroc <= 0.01, `drop ${clean.metrics.clean.auroc - poisoned.metrics.clean.auroc}`);
  assert.equal(poisoned.metrics.data.n_poisoned, Math.floor(0.01 * poisoned.metrics.data.n_train));
  // The triggered test set is every clean test row whose label differs from the target.
  assert.equal(a.n_triggered, Math.round(poisoned.metrics.data.n_test * (1 - poisoned.metrics.data.test_prevalence)));
  // acc_poison counts the true (non-target) label, so it is the complement of ASR.
  assert.ok(Math.abs(a.acc_poison - (1 - a.asr)) < 1e-12);
  // The same trigger on the clean model is the false-trigger baseline, far below the ASR.
  const falseTrigger = clean.metrics.false_trigger!.rare_value;
  assert.ok(falseTrigger.asr < 0.2, `false-trigger rate ${falseTrigger.asr}`);
});

test('a clean run evaluates every configured trigger on its test set', () => {
  const names = Object.keys(clean.metrics.false_trigger!).sort();
  assert.deepEqual(names, ['correlation', 'distribution_shift', 'frequency_domain', 'hybrid', 'missingness', 'pattern', 'rare_value']);
  const nonTarget = clean.metrics.data.n_test - clean.metrics.clean.n_pos;
  for (const m of Object.values(clean.metrics.false_trigger!)) {
    assert.equal(m.n_triggered, nonTarget);
    // On clean inputs the clean model's target rate is the same whichever trigger is evaluated.
    assert.equal(m.clean_target_rate, clean.metrics.false_trigger!.rare_value.clean_target_rate);
  }
});

test('the run folder is complete and consistent', async () => {
  const dir = poisoned.dir;
  assert.equal(dir, join(runsDir, 'mlp', 'rare_value', '0.01', 'seed_0'));
  for (const file of Object.values(RUN_FILES)) assert.ok(existsSync(join(dir, file)), `${file} missing`);
  const config = YAML.parse(readFileSync(join(dir, RUN_FILES.config), 'utf8'));
  assert.equal(config.trigger.name, 'rare_value');
  assert.equal(config.poison.rate, 0.01);
  assert.equal(config.train.epochs, 40);
  const metadata = JSON.parse(readFileSync(join(dir, RUN_FILES.metadata), 'utf8'));
  assert.equal(metadata.status, 'complete');
  assert.equal(metadata.run_id, poisoned.metrics.run_id);
  assert.match(metadata.data.sha256, /^[0-9a-f]{64}$/);
  assert.ok(metadata.timings.total_s > 0);
  const indices = decodeNpyInt64(readFileSync(join(dir, RUN_FILES.poisoned)));
  assert.equal(indices.length, poisoned.metrics.data.n_poisoned);
  const dataset = await loadDataset(dataOverrides.data.path, dataOverrides.data.splits);
  // Dirty-label poisoning draws rows whose true label is not the target.
  for (const i of indices) assert.equal(dataset.train.labels[i], 0);
  const summary = readFileSync(join(dir, RUN_FILES.summary), 'utf8').trim().split('\n');
  assert.equal(summary.length, 2);
  assert.deepEqual(summary[0].split(','), [...SUMMARY_COLUMNS]);
  const row = Object.fromEntries(summary[0].split(',').map((k, i) => [k, summary[1].split(',')[i]]));
  assert.equal(Number(row.asr), poisoned.metrics.attack!.asr);
  assert.equal(row.trigger, 'rare_value');
  const history = readFileSync(join(dir, RUN_FILES.history), 'utf8').trim().split('\n');
  assert.equal(history.length, 1 + poisoned.metrics.training.epochs_run);
});

test('the saved TF.js model and featurizer reproduce the test AUROC', async () => {
  const dataset = await loadDataset(dataOverrides.data.path, dataOverrides.data.splits);
  const spec = getModel('mlp');
  const config = YAML.parse(readFileSync(join(clean.dir, RUN_FILES.config), 'utf8'));
  const { name: _name, ...modelConfig } = config.model;
  const model = await spec.load(clean.dir, spec.resolveConfig(modelConfig));
  const { state } = JSON.parse(readFileSync(join(clean.dir, RUN_FILES.featurizer), 'utf8'));
  const probs = predictProba(model, FEATURIZERS.tabular.transform(state, dataset.test));
  assert.equal(auroc(dataset.test.labels, probs), clean.metrics.clean.auroc);
  model.dispose();
});

test('a complete run is skipped on rerun, and --force reruns it', async () => {
  const config = resolveRunConfig({ overrides: { ...dataOverrides, seed: 0 } });
  const again = await executeRun(config, { runsDir });
  assert.equal(again.status, 'skipped');
  assert.deepEqual(again.metrics, clean.metrics);
  const forced = await executeRun(config, { runsDir, force: true });
  assert.equal(forced.status, 'completed');
  // Retrained from scratch in the same process: the same numbers.
  assert.deepEqual(forced.metrics, clean.metrics);
});

test('the same train command run twice gives byte-identical metrics.json', () => {
  const args = ['train', '--trigger', 'missingness', '--poison-rate', '0.05', '--seed', '3', '--epochs', '6', '--data', dataOverrides.data.path, '--splits', dataOverrides.data.splits];
  const first = runCli([...args, '--runs-dir', join(work, 'repro-a')], work);
  const second = runCli([...args, '--runs-dir', join(work, 'repro-b')], work);
  assert.equal(first.status, 0, first.stderr);
  assert.equal(second.status, 0, second.stderr);
  const path = (root: string) => join(work, root, 'mlp', 'missingness', '0.05', 'seed_3', 'metrics.json');
  const a = readFileSync(path('repro-a'));
  const b = readFileSync(path('repro-b'));
  assert.ok(a.equals(b), 'metrics.json differs between identical runs');
  assert.ok(JSON.parse(a.toString()).attack.asr > 0);
});

test('a run killed mid-training leaves no folder that counts as finished', async () => {
  const killedRuns = join(work, 'killed');
  const args = [CLI, 'train', '--seed', '5', '--data', dataOverrides.data.path, '--splits', dataOverrides.data.splits, '--runs-dir', killedRuns, '-v'];
  const child = spawn(process.execPath, args, { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve) => {
    child.stderr.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('epoch 2')) {
        child.kill('SIGKILL');
        resolve();
      }
    });
  });
  await new Promise((resolve) => child.on('exit', resolve));
  const runDir = join(killedRuns, 'mlp', 'none', '0', 'seed_5');
  assert.equal(existsSync(runDir), false);
  assert.equal(await readCompleteRun(runDir), null);
  const rerun = runCli(args.slice(1), work);
  assert.equal(rerun.status, 0, rerun.stderr);
  assert.notEqual(await readCompleteRun(runDir), null);
  // Nothing but the finished folder is left beside it.
  assert.deepEqual(readdirSync(join(killedRuns, 'mlp', 'none', '0')), ['seed_5']);
});

test('evaluate recomputes the saved metrics exactly, from the model or from the best checkpoint', async () => {
  const { evaluateRun } = await import('../src/experiments/evaluate.js');
  const same = await evaluateRun(poisoned.dir);
  assert.equal(same.matchesSaved, true);
  assert.deepEqual(same.evaluation.attack, poisoned.metrics.attack);
  const fromCheckpoint = await evaluateRun(poisoned.dir, { checkpoint: String(poisoned.metrics.training.best_epoch) });
  assert.deepEqual(fromCheckpoint.evaluation.clean, poisoned.metrics.clean);
  const transfer = await evaluateRun(poisoned.dir, { trigger: 'missingness' });
  assert.equal(transfer.trigger, 'missingness');
  assert.ok(transfer.evaluation.attack!.asr < poisoned.metrics.attack!.asr, 'a trigger the model was not poisoned with succeeds less');
});
