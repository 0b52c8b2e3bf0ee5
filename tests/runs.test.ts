import { FEATURIZERS } from '../src/data/features/index.js';
import { generateSynthetic } from '../src/data/sources/synthetic.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync, spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import {
  RUN_FILES,
  DETECTION_DIR,
  DETECTION_FILES,
  lockFileFor,
  removeOrphans,
  runDirFor,
} from '../src/runs/layout.js';
import { RUN_FORMAT_VERSION } from '../src/runs/format.js';
import { readPredictionsRecord, writePredictionsRecord, type TestPredictions } from '../src/runs/predictions.js';
import {
  readCompleteRun,
  readConfigRecord,
  readFeaturizerRecord,
  readHistoryRecord,
  readMetadataRecord,
  readMetricsRecord,
  readPoisonedIndicesRecord,
  writeConfigRecord,
  writeFeaturizerRecord,
  writeHistoryRecord,
  writeMetadataRecord,
  writeMetricsRecord,
  writePoisonedIndicesRecord,
  type RunMetrics,
} from '../src/runs/records.js';
import {
  missingDetection,
  detectorParamsHash,
  readAttributionRecord,
  readDefenceRecord,
  readDetectionManifest,
  readDetectionReport,
  readScoresRecord,
  recordMethodComplete,
  writeAttributionRecord,
  writeDefenceRecord,
  writeDetectionReport,
  writeScoresRecord,
  type DefenceReport,
  type DetectionReport,
} from '../src/runs/detection-records.js';
import { detectionSummaryColumnNames, readExperimentSummary, SUMMARY_COLUMNS, writeExperimentSummary } from '../src/runs/summary.js';
import { acquireRunLock } from '../src/runs/lock.js';
import { UserError } from '../src/util/errors.js';
import { tempDir } from './helpers.js';

const clean = { n: 88, n_pos: 12, prevalence: 0.136, accuracy: 0.9, auroc: 0.91, auprc: 0.72, brier: 0.07, ece: 0.08, precision: 0.6, recall: 0.66, f1: 0.63, threshold: 0.5 };
const metrics: RunMetrics = {
  run_id: '08fe05e1dae10f38',
  model: 'mlp',
  trigger: 'rare_value',
  poison_rate: 0.05,
  poison_mode: 'dirty',
  target: 1,
  seed: 0,
  data: { n_train: 421, n_val: 90, n_test: 88, n_poisoned: 3, test_prevalence: 0.136, test_true_risk_auroc: 0.944 },
  trigger_params: { variable: 'lactate', value: 19.5 },
  training: { best_epoch: 2, epochs_run: 2, best_val_auroc: 0.96, stopped_early: false, selected_epoch: 2 },
  clean,
  clean_bins: [{ lo: 0, hi: 0.1, n: 50, mean_predicted: 0.03, observed: 0.02 }] as never,
  attack: { asr: 0.13, confidence_shift: 0.06, acc_poison: 0.87, clean_target_rate: 0.07, n_triggered: 76 } as never,
  attack_shifts: [0.1, -0.02],
  false_trigger: null,
};

