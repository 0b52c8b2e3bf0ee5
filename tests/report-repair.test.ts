import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { collectRuns } from '../src/report/collect.js';
import { provenance, renderHtml } from '../src/report/html.js';
import { computeStats } from '../src/report/stats.js';
import { statsCsv } from '../src/report/stats-csv.js';
import { tempDir } from './helpers.js';

// Detection records as src/experiments/detection.ts writes them for the issue-13 methods: fine_pruning and abl
// with `details.repair` (experiments/repair.ts), strip with `details.test_detection`, spectral with a retrain
// defence; each record with its `seconds`.

const side = (asr: number, clean_auroc: number) => ({ asr, clean_auroc, clean_accuracy: 0.8, clean_balanced_accuracy: 0.7, threshold: 0.5 });

interface Fixture {
  rate: number;
  seed: number;
  before: [number, number];
  pruning: [number, number];
  fineTuning: [number, number];
  noOp: [number, number];
  unlearning: [number, number];
  unlearnControl: [number, number];
  precision: number;
  strip: { auroc: number; tpr1: number; tpr5: number };
  seconds: { fine_pruning: number; abl: number; spectral: number; retrain: number };
}

function writeRun(runsDir: string, f: Fixture): void {
  const dir = join(runsDir, 'mlp', 'rare_value', String(f.rate), `seed_${f.seed}`);
  mkdirSync(join(dir, 'detection'), { recursive: true });
  const metrics = {
    run_id: `mlp-rare_value-${f.rate}-${f.seed}`,
    model: 'mlp',
    trigger: 'rare_value',
    poison_rate: f.rate,
    poison_mode: 'dirty',
    target: 1,
    seed: f.seed,
    data: { n_train: 1000, n_val: 200, n_test: 200, n_poisoned: 50, test_prevalence: 0.12, test_true_risk_auroc: 0.85 },
    trigger_params: {},
    training: { best_epoch: 3, epochs_run: 8, best_val_auroc: 0.8, stopped_early: true },
    clean: { n: 200, n_pos: 24, prevalence: 0.12, accuracy: 0.88, auroc: f.before[1], auprc: 0.4, brier: 0.09, ece: 0.03, precision: 0.5, recall: 0.3, f1: 0.37, threshold: 0.5 },
    clean_bins: [],
    attack: { n_triggered: 40, asr: f.before[0], confidence_shift: 0.4, acc_poison: 0.1, clean_target_rate: 0.05 },
    attack_shifts: null,
    false_trigger: null,
  };
  const metadata = { run_id: metrics.run_id, status: 'complete', package: { name: 'backdoor', version: '0.1.0' }, git_commit: 'abc', backend: { name: 'wasm', versions: {} }, data: { path: 'd', sha256: 'f00d', splits_sha256: 'beef', source: 'synthetic' }, finished_at: '2026-01-01T00:00:00.000Z' };
  writeFileSync(join(dir, 'metrics.json'), JSON.stringify(metrics));
  writeFileSync(join(dir, 'run_metadata.json'), JSON.stringify(metadata));
  writeFileSync(join(dir, 'config.yaml'), JSON.stringify({ model: { name: 'mlp' }, poison: { rate: f.rate, target: 1, mode: 'dirty' }, seed: f.seed }));
  const targetClass = { n: 100, n_poisoned: 50, auroc: 0.6, auprc: 0.6, tpr_at_fpr_1pct: 0, tpr_at_fpr_5pct: 0.1 };
  const record = (method: string, seconds: number, details: unknown) => ({
    method,
    params_hash: 'h1',
    flagged: 10,
    metrics: { applicable: true, target_class: targetClass, all_rows: targetClass, rule: { flagged: 10, false_alarms: 4, precision: 0.6, recall: 0.12 } },
    details,
    seconds,
  });
  const write = (name: string, value: unknown) => writeFileSync(join(dir, 'detection', `${name}.json`), JSON.stringify(value));
  const before = side(...f.before);
  write('fine_pruning', record('fine_pruning', f.seconds.fine_pruning, { units: 16, pruned_units: [1, 2], repair: { pruned_units: 2, units: 16, before, after_pruning: side(...f.pruning), after_fine_tuning: side(...f.fineTuning), control_fine_tuned: side(...f.noOp), fine_tune_epochs: 5, seconds: 1 } }));
  write('abl', record('abl', f.seconds.abl, { repair: { isolated: 10, isolated_poisoned: 10 * f.precision, isolation_precision: f.precision, before, after_unlearning: side(...f.unlearning), control_unlearning: side(...f.unlearnControl), unlearning_epochs: 5, seconds: 1 } }));
  write('strip', record('strip', 3, { test_detection: { n_clean: 40, n_triggered: 40, auroc: f.strip.auroc, tpr_at_fpr_1pct: f.strip.tpr1, tpr_at_fpr_5pct: f.strip.tpr5, threshold_bits: 0.2, frr_validation: 0.05, tpr_at_threshold: 0.5, frr_test_at_threshold: 0.06 } }));
  write('spectral', record('spectral', f.seconds.spectral, {}));
  const arm = { asr: 0.5, clean_auroc: 0.79, clean_balanced_accuracy: 0.7 };
  write('defence_spectral', { method: 'spectral', params_hash: 'h1', flagged: 10, removed_target_class: 8, n_target_class: 100, before, after: arm, effect: { der: 0.6 }, control: { removed: 10, removed_target_class: 8, after: arm, effect: { der: 0.6 } }, beats_control: false, seconds: f.seconds.retrain });
}

