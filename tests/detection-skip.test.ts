/**
 * Issue 13's gaps: a method that does not apply to the run's model is skipped, with its reason recorded, when the
 * methods were not named one by one (the default or `all`), and refused in one line when named; and the defence
 * columns say what they show for methods that repair the model or retrain nothing.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';

import { setupData } from '../src/data/setup.js';
import { detectorNames } from '../src/detectors/registry.js';
import { resolveRunConfig } from '../src/experiments/config.js';
import { runDetection } from '../src/experiments/detection.js';
import { executeRun, type RunResult } from '../src/experiments/run.js';
import { detectionStep, type SweepSpec } from '../src/experiments/sweep.js';
import { defenceEffectivenessRate } from '../src/metrics/defence.js';
import { applyGridChoices } from '../src/pipeline/grid.js';
import { defenceViewOf } from '../src/runs/defence-view.js';
import { missingDetection, readDetectionManifest, readDetectionReport } from '../src/runs/detection-records.js';
import { readExperimentSummary } from '../src/runs/summary.js';
import { collectRuns } from '../src/report/collect.js';
import { detectionHtml } from '../src/report/html-detection.js';
import { computeStats } from '../src/report/stats.js';
import { UserError } from '../src/util/errors.js';
import { tempDir } from './helpers.js';

describe('defence columns of methods that do not retrain', () => {
  const side = (asr: number, auroc: number) => ({ asr, clean_auroc: auroc, clean_accuracy: 0.9, clean_balanced_accuracy: 0.6 });

  test("fine_pruning's columns are its repair after fine-tuning beside its no-op control, with the DER of each", () => {
    const report = { params_hash: 'a', details: { repair: { before: side(1, 0.82), after_pruning: side(1, 0.8), after_fine_tuning: side(0.1, 0.8), control_fine_tuned: side(0.9, 0.81) } } };
    const v = defenceViewOf('fine_pruning', report, null);
    assert.equal(v.kind, 'repair: pruned then fine-tuned (control: fine-tuned unpruned)');
    assert.equal(v.after?.asr, 0.1);
    assert.equal(v.control_after?.asr, 0.9);
    assert.equal(v.der, defenceEffectivenessRate(1, 0.1, 0.82, 0.8));
    assert.equal(v.control_der, defenceEffectivenessRate(1, 0.9, 0.82, 0.81));
    assert.equal(v.beats_control, true);
    // A retrain of its (zero) flagged rows recorded beside it does not replace the repair.
    assert.equal(defenceViewOf('fine_pruning', report, { params_hash: 'a', retrained: false, flagged: 0 }).kind, v.kind);
  });

  test('abl shows its unlearning; a method that flagged nothing says so instead of copying the run as "after"', () => {
    const abl = defenceViewOf('abl', { details: { repair: { before: side(1, 0.8), after_unlearning: side(1, 0.5), control_unlearning: side(1, 0.8) } } }, null);
    assert.equal(abl.kind, 'repair: unlearning the isolated rows (control: unlearning random rows)');
    assert.equal(abl.after?.clean_auroc, 0.5);
    assert.equal(abl.beats_control, false);
    const none = defenceViewOf('trigger_inversion', { params_hash: 'h' }, { params_hash: 'h', retrained: false, flagged: 0, before: side(1, 0.8), after: side(1, 0.8) });
    assert.equal(none.kind, 'no retrain: the detector flagged no training rows');
    assert.equal(none.before?.asr, 1);
    assert.equal(none.after, null);
    assert.equal(none.der, null);
    assert.equal(defenceViewOf('strip', { params_hash: 'h' }, null).kind, 'no retrain: run without --defend');
    assert.match(defenceViewOf('spectral', { params_hash: 'h' }, { params_hash: 'other', retrained: true }).kind, /^no retrain: the defence record is of other detector parameters/);
    assert.equal(defenceViewOf('spectral', { params_hash: 'h' }, { params_hash: 'h', retrained: true, after: side(0, 0.8), effect: { der: 0.99 } }).kind, 'retrain');
    assert.equal(defenceViewOf('spectral', null, null).kind, 'not run');
    assert.equal(defenceViewOf('fine_pruning', { skipped: 'no units' }, null).kind, 'skipped: no units');
  });
});

describe('`all` on a model a method does not apply to', () => {
  test('--detectors all marks the grid so its runs skip what does not apply; a named list does not', () => {
    const spec: SweepSpec = { models: ['tabtransformer'], triggers: ['rare_value'], poison_rates: [0.05], seeds: [0], targets: [1], modes: ['dirty'], also: [], baseline: false, detectors: [], defend: false, overrides: {}, per_model: {}, extra_detectors: {} };
    const all = applyGridChoices(spec, { detectors: ['all'] }, {});
    assert.deepEqual(all.detectors, detectorNames());
    assert.equal(all.all_detectors, true);
    const config = resolveRunConfig({ overrides: { model: { name: 'tabtransformer' } } });
    assert.equal(detectionStep(all, config)?.implicit, true);
    const named = applyGridChoices(all, { detectors: ['fine_pruning'] }, {});
    assert.equal(named.all_detectors, undefined);
    assert.equal(detectionStep(named, config)?.implicit, undefined);
  });

  const work = tempDir('detect-skip');
  const dataDir = join(work, 'data');
  const data = { path: join(dataDir, 'dev', 'dev.parquet'), splits: join(dataDir, 'splits', 'splits.json') };
  let run: RunResult;

  before(async () => {
    await setupData({ dataDir, nStays: 1200, devSize: 600, hours: 24, seed: 7 });
    run = await executeRun(resolveRunConfig({ overrides: { data, model: { name: 'tabtransformer' }, train: { epochs: 1 }, trigger: { name: 'rare_value' }, poison: { rate: 0.05 }, evaluation: { clean_run_triggers: ['rare_value'] } } }), { runsDir: join(work, 'runs') });
  });

  test('named explicitly, fine_pruning is refused in one line before any method runs', async () => {
    await assert.rejects(
      runDetection(run.dir, { methods: ['spectral', 'fine_pruning'] }),
      (err: unknown) => err instanceof UserError && err.message === 'fine_pruning: tabtransformer defines no prunable units (its penultimate representation is not a layer of units); valid models: mlp, lstm, tcn',
    );
    assert.equal(existsSync(join(run.dir, 'detection', 'spectral.json')), false);
  });

  test('in an `all` choice, fine_pruning is skipped with its reason, recorded, and counts as done', async () => {
    const lines: string[] = [];
    const result = await runDetection(run.dir, { methods: ['spectral', 'fine_pruning'], implicit: true, log: (l) => lines.push(l) });
    const reason = 'tabtransformer defines no prunable units (its penultimate representation is not a layer of units); valid models: mlp, lstm, tcn';
    assert.ok(lines.includes(`fine_pruning: skipped: ${reason}`), lines.join('\n'));
    assert.deepEqual(
      result.results.map((r) => [r.method, r.skipped ?? null]),
      [['spectral', null], ['fine_pruning', reason], ['label', null], ['random', null]],
    );
    const record = await readDetectionReport(run.dir, 'fine_pruning');
    assert.equal(record?.skipped, reason);
    assert.deepEqual(record?.metrics, { applicable: false, reason: `skipped: ${reason}` });
    assert.equal(existsSync(join(run.dir, 'detection', 'fine_pruning_scores.parquet')), false);
    assert.equal((await readDetectionManifest(run.dir))?.methods.fine_pruning?.skipped, reason);
    // Done, even for a sweep that asks for defences: there is nothing to defend with.
    assert.deepEqual(await missingDetection(run.dir, ['spectral', 'fine_pruning'], true), ['spectral']);
    assert.deepEqual(await missingDetection(run.dir, ['spectral', 'fine_pruning'], false), []);
    const summary = await readExperimentSummary(run.dir);
    assert.equal(summary.def_fine_pruning_kind, `skipped: ${reason}`);
    assert.equal(summary.def_spectral_kind, 'no retrain: run without --defend');
    assert.equal(summary.def_strip_kind, 'not run');
    // The report shows the skip where the method's figures would be.
    const { runs } = await collectRuns(join(work, 'runs'));
    const stats = computeStats(runs, { resamples: 50 });
    const cell = stats.detection!.detectors.find((d) => d.method === 'fine_pruning')!;
    assert.equal(cell.skipped, reason);
    assert.equal(stats.detection!.detectors.find((d) => d.method === 'spectral')!.skipped, null);
    const html = detectionHtml(stats, { esc: (x) => String(x), table: (head, rows) => rows.map((r) => r.join('|')).join('\n'), summaryCell: () => 'x' }).join('\n');
    assert.ok(html.includes(`tabtransformer|rare_value|1|dirty|5%|fine_pruning|skipped: ${reason}`), html);
  });

  test('with --defend, a method that flagged no rows is shown as "no retrain" in the summary and the report', async () => {
    await runDetection(run.dir, { methods: ['spectral'], defend: true });
    const summary = await readExperimentSummary(run.dir);
    // label flags nothing: no retraining, so no "after" figures copied from the run itself.
    assert.equal(summary.def_label_kind, 'no retrain: the detector flagged no training rows');
    assert.equal(summary.def_label_asr_after, '');
    assert.notEqual(summary.def_label_asr_before, '');
    assert.equal(summary.def_spectral_kind, 'retrain');
    assert.match(summary.def_spectral_asr_after!, /^\d/);
    const { runs } = await collectRuns(join(work, 'runs'));
    const stats = computeStats(runs, { resamples: 50 });
    assert.equal(stats.detection!.defences.find((d) => d.method === 'label')!.n_retrained, 0);
    assert.equal(stats.detection!.defences.find((d) => d.method === 'spectral')!.n_retrained, 1);
    const html = detectionHtml(stats, { esc: (x) => String(x), table: (head, rows) => rows.map((r) => r.join('|')).join('\n'), summaryCell: () => 'x' }).join('\n');
    assert.ok(html.includes('|label|no retrain|0 (x)|x|no retrain: the detector flagged no training rows|x|'), html);
  });
});