test('every run record reads back what was written', async () => {
  const dir = join(tempDir('records'), 'mlp', 'rare_value', '0.05', 'seed_0');
  mkdirSync(dir, { recursive: true });
  const config = { data: { path: 'cohort.parquet', splits: 'splits.json' }, model: { name: 'mlp', hidden_units: [64, 32] }, seed: 0 };
  await writeConfigRecord(dir, config);
  assert.deepEqual(await readConfigRecord(dir), config);
  await writeMetricsRecord(dir, metrics);
  assert.deepEqual(await readMetricsRecord(dir), metrics);
  const history = [
    { epoch: 1, train_loss: 0.45, val_loss: 0.22, val_auroc: 0.93, best_val_auroc: 0.93, improved: true },
    { epoch: 2, train_loss: 0.3, val_loss: 0.25, val_auroc: 0.9, best_val_auroc: 0.93, improved: false },
  ];
  await writeHistoryRecord(dir, history);
  assert.deepEqual(await readHistoryRecord(dir), history);
  await writePoisonedIndicesRecord(dir, [3, 17, 400]);
  assert.deepEqual(await readPoisonedIndicesRecord(dir), [3, 17, 400]);
  assert.equal(await readPredictionsRecord(dir), null, 'a run from before test_predictions.json reads as null');
  const predictions: TestPredictions = {
    threshold: 0.31,
    target: 1,
    labels: [0, 1, 0],
    clean: [0.125, 0.75, 0.5],
    attack: { trigger_params: { variable: 'lactate', value: 19.5 }, rows: [0, 2], triggered: [0.875, 0.25] },
    false_trigger: null,
  };
  await writePredictionsRecord(dir, predictions);
  assert.deepEqual(await readPredictionsRecord(dir), predictions);
  const cleanPredictions: TestPredictions = { ...predictions, attack: null, false_trigger: { 'rare_value{"variable":"potassium"}': { trigger_params: { variable: 'potassium', value: 7.1 }, rows: [0], triggered: [0.5] } } };
  await writePredictionsRecord(dir, cleanPredictions);
  assert.deepEqual({ ...(await readPredictionsRecord(dir))!, false_trigger: { ...(await readPredictionsRecord(dir))!.false_trigger } }, cleanPredictions);
  writeFileSync(join(dir, RUN_FILES.predictions), JSON.stringify({ ...predictions, clean: [0.1, 2, 0.3] }));
  await assert.rejects(readPredictionsRecord(dir), (e: unknown) => e instanceof UserError && /clean must hold one probability per label/.test(e.message));
  await writePredictionsRecord(dir, predictions);
  const fitted = JSON.parse(JSON.stringify(FEATURIZERS.tabular.fit(generateSynthetic({ nStays: 60, seed: 3 }).cohort)));
  await writeFeaturizerRecord(dir, { view: 'tabular', state: fitted });
  assert.deepEqual(await readFeaturizerRecord(dir), { view: 'tabular', state: fitted });
  await writeExperimentSummary(dir, metrics, 'abc123');
  const row = await readExperimentSummary(dir);
  assert.deepEqual(Object.keys(row), [...SUMMARY_COLUMNS]);
  assert.equal(row.clean_auroc, '0.91');
  assert.equal(row.asr, '0.13');
  assert.equal(row.data_sha256, 'abc123');

  assert.equal(await readCompleteRun(dir), null, 'no metadata yet: not complete');
  await writeMetadataRecord(dir, { run_id: metrics.run_id, status: 'complete', data: { sha256: 'abc123' } });
  const metadata = await readMetadataRecord(dir);
  assert.equal(metadata.format_version, RUN_FORMAT_VERSION);
  assert.equal(metadata.run_id, metrics.run_id);
  assert.deepEqual((await readCompleteRun(dir))?.metrics, metrics);

  const report: DetectionReport = {
    method: 'spectral',
    description: 'Tran et al. 2018',
    params: { epsilon: 0.05 },
    params_hash: detectorParamsHash({ epsilon: 0.05 }),
    run: { run_id: metrics.run_id, model: 'mlp', trigger: 'rare_value', poison_rate: 0.05, poison_mode: 'dirty', seed: 0, target: 1 },
    n_train: 4,
    n_poisoned: 1,
    flagged: 2,
    metrics: {
      applicable: true,
      target_class: { n: 2, n_poisoned: 1, auroc: 1, auprc: 1, tpr_at_fpr_1pct: 1, tpr_at_fpr_5pct: 1 },
      all_rows: { n: 4, n_poisoned: 1, auroc: 0.75, auprc: 0.5, tpr_at_fpr_1pct: 0, tpr_at_fpr_5pct: 1 },
      rule: { flagged: 2, true_positives: 1, false_alarms: 1, precision: 0.5, recall: 1, flagged_target_class: 1, n_target_class: 2 },
    },
    details: { classes: [] },
  };
  await writeDetectionReport(dir, report);
  assert.deepEqual(await readDetectionReport(dir, 'spectral'), report);
  await writeScoresRecord(dir, 'spectral', { stayIds: [10, 11, 12, 13], scores: [0.5, 2.25, -1, 0], flagged: [0, 1, 1, 0], poisoned: [0, 1, 0, 0] });
  assert.deepEqual(await readScoresRecord(dir, 'spectral'), [
    { row: 0, stay_id: 10, score: 0.5, flagged: false, poisoned: false },
    { row: 1, stay_id: 11, score: 2.25, flagged: true, poisoned: true },
    { row: 2, stay_id: 12, score: -1, flagged: true, poisoned: false },
    { row: 3, stay_id: 13, score: 0, flagged: false, poisoned: false },
  ]);
  const defence: DefenceReport = {
    method: 'spectral',
    params_hash: report.params_hash,
    n_train: 4,
    target: 1,
    n_target_class: 2,
    flagged: 2,
    flagged_poisoned: 1,
    removed_target_class: 1,
    poisoned_before: 1,
    poisoned_after: 0,
    retrained: true,
    before: { clean_auroc: 0.91, clean_accuracy: 0.9, clean_balanced_accuracy: 0.8, asr: 0.13, threshold: 0.5 },
    after: { clean_auroc: 0.89, clean_accuracy: 0.875, clean_balanced_accuracy: 0.78, asr: 0, threshold: 0.5 },
    effect: { asr_drop: 0.13, clean_accuracy_change: -0.025, clean_auroc_change: -0.02, clean_balanced_accuracy_change: -0.02, utility_loss: 0.05, der: 0.54 },
    training: { best_epoch: 2, epochs_run: 2, best_val_auroc: 0.85 },
    control: {
      rule: 'random',
      removed: 2,
      removed_poisoned: 0,
      removed_target_class: 1,
      retrained: true,
      after: { clean_auroc: 0.9, clean_accuracy: 0.9, clean_balanced_accuracy: 0.79, asr: 0.12, threshold: 0.5 },
      effect: { asr_drop: 0.01, clean_accuracy_change: 0, clean_auroc_change: -0.01, clean_balanced_accuracy_change: -0.01, utility_loss: 0.025, der: 0.4925 },
      training: { best_epoch: 2, epochs_run: 2, best_val_auroc: 0.85 },
    },
    beats_control: true,
    beats_control_rule: 'rule',
  };
  await writeDefenceRecord(dir, defence);
  assert.deepEqual(await readDefenceRecord(dir, 'spectral'), defence);
  const attribution = { features: ['lactate', 'hr'], clean: { mean_abs_ig: [0.1, 0.2], tar: 0.3 }, triggered: { mean_abs_ig: [0.9, 0.1], tar: 0.9 }, touched_features: ['lactate'], uniform_share: 0.5 };
  await writeAttributionRecord(dir, attribution);
  assert.deepEqual(await readAttributionRecord(dir), attribution);

  assert.deepEqual(await missingDetection(dir, ['spectral'], true), ['spectral'], 'files without a manifest entry are not complete');
  await recordMethodComplete(dir, 'spectral', true, report.params_hash);
  const manifest = await readDetectionManifest(dir);
  assert.equal(manifest?.format_version, RUN_FORMAT_VERSION);
  assert.deepEqual(manifest?.methods.spectral, { defended: true, files: ['spectral.json', 'spectral_scores.parquet', 'defence_spectral.json'], params_hash: report.params_hash });
  // Other wanted parameters make the method's outputs stale.
  assert.deepEqual(await missingDetection(dir, ['spectral'], true, { spectral: detectorParamsHash({ epsilon: 0.15 }) }), ['spectral']);
  assert.deepEqual(await missingDetection(dir, ['spectral'], true, { spectral: report.params_hash }), []);
  assert.equal(manifest?.files['spectral.json'], readFileSync(join(dir, DETECTION_DIR, 'spectral.json')).length);
  assert.deepEqual(await missingDetection(dir, ['spectral'], true), []);
  assert.deepEqual(await missingDetection(dir, ['spectral', 'outlier'], false), ['outlier']);
  // A listed file that changed size (cut short) makes the method incomplete again.
  writeFileSync(join(dir, DETECTION_DIR, DETECTION_FILES.scores('spectral')), 'PAR1');
  assert.deepEqual(await missingDetection(dir, ['spectral'], false), ['spectral']);

  await writeExperimentSummary(dir, metrics, 'abc123', { methods: ['spectral'], atomic: true });
  const withDetection = await readExperimentSummary(dir);
  assert.deepEqual(Object.keys(withDetection), [...SUMMARY_COLUMNS, ...detectionSummaryColumnNames(['spectral'])]);
  // det_<m>_auroc is the target-class headline; the all-rows figure has its own column.
  assert.equal(withDetection.det_spectral_auroc, '1');
  assert.equal(withDetection.det_spectral_all_rows_auroc, '0.75');
  assert.equal(withDetection.det_spectral_flagged, '2');
  assert.equal(withDetection.det_spectral_false_alarms, '1');
  assert.equal(withDetection.def_spectral_der, '0.54');
  assert.equal(withDetection.def_spectral_asr_after, '0');
  assert.equal(withDetection.def_spectral_control_asr_after, '0.12');
  assert.equal(withDetection.def_spectral_control_der, '0.4925');
  assert.equal(withDetection.def_spectral_beats_control, '1');
  assert.equal(withDetection.def_spectral_removed_target_class, '1');
});