const work = tempDir('report-repair');
const runsDir = join(work, 'runs');
const strip0 = { auroc: 0.95, tpr1: 0.4, tpr5: 0.7 };
writeRun(runsDir, { rate: 0.05, seed: 0, before: [0.9, 0.8], pruning: [0.5, 0.78], fineTuning: [0.3, 0.79], noOp: [0.85, 0.8], unlearning: [0.88, 0.7], unlearnControl: [0.87, 0.79], precision: 0.1, strip: strip0, seconds: { fine_pruning: 14, abl: 5, spectral: 2, retrain: 30 } });
writeRun(runsDir, { rate: 0.05, seed: 1, before: [0.7, 0.82], pruning: [0.6, 0.8], fineTuning: [0.5, 0.81], noOp: [0.6, 0.82], unlearning: [0.7, 0.75], unlearnControl: [0.69, 0.8], precision: 0.3, strip: { auroc: 0.85, tpr1: 0.2, tpr5: 0.5 }, seconds: { fine_pruning: 16, abl: 7, spectral: 4, retrain: 40 } });
// Another cell (10%) with far-off numbers: nothing of it may leak into the 5% cell's means.
writeRun(runsDir, { rate: 0.1, seed: 0, before: [1, 0.9], pruning: [0, 0.6], fineTuning: [0, 0.6], noOp: [1, 0.9], unlearning: [0, 0.9], unlearnControl: [1, 0.9], precision: 1, strip: { auroc: 0.1, tpr1: 0, tpr5: 0 }, seconds: { fine_pruning: 100, abl: 100, spectral: 100, retrain: 100 } });

const close = (actual: number | null | undefined, expected: number) => assert.ok(typeof actual === 'number' && Math.abs(actual - expected) < 1e-9, `expected ${expected}, got ${actual}`);

async function fixture() {
  const collection = await collectRuns(runsDir);
  return { collection, stats: computeStats(collection.runs, { resamples: 200 }) };
}

test('collect reads the repair, the test-time detection and the seconds of each record', async () => {
  const { collection } = await fixture();
  const run = collection.runs.find((r) => r.metrics.poison_rate === 0.05 && r.metrics.seed === 0)!;
  const fp = run.detection.find((d) => d.method === 'fine_pruning')!;
  assert.equal(fp.seconds, 14);
  assert.deepEqual(fp.repair!.stages.map((s) => s.stage), ['after_pruning', 'after_fine_tuning']);
  assert.equal(fp.repair!.control!.name, 'control_fine_tuned');
  assert.equal(fp.repair!.stages[1]!.side.asr, 0.3);
  assert.equal(run.detection.find((d) => d.method === 'strip')!.test_detection!.auroc, 0.95);
  assert.equal(run.detection.find((d) => d.method === 'spectral')!.repair, null);
  assert.equal(run.defences.find((d) => d.method === 'spectral')!.seconds, 30);
});

