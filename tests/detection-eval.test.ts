/**
 * Issue 10, sections 1–2: detection scored within the target class beside the reference detectors label and random,
 * every defence beside a random-removal control, stale defences, and the report's reading of old and new records.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';

import { setupData } from '../src/data/setup.js';
import { resolveRunConfig } from '../src/experiments/config.js';
import { executeRun, type RunResult } from '../src/experiments/run.js';
import { runDetection } from '../src/experiments/detection.js';
import { randomRemovalMask } from '../src/experiments/defence.js';
import { beatsControl, CONTROL_ASR_MARGIN } from '../src/metrics/defence.js';
import type { TargetClassDetection } from '../src/metrics/detection.js';
import { readDetectionManifest, readScoresRecord } from '../src/runs/detection-records.js';
import { detectionSummaryColumns } from '../src/runs/summary.js';
import { collectRuns, parseDetection } from '../src/report/collect.js';
import { computeStats } from '../src/report/stats.js';
import { bestDetectorCell, type DetectionSection } from '../src/report/stats-detection.js';
import { detectorHeatmap } from '../src/report/figures/detector-heatmap.js';
import { tempDir } from './helpers.js';

describe('random-removal control and the beats-control rule', () => {
  test('the control removes as many rows per label as the flags, drawn at random, reproducibly per seed and method', () => {
    const labels = Uint8Array.from({ length: 200 }, (_, i) => (i % 4 === 0 ? 1 : 0)); // 50 ones, 150 zeros
    const flagged = new Uint8Array(200);
    for (const i of [0, 4, 8, 12, 16, 1, 2, 3]) flagged[i] = 1; // 5 of label 1, 3 of label 0
    const mask = randomRemovalMask(flagged, labels, 0, 'spectral');
    const perLabel = (m: Uint8Array, y: number) => m.reduce((k, v, i) => k + (v === 1 && labels[i] === y ? 1 : 0), 0);
    assert.equal(perLabel(mask, 1), 5);
    assert.equal(perLabel(mask, 0), 3);
    assert.deepEqual(randomRemovalMask(flagged, labels, 0, 'spectral'), mask);
    assert.notDeepEqual(randomRemovalMask(flagged, labels, 0, 'outlier'), mask);
    assert.notDeepEqual(randomRemovalMask(flagged, labels, 1, 'spectral'), mask);
    // Not the flagged rows themselves: of the 8 drawn from 200, the chance of hitting all 8 flags is nil.
    assert.ok([...mask.keys()].some((i) => mask[i] === 1 && flagged[i] === 0));
  });

  test(`a defence beats its control only with an ASR at least ${CONTROL_ASR_MARGIN} lower and a higher DER`, () => {
    assert.equal(beatsControl({ asr_after: 0.2, der: 0.87 }, { asr_after: 0.996, der: 0.478 }), true);
    // Outlier on the dev cohort: removing 54% of the target class at random already drops ASR to 0.106.
    assert.equal(beatsControl({ asr_after: 0.004, der: 0.987 }, { asr_after: 0.106, der: 0.924 }), true);
    assert.equal(beatsControl({ asr_after: 0.07, der: 0.95 }, { asr_after: 0.1, der: 0.9 }), false, 'within the margin');
    assert.equal(beatsControl({ asr_after: 0.0, der: 0.5 }, { asr_after: 0.5, der: 0.6 }), false, 'the defence cost more utility than it removed');
    assert.equal(beatsControl({ asr_after: null, der: null }, { asr_after: null, der: null }), null);
  });
});

describe('detection and defence on a tiny real run', () => {
  const work = tempDir('detect-eval');
  const dataDir = join(work, 'data');
  const data = { path: join(dataDir, 'dev', 'dev.parquet'), splits: join(dataDir, 'splits', 'splits.json') };
  const small = { model: { hidden_units: [16, 8] }, train: { epochs: 2 }, evaluation: { clean_run_triggers: ['rare_value'] } };
  let poisoned: RunResult;

  before(async () => {
    await setupData({ dataDir, nStays: 1200, devSize: 600, hours: 24, seed: 7 });
    poisoned = await executeRun(resolveRunConfig({ overrides: { data, ...small, trigger: { name: 'rare_value' }, poison: { rate: 0.05 } } }), { runsDir: join(work, 'runs') });
  });

  test('label and random run beside the chosen detector; within the target class both sit at 0.5, over all rows label does not', async () => {
    const result = await runDetection(poisoned.dir, { methods: ['spectral'], defend: true });
    assert.deepEqual(result.results.map((r) => r.method), ['spectral', 'label', 'random']);
    const m = (name: string) => result.results.find((r) => r.method === name)!.metrics as TargetClassDetection;
    assert.equal(m('label').target_class.auroc, 0.5);
    assert.equal(m('label').target_class.tpr_at_fpr_5pct, 0);
    assert.ok(Math.abs(m('random').target_class.auroc - 0.5) < 0.15, `random within the target class: ${m('random').target_class.auroc}`);
    // Dirty-label poison carries the target label: over all rows the label alone ranks it well.
    assert.ok(m('label').all_rows.auroc > 0.85, `label over all rows: ${m('label').all_rows.auroc}`);
    // The target class is every row labelled 1 (the default target) after poisoning, poisoned rows included.
    const rows = await readScoresRecord(poisoned.dir, 'spectral');
    const tc = m('spectral').target_class;
    assert.equal(tc.n_poisoned, poisoned.metrics.data.n_poisoned);
    assert.ok(tc.n < rows.length / 2 && tc.n > tc.n_poisoned);
    const rec = JSON.parse(readFileSync(join(poisoned.dir, 'detection', 'spectral.json'), 'utf8'));
    assert.deepEqual(Object.keys(rec.metrics), ['applicable', 'target_class', 'all_rows', 'rule']);
    assert.equal(rec.metrics.rule.false_alarms, rec.flagged - rec.metrics.rule.true_positives);
    assert.equal(rec.metrics.rule.precision, rec.metrics.rule.true_positives / rec.flagged);
  });

  test('the spectral defence states its target-class removals and sits beside a control of the same count and class mix', async () => {
    const d = JSON.parse(readFileSync(join(poisoned.dir, 'detection', 'defence_spectral.json'), 'utf8'));
    const rows = await readScoresRecord(poisoned.dir, 'spectral');
    const flagged = rows.filter((r) => r.flagged);
    assert.equal(d.flagged, flagged.length);
    assert.equal(d.control.removed, d.flagged);
    assert.equal(d.control.removed_target_class, d.removed_target_class);
    assert.ok(d.removed_target_class > 0 && d.removed_target_class <= d.n_target_class);
    // The budget 1.5·ε·n per class with ε = 0.05 of the training set: ⌊0.075·n_train⌋ rows of the target class at most.
    assert.ok(d.removed_target_class <= Math.ceil(0.075 * rows.length));
    assert.equal(d.control.retrained, true);
    for (const arm of [d.after, d.control.after]) assert.ok(arm.clean_auroc > 0.5 && arm.clean_balanced_accuracy > 0 && arm.asr >= 0);
    assert.equal(typeof d.beats_control, 'boolean');
    assert.equal(d.beats_control, beatsControl({ asr_after: d.after.asr, der: d.effect.der }, { asr_after: d.control.after.asr, der: d.control.effect.der }));
    const cols = await detectionSummaryColumns(poisoned.dir, ['spectral', 'label', 'random']);
    assert.equal(cols.def_spectral_control_asr_after, d.control.after.asr);
    assert.equal(cols.def_spectral_beats_control, Number(d.beats_control));
    assert.equal(cols.det_label_auroc, 0.5);
  });

  test('rerunning spectral with epsilon 0.15 and no defence leaves no defence of the old parameters; with --defend it is recomputed', async () => {
    const path = join(poisoned.dir, 'detection', 'defence_spectral.json');
    const { params_hash: oldHash, flagged: oldFlagged } = JSON.parse(readFileSync(path, 'utf8'));
    await runDetection(poisoned.dir, { methods: ['spectral'], params: { spectral: { epsilon: 0.15 } } });
    const report = JSON.parse(readFileSync(join(poisoned.dir, 'detection', 'spectral.json'), 'utf8'));
    assert.equal(report.params.epsilon, 0.15);
    assert.notEqual(report.params_hash, oldHash);
    assert.equal(existsSync(path), false, 'the old defence_spectral.json stayed beside the new flags');
    const manifest = await readDetectionManifest(poisoned.dir);
    assert.deepEqual(manifest!.methods.spectral, { defended: false, files: ['spectral.json', 'spectral_scores.parquet'], params_hash: report.params_hash });
    assert.equal(manifest!.files['defence_spectral.json'], undefined);
    // A stale defence written by an older build (other hash) is left out of the report and the summary.
    writeFileSync(path, JSON.stringify({ method: 'spectral', params_hash: oldHash, flagged: 3, before: { asr: 1 }, after: { asr: 0 }, effect: { der: 1 } }));
    const { runs } = await collectRuns(join(work, 'runs'));
    assert.deepEqual(runs[0]!.defences, []);
    assert.equal((await detectionSummaryColumns(poisoned.dir, ['spectral'])).def_spectral_der, null);
    await runDetection(poisoned.dir, { methods: ['spectral'], params: { spectral: { epsilon: 0.15 } }, defend: true });
    const redone = JSON.parse(readFileSync(path, 'utf8'));
    assert.equal(redone.params_hash, report.params_hash);
    // ε = 0.15 flags 1.5·0.15·n per class, capped at the class: more than twice the rows of ε = 0.05.
    assert.ok(redone.flagged > 2 * oldFlagged, `${redone.flagged} vs ${oldFlagged}`);
    assert.equal(redone.control.removed, redone.flagged);
  });

  test('the report: target-class heatmap with label and random, the best detector never a reference one, defences beside controls', async () => {
    const { runs } = await collectRuns(join(work, 'runs'));
    const stats = computeStats(runs, { resamples: 200 });
    const methods = stats.detection.detectors.map((d) => `${d.method}:${d.reference}`);
    assert.deepEqual(methods, ['spectral:false', 'label:true', 'random:true']);
    const label = stats.detection.detectors.find((d) => d.method === 'label')!;
    assert.equal(label.target_class_auroc.mean, 0.5);
    assert.equal(label.target_class_auroc.n, 1);
    const built = detectorHeatmap.build(stats);
    assert.ok('spec' in built);
    const values = (built.spec.data as { values: { method: string; mean: number; n: number }[] }).values;
    assert.deepEqual(values.map((v) => v.method), ['spectral', 'label (reference)', 'random (reference)']);
    assert.ok(values.every((v) => v.n === 1));
    const def = stats.detection.defences.find((d) => d.method === 'spectral')!;
    assert.equal(def.n_with_control, 1);
    assert.equal(def.control_asr_after.n, 1);
    const kpi = stats.figure_data.kpis.find((k) => k.label.startsWith('Best detector'))!;
    assert.match(kpi.detail, /^target-class AUROC: spectral on mlp, rare_value at 5%, target 1, n=1$/);
  });
});

describe('records written before issue 10', () => {
  test('an all-rows-only detection record reads as no target-class figures, never a crash', () => {
    const legacy = { method: 'spectral', flagged: 20, metrics: { applicable: true, n: 100, n_poisoned: 5, auroc: 0.79, auprc: 0.3, tpr_at_fpr_1pct: 0, tpr_at_fpr_5pct: 0.2, flagged: 20, precision: 0.2, recall: 0.8 } };
    const d = parseDetection('spectral', legacy);
    assert.equal(d.target_class, null);
    assert.equal(d.auroc, null);
    assert.equal(d.all_rows!.auroc, 0.79);
    assert.deepEqual(d.rule, { flagged: 20, false_alarms: 16, precision: 0.2, recall: 0.8 });
    assert.equal(parseDetection('x', null).applicable, false);
    assert.equal(parseDetection('x', { metrics: 'garbage' }).target_class, null);
  });

  test('the best-detector KPI takes the highest target-class AUROC among the non-reference detectors', () => {
    const summary = (mean: number | null) => ({ n: mean === null ? 0 : 3, mean, sd: null, ci95: null });
    const cell = (method: string, reference: boolean, auroc: number | null) =>
      ({ model: 'mlp', trigger: 'rare_value', poison_rate: 0.05, method, reference, target_class_auroc: summary(auroc) }) as unknown as DetectionSection['detectors'][number];
    const section = { detectors: [cell('spectral', false, 0.61), cell('random', true, 0.64), cell('outlier', false, 0.58), cell('saliency', false, null)] } as DetectionSection;
    assert.equal(bestDetectorCell(section)!.method, 'spectral');
    assert.equal(bestDetectorCell({ ...section, detectors: [cell('label', true, 0.5)] }), null);
  });
});