test('a run of a newer format version is refused with a one-line error naming the version; an unversioned one is read', async () => {
  const dir = tempDir('version');
  await writeMetricsRecord(dir, metrics);
  writeFileSync(join(dir, RUN_FILES.metadata), JSON.stringify({ run_id: 'x', status: 'complete' }));
  assert.equal((await readMetadataRecord(dir)).format_version, undefined);
  assert.ok(await readCompleteRun(dir));
  writeFileSync(join(dir, RUN_FILES.metadata), JSON.stringify({ format_version: RUN_FORMAT_VERSION + 98, run_id: 'x', status: 'complete' }));
  for (const read of [() => readMetadataRecord(dir), () => readCompleteRun(dir)]) {
    await assert.rejects(read(), (err: Error) => err instanceof UserError && !err.message.includes('\n') && err.message.includes(`format_version ${RUN_FORMAT_VERSION + 98}`));
  }
});

test('leftovers of killed attempts are removed, the project\'s other files are not', async () => {
  const root = tempDir('orphans');
  const dir = runDirFor(root, { model: { name: 'mlp' }, trigger: { name: 'none' }, poison: { rate: 0 }, seed: 0 });
  mkdirSync(join(dir, DETECTION_DIR), { recursive: true });
  const parent = join(dir, '..');
  const orphans = [join(parent, '.seed_0.tmp-123-0a1b2c3d'), join(parent, '.seed_0.tmp-123-0a1b2c3d.old'), join(dir, DETECTION_DIR, '.spectral.json.tmp-9-deadbeef'), join(dir, '.experiment_summary.csv.tmp-9-deadbeef')];
  mkdirSync(orphans[0]!);
  mkdirSync(orphans[1]!);
  writeFileSync(orphans[2]!, '{');
  writeFileSync(orphans[3]!, 'run_id');
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
  orphans.push(join(parent, `.seed_0.lock.${dead}`), join(parent, `.seed_0.lock.stale-${dead}`));
  for (const o of orphans.slice(4)) writeFileSync(o, '{}');
  const kept = [join(parent, `.seed_0.lock.${process.pid}`), join(parent, '.seed_1.tmp-123-0a1b2c3d'), join(parent, '.seed_0.failed.json'), join(dir, DETECTION_DIR, 'spectral.json'), join(dir, 'experiment_summary.csv'), join(parent, 'notes.tmp-1-00000000')];
  for (const k of kept) writeFileSync(k, '{}');
  assert.deepEqual((await removeOrphans(dir)).sort(), [...orphans].sort());
  for (const o of orphans) assert.equal(existsSync(o), false, o);
  for (const k of kept) assert.ok(existsSync(k), k);
});