test('stats: repair stages per cell beside their controls, with the verdict; failing defences fail', async () => {
  const { stats } = await fixture();
  const repairs = stats.detection!.repairs.filter((r) => r.poison_rate === 0.05);
  assert.deepEqual(repairs.map((r) => `${r.method}/${r.stage}`), ['abl/after_unlearning', 'fine_pruning/after_pruning', 'fine_pruning/after_fine_tuning']);
  const ft = repairs.find((r) => r.stage === 'after_fine_tuning')!;
  assert.equal(ft.n_runs, 2);
  assert.deepEqual(ft.seeds, [0, 1]);
  close(ft.asr_before.mean, 0.8);
  close(ft.asr_after.mean, 0.4);
  close(ft.control_asr_after.mean, 0.725);
  close(ft.clean_auroc_before.mean, 0.81);
  close(ft.clean_auroc_after.mean, 0.8);
  close(ft.control_clean_auroc_after.mean, 0.81);
  close(ft.seconds.mean, 15);
  // DER seed 0: ΔU = 0.01/0.3, (0.6 − ΔU + 1)/2; seed 1: ΔU = 0.01/0.32, (0.2 − ΔU + 1)/2.
  close(ft.der.mean, ((1.6 - 0.01 / 0.3) / 2 + (1.2 - 0.01 / 0.32) / 2) / 2);
  assert.equal(ft.control, 'control_fine_tuned');
  assert.equal(ft.n_beats_control, 2);
  assert.equal(ft.effective_beyond_control, true);
  // After pruning alone, seed 1 (0.6 vs control 0.6) is not 0.05 below its control.
  const pr = repairs.find((r) => r.stage === 'after_pruning')!;
  close(pr.asr_after.mean, 0.55);
  assert.equal(pr.n_beats_control, 1);
  assert.equal(pr.effective_beyond_control, false);
  const abl = repairs.find((r) => r.method === 'abl')!;
  close(abl.asr_after.mean, 0.79);
  close(abl.control_asr_after.mean, 0.78);
  close(abl.isolation_precision.mean, 0.2);
  close(abl.seconds.mean, 6);
  assert.equal(abl.n_beats_control, 0);
  assert.equal(abl.effective_beyond_control, false);
  const strip = stats.detection!.test_detection.find((t) => t.poison_rate === 0.05)!;
  assert.equal(strip.method, 'strip');
  close(strip.auroc.mean, 0.9);
  close(strip.tpr_at_fpr_1pct.mean, 0.3);
  close(strip.tpr_at_fpr_5pct.mean, 0.6);
  // Retrain defence: the detector's seconds plus the retraining's (2 + 30, 4 + 40).
  const spectral = stats.detection!.defences.find((d) => d.method === 'spectral' && d.poison_rate === 0.05)!;
  close(spectral.seconds.mean, 38);
  close(spectral.clean_auroc_before.mean, 0.81);
  close(stats.detection!.detectors.find((d) => d.method === 'abl' && d.poison_rate === 0.05)!.seconds.mean, 6);
  // The 10% cell stands alone.
  const other = stats.detection!.repairs.find((r) => r.poison_rate === 0.1 && r.stage === 'after_fine_tuning')!;
  assert.equal(other.n_runs, 1);
  close(other.asr_after.mean, 0);
});

test('stats.csv and report.html carry the repair rows, STRIP\'s table and the runtime', async () => {
  const { collection, stats } = await fixture();
  const csv = statsCsv(stats).split('\n');
  const row = (prefix: string) => csv.find((l) => l.startsWith(prefix));
  assert.match(row('repair_cell,mlp,rare_value,0.05,1,dirty,fine_pruning,after_fine_tuning.asr_after,2,0.4')!, /^repair_cell/);
  assert.match(row('repair_cell,mlp,rare_value,0.05,1,dirty,fine_pruning,after_fine_tuning.control_asr_after,2,0.725')!, /^repair_cell/);
  assert.match(row('repair_cell,mlp,rare_value,0.05,1,dirty,abl,after_unlearning.beats_control,2,0,')!, /not effective beyond control/);
  assert.ok(row('test_detection_cell,mlp,rare_value,0.05,1,dirty,strip,tpr_at_fpr_1pct,2,0.3'));
  assert.ok(row('defence_cell,mlp,rare_value,0.05,1,dirty,spectral,seconds,2,38'));
  const html = renderHtml(
    { collection, stats, figures: [], skippedFigures: [], slides: [], provenance: provenance(collection, { name: 'backdoor', version: '0' }, new Date(0)), files: [] },
    new Map(),
  );
  assert.match(html, /Model-repair defences beside their controls/);
  assert.match(html, /<td>fine_pruning<\/td><td>after fine-tuning<\/td><td>no-op control \(fine-tuned, not pruned\)<\/td><td>0\.800 /);
  assert.match(html, /<td>abl<\/td><td>after unlearning<\/td><td>control \(unlearning random rows\)<\/td>/);
  assert.match(html, /0 of 2 \(fails\)/);
  assert.match(html, /2 of 2 \(effective\)/);
  assert.match(html, /Failing \(not beyond control\): abl after unlearning \(mlp, rare_value at 5%, target 1\); fine_pruning after pruning/);
  assert.match(html, /Input-time detection \(STRIP\)/);
  assert.match(html, /<td>strip<\/td><td>0\.900 /);
  assert.match(html, /<th>runtime \(s\)<\/th>/);
  assert.match(html, /38\.0/);
});