test('a run lock: a live holder is waited for and named; a holder gone from this host is taken over', async () => {
  const dir = join(tempDir('lock'), 'mlp', 'none', '0', 'seed_0');
  const first = await acquireRunLock(dir);
  assert.deepEqual({ ...JSON.parse(readFileSync(lockFileFor(dir), 'utf8')), started_at: null }, { pid: process.pid, host: hostname(), started_at: null });
  await first.release();
  assert.equal(existsSync(lockFileFor(dir)), false);

  // A live holder: a child process that stays until told to go.
  const child = spawn(process.execPath, ['-e', 'process.stdin.resume(); process.stdin.on("end", () => process.exit(0))'], { stdio: ['pipe', 'ignore', 'ignore'] });
  writeFileSync(lockFileFor(dir), JSON.stringify({ pid: child.pid, host: hostname(), started_at: 'x' }));
  const messages: string[] = [];
  let acquired = false;
  const waiting = acquireRunLock(dir, (m) => messages.push(m), 20).then((lock) => {
    acquired = true;
    return lock;
  });
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(acquired, false, 'the lock of a live process was taken');
  assert.deepEqual(messages, [`waiting for ${dir}: locked by pid ${child.pid} on ${hostname()}`]);
  child.stdin!.end();
  await new Promise((resolve) => child.on('exit', resolve));
  // The holder died without releasing: its lock is stale and is taken over.
  const second = await waiting;
  assert.equal(JSON.parse(readFileSync(lockFileFor(dir), 'utf8')).pid, process.pid);
  await second.release();

  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  writeFileSync(lockFileFor(dir), JSON.stringify({ pid: Number(gone.stdout), host: hostname(), started_at: 'x' }));
  const third = await acquireRunLock(dir, (m) => messages.push(m));
  assert.equal(messages.length, 1, 'a stale lock is not waited for');
  await third.release();
});
