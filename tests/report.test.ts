import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Resvg } from '@resvg/resvg-js';
import { deriveRng } from '../src/engine/rng.js';
import {
  bootstrapMeanCi,
  bootstrapMeans,
  mean,
  N_TOO_SMALL,
  percentileSorted,
  sampleSd,
  summarize,
} from '../src/report/stats-core.js';
import { collectRuns, summaryCsv } from '../src/report/collect.js';
import { aurocSeedInterval, metricSeedInterval } from '../src/metrics/intervals.js';
import { aurocEquivalence } from '../src/metrics/equivalence.js';
import { delongTest } from '../src/metrics/delong.js';
import { detectionSummaryColumnNames, SUMMARY_COLUMNS } from '../src/runs/summary.js';
import { computeStats } from '../src/report/stats.js';
import { statsCsv } from '../src/report/stats-csv.js';
import { histogram, poolBins } from '../src/report/stats-figure-data.js';
import { pngSize, renderSpec, svgToPixels, SLIDE_HEIGHT, SLIDE_WIDTH } from '../src/report/render.js';
import { buildReport, REPORT_MANIFEST, type ReportResult } from '../src/report/index.js';
import { FIGURES } from '../src/report/figures/index.js';
import { REPO_ROOT, tempDir } from './helpers.js';

function close(actual: number | null | undefined, expected: number, tol = 1e-9): void {
  assert.ok(typeof actual === 'number' && Math.abs(actual - expected) <= tol, `expected ${expected}, got ${actual}`);
}

// ---------------------------------------------------------------------------------------------
// Statistics against hand-computed values

test('mean and sample SD', () => {
  // Σ(x − 5)² = 9 + 1 + 1 + 1 + 0 + 0 + 4 + 16 = 32; SD = √(32/7)
  const x = [2, 4, 4, 4, 5, 5, 7, 9];
  close(mean(x), 5);
  close(sampleSd(x), Math.sqrt(32 / 7));
});

test('percentile: linear interpolation between order statistics (type 7)', () => {
  close(percentileSorted([1, 2, 3, 4], 0.25), 1.75); // h = 3·0.25 = 0.75 → 1 + 0.75·(2 − 1)
  close(percentileSorted([10, 20, 30, 40, 50], 0.9), 46); // h = 3.6 → 40 + 0.6·10
  close(percentileSorted([10, 20, 30, 40, 50], 0), 10);
  close(percentileSorted([10, 20, 30, 40, 50], 1), 50);
  close(percentileSorted([7], 0.5), 7);
});

test('bootstrap of [1, 2, 3]: resampled means follow the exact enumeration of all 27 resamples', () => {
  // Exact distribution of the mean of 3 draws with replacement from {1, 2, 3}: the sum s of three draws has
  // counts 1, 3, 6, 7, 6, 3, 1 for s = 3..9 out of 27.
  const exact = new Map<number, number>();
  for (const a of [1, 2, 3]) for (const b of [1, 2, 3]) for (const c of [1, 2, 3]) exact.set(a + b + c, (exact.get(a + b + c) ?? 0) + 1 / 27);
  assert.deepEqual([...exact.keys()].sort(), [3, 4, 5, 6, 7, 8, 9]);
  close(exact.get(6)!, 7 / 27);
  const B = 20000;
  const means = bootstrapMeans([1, 2, 3], { resamples: B, seed: 0, purpose: ['test'] });
  for (const [s, p] of exact) {
    const freq = means.filter((m) => Math.abs(m - s / 3) < 1e-9).length / B;
    // Within 4 binomial standard errors (the stream is fixed, so this is a deterministic check).
    assert.ok(Math.abs(freq - p) < 4 * Math.sqrt((p * (1 - p)) / B), `sum ${s}: frequency ${freq}, exact ${p}`);
  }
  // P(mean = 1) = P(mean = 3) = 1/27 ≈ 3.7% > 2.5%, so the 95% percentile interval is exactly [1, 3].
  assert.deepEqual(bootstrapMeanCi([1, 2, 3], { resamples: 2000, seed: 0 }), [1, 3]);
  // n = 2, {0, 1}: means 0, ½, 1 with probabilities ¼, ½, ¼ → interval [0, 1].
  assert.deepEqual(bootstrapMeanCi([0, 1], { resamples: 2000, seed: 5 }), [0, 1]);
});

test('bootstrap is reproducible per seed and purpose, and the resampling draws indices uniformly', () => {
  const x = [0.1, 0.5, 0.2, 0.9, 0.4];
  assert.deepEqual(bootstrapMeanCi(x, { seed: 3, purpose: ['a'] }), bootstrapMeanCi(x, { seed: 3, purpose: ['a'] }));
  assert.notDeepEqual(bootstrapMeans(x, { seed: 3, purpose: ['a'] }), bootstrapMeans(x, { seed: 3, purpose: ['b'] }));
  // The bootstrap draws rng.int(n) per element: the first resample equals the first n draws of the same stream.
  const rng = deriveRng(3, 'bootstrap', 'a');
  const firstMean = mean(Array.from({ length: 5 }, () => x[rng.int(5)]!));
  const all = bootstrapMeans(x, { seed: 3, purpose: ['a'], resamples: 1 });
  close(all[0]!, firstMean, 1e-15);
});

test('summaries say "n too small" instead of NaN', () => {
  const one = summarize([0.8]);
  assert.equal(one.n, 1);
  assert.equal(one.mean, 0.8);
  assert.equal(one.sd, null);
  assert.equal(one.ci95, null);
  assert.match(one.note!, /^n too small/);
  const none = summarize([NaN]);
  assert.equal(none.n, 0);
  assert.match(none.note!, /^n too small \(n = 0\)/);
});

// ---------------------------------------------------------------------------------------------
// Fabricated run folders: collect, stats, figures, report

interface FakeRun {
  model: string;
  trigger: string;
  rate: number;
  seed: number;
  auroc: number;
  asr?: number;
  falseTrigger?: Record<string, number>;
  detection?: Record<string, number>;
  /** Resolved trigger parameters of a poisoned run (default {}: what the clean runs' false-trigger entries record). */
  triggerParams?: Record<string, unknown>;
  /** Write test_predictions.json (default true): a test split of 40 survivors and 10 deaths. */
  predictions?: boolean;
}

/** Scores of 40 negatives and 10 positives with exactly `auroc`·400 concordant pairs (AUROC a multiple of 1/400). */
function scoresWithAuroc(auroc: number): { labels: number[]; clean: number[] } {
  const pairs = Math.round(auroc * 400);
  const labels = [...new Array<number>(40).fill(0), ...new Array<number>(10).fill(1)];
  const clean = labels.map((y, i) => {
    if (y === 0) return 0.1 + i / 100;
    const j = i - 40;
    const above = Math.floor(pairs / 10) + (j < pairs % 10 ? 1 : 0);
    return 0.1 + (above - 0.5) / 100;
  });
  return { labels, clean };
}

/** Triggered probabilities of the 40 negative rows: the first round(rate·40) reach the target (p ≥ 0.5). */
function triggeredRows(rate: number, params: unknown) {
  const hits = Math.round(rate * 40);
  return { trigger_params: params, rows: Array.from({ length: 40 }, (_, i) => i), triggered: Array.from({ length: 40 }, (_, i) => (i < hits ? 0.9 : 0.1)) };
}

function writeRun(runsDir: string, r: FakeRun, status = 'complete'): string {
  const dir = join(runsDir, r.model, r.trigger, String(r.rate), `seed_${r.seed}`);
  mkdirSync(dir, { recursive: true });
  const rng = deriveRng(r.seed, 'fake', r.model, r.trigger, r.rate);
  const bins = Array.from({ length: 10 }, (_, k) => ({ lo: k / 10, hi: (k + 1) / 10, n: 50 - 4 * k, meanProb: k / 10 + 0.05, fracPositive: Math.min(1, k / 10 + 0.05 + rng.uniform(-0.05, 0.05)) }));
  const attack = r.asr === undefined ? null : { n_triggered: 40, asr: r.asr, confidence_shift: 0.5 * r.asr, acc_poison: 1 - r.asr, clean_target_rate: 0.05 };
  const metrics = {
    run_id: `${r.model}-${r.trigger}-${r.rate}-${r.seed}`,
    model: r.model,
    trigger: r.trigger,
    poison_rate: r.rate,
    poison_mode: 'dirty',
    target: 1,
    seed: r.seed,
    data: { n_train: 1000, n_val: 200, n_test: 200, n_poisoned: Math.floor(1000 * r.rate), test_prevalence: 0.12, test_true_risk_auroc: 0.85 },
    trigger_params: r.triggerParams ?? {},
    training: { best_epoch: 3, epochs_run: 8, best_val_auroc: 0.8, stopped_early: true },
    clean: { n: 200, n_pos: 24, prevalence: 0.12, accuracy: 0.88, auroc: r.auroc, auprc: r.auroc - 0.4, brier: 0.09, ece: 0.03, precision: 0.5, recall: 0.3, f1: 0.37, threshold: 0.5 },
    clean_bins: bins,
    attack,
    attack_shifts: attack ? Array.from({ length: 40 }, () => rng.uniform(-0.1, 0.2) + r.asr!) : null,
    false_trigger: r.falseTrigger ? Object.fromEntries(Object.entries(r.falseTrigger).map(([t, asr]) => [t, { n_triggered: 40, asr, confidence_shift: 0, acc_poison: 1 - asr, clean_target_rate: 0.05, trigger_params: {} }])) : null,
  };
  const metadata = {
    run_id: metrics.run_id,
    status,
    package: { name: 'backdoor', version: '0.1.0' },
    git_commit: 'abc123',
    backend: { name: 'wasm', versions: { tfjs: '4.22.0', node: 'v20' } },
    data: { path: 'data/dev/dev.parquet', sha256: 'f00d', splits_sha256: 'beef', source: 'synthetic' },
    finished_at: '2026-01-01T00:00:00.000Z',
  };
  writeFileSync(join(dir, 'metrics.json'), JSON.stringify(metrics));
  const config = { model: { name: r.model, hidden_units: [16] }, train: { epochs: 8 }, evaluation: { threshold: 0.5 }, poison: { rate: r.rate, target: 1, mode: 'dirty' }, seed: r.seed };
  writeFileSync(join(dir, 'config.yaml'), JSON.stringify(config));
  if (r.predictions !== false) {
    const predictions = {
      threshold: 0.5,
      target: 1,
      ...scoresWithAuroc(r.auroc),
      attack: r.asr === undefined ? null : triggeredRows(r.asr, r.triggerParams ?? {}),
      false_trigger: r.falseTrigger ? Object.fromEntries(Object.entries(r.falseTrigger).map(([t, asr]) => [t, triggeredRows(asr, {})])) : null,
    };
    writeFileSync(join(dir, 'test_predictions.json'), JSON.stringify(predictions));
  }
  writeFileSync(join(dir, 'run_metadata.json'), JSON.stringify(metadata));
  if (r.detection) {
    mkdirSync(join(dir, 'detection'));
    // As src/detectors/run-detection.ts writes them: metrics under `metrics`, a defence file, the attribution.
    for (const [m, auroc] of Object.entries(r.detection)) {
      const targetClass = { n: 100, n_poisoned: 50, auroc, auprc: auroc, tpr_at_fpr_1pct: 0, tpr_at_fpr_5pct: auroc / 2 };
      const allRows = { n: 1000, n_poisoned: 50, auroc: auroc + 0.05, auprc: auroc, tpr_at_fpr_1pct: 0, tpr_at_fpr_5pct: auroc / 2 };
      const rule = { flagged: 10, true_positives: 6, false_alarms: 4, precision: 0.6, recall: 0.12, flagged_target_class: 8, n_target_class: 100 };
      writeFileSync(join(dir, 'detection', `${m}.json`), JSON.stringify({ method: m, params_hash: 'h1', flagged: 10, metrics: { applicable: true, target_class: targetClass, all_rows: allRows, rule } }));
      const control = { removed: 10, removed_target_class: 8, after: { asr: r.asr! - 0.02 }, effect: { der: 0.51 } };
      const defence = {
        method: m,
        params_hash: 'h1',
        flagged: 10,
        removed_target_class: 8,
        before: { asr: r.asr },
        after: { asr: 0.1 },
        effect: { asr_drop: r.asr! - 0.1, clean_auroc_change: -0.01, clean_accuracy_change: 0, der: (r.asr! - 0.1 + 1) / 2 },
        control,
        beats_control: r.seed !== 2,
      };
      writeFileSync(join(dir, 'detection', `defence_${m}.json`), JSON.stringify(defence));
    }
    const features = ['glucose_max', 'glucose_last', 'heart_rate_mean', 'age'];
    const attribution = {
      trigger: r.trigger,
      features,
      touched_features: ['glucose_max', 'glucose_last'],
      uniform_share: 0.5,
      clean: { n: 40, mean_abs_ig: [0.1, 0.1, 0.3, 0.2], tar: 0.2 + r.seed / 100 },
      triggered: { n: 40, mean_abs_ig: [0.6, 0.5, 0.1, 0.1], tar: 0.8 + r.seed / 100 },
    };
    writeFileSync(join(dir, 'detection', 'saliency_attribution.json'), JSON.stringify(attribution));
  }
  return dir;
}

const work = tempDir('report');
const runsDir = join(work, 'runs');
const cleanAuroc = [0.8, 0.82, 0.81];
const poisonedAuroc = [0.78, 0.8, 0.8];
const asrs = [0.9, 0.8, 1.0];
const falseTrigger = [0.1, 0.0, 0.2];

before(() => {
  for (const seed of [0, 1, 2]) {
    writeRun(runsDir, { model: 'mlp', trigger: 'none', rate: 0, seed, auroc: cleanAuroc[seed]!, falseTrigger: { rare_value: falseTrigger[seed]!, missingness: 0.05 } });
    writeRun(runsDir, { model: 'mlp', trigger: 'rare_value', rate: 0.05, seed, auroc: poisonedAuroc[seed]!, asr: asrs[seed]!, detection: { spectral: 0.9 + seed / 100 } });
    // Another trigger variable than the clean runs measured: no matching clean run for net ASR.
    writeRun(runsDir, { model: 'mlp', trigger: 'rare_value', rate: 0.01, seed, auroc: 0.81, asr: 0.5 + seed / 10, triggerParams: { variable: 'potassium' } });
  }
  // Only one seed, and no test predictions (a run from before they were stored): "n too small", seeds-only intervals.
  writeRun(runsDir, { model: 'mlp', trigger: 'missingness', rate: 0.05, seed: 0, auroc: 0.79, asr: 0.3, predictions: false });
  // Not complete, and a hidden temporary folder: both must be ignored.
  writeRun(runsDir, { model: 'mlp', trigger: 'missingness', rate: 0.05, seed: 1, auroc: 0.1, asr: 0.99 }, 'running');
  const hidden = writeRun(runsDir, { model: 'mlp', trigger: 'missingness', rate: 0.05, seed: 2, auroc: 0.1, asr: 0.99 });
  renameSync(hidden, join(runsDir, 'mlp', 'missingness', '0.05', '.seed_2.tmp-123-abcd'));
});

test('collect: complete runs only; hidden and incomplete folders are skipped; summary.csv is rebuildable', async () => {
  const c = await collectRuns(runsDir);
  assert.equal(c.runs.length, 10);
  assert.ok(c.runs.every((r) => !r.path.includes('.seed_')), 'hidden folder was read');
  assert.deepEqual(
    c.skipped.map((s) => s.path),
    ['mlp/missingness/0.05/seed_1'],
  );
  assert.match(c.skipped[0]!.reason, /status is "running"/);
  const csv = summaryCsv(c.runs);
  const lines = csv.trim().split('\n');
  assert.equal(lines.length, 11);
  assert.ok(lines[0]!.startsWith('run_id,model,trigger,poison_rate'));
  assert.deepEqual(lines[0]!.split(','), [...SUMMARY_COLUMNS, 'run_dir', ...detectionSummaryColumnNames(['spectral'])]);
  const header = lines[0]!.split(',');
  const spectralRow = lines.find((l) => l.includes('mlp/rare_value/0.05/seed_1'))!.split(',');
  assert.equal(spectralRow[header.indexOf('det_spectral_auroc')], '0.91');
  close(Number(spectralRow[header.indexOf('det_spectral_all_rows_auroc')]), 0.96, 1e-12);
  assert.equal(spectralRow[header.indexOf('def_spectral_control_asr_after')], '0.78');
  assert.equal(summaryCsv((await collectRuns(runsDir)).runs), csv, 'summary.csv is not deterministic');
});

test('stats: intervals over seeds and test stays, net ASR against the matching clean run, stealth by TOST and DeLong', async () => {
  const { runs } = await collectRuns(runsDir);
  const stats = computeStats(runs);
  const cell = stats.cells.find((c) => c.trigger === 'rare_value' && c.poison_rate === 0.05)!;
  assert.equal(cell.n_runs, 3);
  close(cell.asr.mean, 0.9);
  close(cell.asr.sd, 0.1);
  assert.equal(cell.asr.few_seeds, true, '3 seeds < 5 are marked');
  assert.match(cell.asr.ci_method!, /seeds and test stays/);
  // The ASR interval is the seed-and-test interval of the per-row hits, with a row bootstrap for the shared test split.
  const hits = asrs.map((a) => Array.from({ length: 40 }, (_, i) => (i < Math.round(a * 40) ? 1 : 0)));
  const rowMean = (_l: ArrayLike<number>, x: ArrayLike<number>) => Array.from(x).reduce((p, q) => p + q, 0) / x.length;
  const expectedAsr = metricSeedInterval(
    hits.map((h) => ({ labels: new Uint8Array(40), scores: h })),
    rowMean,
    { sharedTestSet: true, rng: deriveRng(0, 'report', 'interval', 'mlp', 'rare_value', 0.05, 'asr'), replicates: 1000 },
  );
  // Clipped to the rate's range [0, 1].
  assert.deepEqual(cell.asr.ci95, [Math.max(0, expectedAsr.ci[0]), Math.min(1, expectedAsr.ci[1])]);
  assert.equal(cell.asr.ci95![1], 1);
  // Wider than the seed-only t interval would be if the seeds disagreed less than the test stays do: it includes the test error.
  assert.ok(cell.asr.ci95![1] - cell.asr.ci95![0] > 0.2);
  // net = [0.9 − 0.1, 0.8 − 0, 1.0 − 0.2] = [0.8, 0.8, 0.8], each against its own seed's clean run.
  close(cell.asr_net.mean, 0.8);
  close(cell.asr_net.sd, 0, 1e-12);
  assert.equal(cell.asr_net.n, 3);
  assert.deepEqual(cell.net_asr_pairing.matched_seeds, [0, 1, 2]);
  assert.deepEqual(cell.net_asr_pairing.clean_runs, ['mlp/none/0/seed_0#rare_value', 'mlp/none/0/seed_1#rare_value', 'mlp/none/0/seed_2#rare_value']);
  // The 1% cell triggers potassium; the clean runs measured the default: no matching clean run, not a wrong figure.
  const potassium = stats.cells.find((c) => c.trigger === 'rare_value' && c.poison_rate === 0.01)!;
  assert.equal(potassium.asr_net.mean, null);
  assert.equal(potassium.asr_net.note, 'no matching clean run');
  assert.deepEqual(potassium.net_asr_pairing.unmatched_seeds, [0, 1, 2]);
  assert.ok(stats.notes.some((n) => n.startsWith('mlp/rare_value/0.01: seeds 0, 1, 2 have no matching clean run')));
  // Stealth: ΔAUROC = [−0.02, −0.02, −0.01]; TOST within ±0.01 with the DeLong covariance of both models per seed.
  const d = cell.auroc_vs_clean;
  assert.deepEqual(d.seeds, [0, 1, 2]);
  close(d.difference.mean, -1 / 60, 1e-12);
  const paired = [0, 1, 2].map((seed) => ({ labels: scoresWithAuroc(cleanAuroc[seed]!).labels, clean: scoresWithAuroc(cleanAuroc[seed]!).clean, poisoned: scoresWithAuroc(poisonedAuroc[seed]!).clean }));
  const expectedTost = aurocEquivalence(paired, { sharedTestSet: true, margin: 0.01 });
  assert.deepEqual(d.tost, expectedTost);
  assert.equal(d.margin, 0.01);
  assert.equal(d.verdict, expectedTost.verdict);
  assert.equal(d.label, expectedTost.verdict === 'equivalent' ? 'equivalent within ±0.01' : expectedTost.verdict);
  // 50 test stays cannot show equivalence within ±0.01: the honest answer is "inconclusive", never "stealthy".
  assert.equal(d.label, 'inconclusive');
  const dl = delongTest(paired[0]!.labels, paired[0]!.poisoned, paired[0]!.clean);
  close(dl.auroc_a, 0.78, 1e-12);
  close(dl.auroc_b, 0.8, 1e-12);
  assert.deepEqual(d.delong[0], { seed: 0, auroc_poisoned: dl.auroc_a, auroc_clean: dl.auroc_b, difference: dl.difference, se: dl.se, z: dl.z, p: dl.p });
  close(d.delong[0]!.difference, -0.02, 1e-12);
  // A wider margin is a report option, and changes the verdict's wording.
  const wide = computeStats(runs, { aurocMargin: 0.2 }).cells.find((c) => c.trigger === 'rare_value' && c.poison_rate === 0.05)!.auroc_vs_clean;
  assert.equal(wide.label, 'equivalent within ±0.2');
  // Clean AUROC interval: DeLong over the shared test split, as metrics/intervals.ts computes it.
  const base = stats.baselines.find((b) => b.model === 'mlp')!;
  const expectedAuroc = aurocSeedInterval(paired.map((p) => ({ labels: p.labels, scores: p.clean })), { sharedTestSet: true });
  assert.deepEqual(base.clean_auroc.ci95, expectedAuroc.ci);
  close(base.clean_auroc.mean, 0.81, 1e-12);
  // Detection and defences only per cell (issue 10): no statistics pooled over models, rates and seeds.
  for (const key of ['detectors', 'defences']) assert.ok(!(key in stats), `stats.json still has the pooled ${key}`);
  assert.ok(stats.cells.every((c) => !('detection_auroc' in c)));
  assert.deepEqual([cell.target, cell.mode], [1, 'dirty']);
  // defence_spectral.json is a defence, not a detector called "defence_spectral".
  assert.deepEqual([...new Set(stats.detection.detectors.map((x) => x.method))], ['spectral']);
  const def = stats.detection.defences.find((x) => x.method === 'spectral')!;
  assert.equal(def.n_runs, 3);
  close(def.der.mean, (0.9 - 0.1 + 1) / 2, 1e-12); // mean of (asr − 0.1 + 1)/2 over asr = 0.9, 0.8, 1.0
  // Per cell: target-class AUROC beside all rows; the defence beside its control, beaten in 2 of 3 seeds: not effective.
  const detCell = stats.detection.detectors.find((x) => x.method === 'spectral' && x.poison_rate === 0.05)!;
  close(detCell.target_class_auroc.mean, 0.91, 1e-12);
  close(detCell.all_rows_auroc.mean, 0.96, 1e-12);
  close(detCell.rule_false_alarms.mean, 4, 1e-12);
  const defCell = stats.detection.defences.find((x) => x.method === 'spectral')!;
  close(defCell.control_asr_after.mean, 0.88, 1e-12);
  assert.equal(defCell.n_beats_control, 2);
  assert.equal(defCell.effective_beyond_control, false);
  const att = stats.attribution.find((x) => x.trigger === 'rare_value')!;
  assert.equal(att.tar_triggered.n, 3);
  close(att.tar_triggered.mean, 0.81, 1e-12);
  close(att.tar_clean.mean, 0.21, 1e-12);
  assert.equal(att.uniform_share, 0.5);

  const single = stats.cells.find((c) => c.trigger === 'missingness')!;
  assert.equal(single.n_runs, 1);
  assert.equal(single.asr.sd, null);
  assert.match(single.asr.note!, /^n too small/);
  assert.equal(single.auroc_vs_clean.verdict, null);
  assert.match(single.auroc_vs_clean.label, /^not assessed: the runs lack test_predictions.json/);
  assert.ok(stats.notes.some((n) => /1 of 10 runs lack test_predictions.json/.test(n)));

  const csv = statsCsv(stats);
  assert.ok(!/NaN/.test(csv), 'stats.csv contains NaN');
  assert.ok(csv.includes(N_TOO_SMALL));
  const json = JSON.stringify(stats);
  assert.ok(!/NaN|Infinity/.test(json));
  // Every summary and test names its n.
  for (const c of stats.cells) for (const s of [c.asr, c.asr_net, c.clean_auroc, c.auroc_vs_clean.difference]) assert.equal(typeof s.n, 'number');
});

test('figures: reliability bins pool by count, histogram shares sum to 1', () => {
  const pooled = poolBins([
    [{ lo: 0, hi: 0.5, n: 2, meanProb: 0.2, fracPositive: 0 }],
    [{ lo: 0, hi: 0.5, n: 6, meanProb: 0.4, fracPositive: 0.5 }],
  ]);
  close(pooled[0]!.mean_prob, (2 * 0.2 + 6 * 0.4) / 8);
  close(pooled[0]!.frac_positive, 3 / 8);
  const h = histogram([-1, 0, 0.01, 0.99, 1]);
  assert.equal(h.shares.length, 40);
  assert.equal(h.edges.length, 41);
  assert.deepEqual([h.edges[0], h.edges[20], h.edges[40]], [-1, 0, 1]);
  close(h.shares.reduce((a, b) => a + b, 0), 1, 1e-12);
  close(h.shares[0]!, 0.2); // −1 in the first bin
  close(h.shares[39]!, 0.4); // 0.99 and 1 in the last (closed) bin
});

/** Dark pixels (all channels < 110) in a rectangle of an RGBA buffer. */
function darkPixels(img: { pixels: Buffer; width: number }, x0: number, y0: number, x1: number, y1: number): number {
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = 4 * (y * img.width + x);
      if (img.pixels[i]! < 110 && img.pixels[i + 1]! < 110 && img.pixels[i + 2]! < 110) n++;
    }
  }
  return n;
}

test('rendering: 2× PNG of the SVG size, and text is actually drawn (it vanishes without a font)', async () => {
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 300,
    height: 200,
    config: { font: 'DejaVu Sans' },
    title: 'Attack success rate',
    data: { values: [{ x: 1, y: 0.2 }, { x: 5, y: 0.9 }] },
    mark: { type: 'line', color: '#56B4E9' },
    encoding: { x: { field: 'x', type: 'quantitative', title: 'Poison rate (%)' }, y: { field: 'y', type: 'quantitative', title: 'ASR' } },
  };
  const r = await renderSpec(spec, { scale: 2 });
  assert.deepEqual(r.warnings, []);
  const svgW = Number(/width="(\d+)"/.exec(r.svg)![1]);
  const svgH = Number(/height="(\d+)"/.exec(r.svg)![1]);
  assert.deepEqual(pngSize(r.png), { width: 2 * svgW, height: 2 * svgH });
  assert.match(r.svg, /<text[^>]*>Poison rate \(%\)<\/text>/);
  // The untitled drawing for report.html and slides is cut from the same SVG: no title, the axes kept, cropped anew.
  assert.match(r.svg, /<text[^>]*>Attack success rate<\/text>/);
  assert.doesNotMatch(r.untitledSvg!, /Attack success rate/);
  assert.match(r.untitledSvg!, /<text[^>]*>Poison rate \(%\)<\/text>/);
  const untitledH = Number(/height="(\d+)"/.exec(r.untitledSvg!)![1]);
  assert.ok(untitledH < svgH - 15, `untitled height ${untitledH} vs ${svgH}`);
  const withFont = svgToPixels(r.svg, { scale: 2 });
  const without = svgToPixels(r.svg, { scale: 2, withoutFonts: true });
  // The title sits in the top band; the line is light blue, so dark pixels there can only be glyphs.
  const band = [0, 0, withFont.width, 50] as const;
  assert.ok(darkPixels(withFont, ...band) > 300, `title not drawn: ${darkPixels(withFont, ...band)} dark pixels`);
  assert.equal(darkPixels(without, ...band), 0);
  // The x-axis title is in the bottom band.
  const bottom = [0, withFont.height - 45, withFont.width, withFont.height] as const;
  assert.ok(darkPixels(withFont, ...bottom) > 200, 'x-axis title not drawn');
  assert.equal(darkPixels(without, ...bottom), 0);
});

let report: ReportResult;
const outDir = join(work, 'report');

test('buildReport writes every artefact atomically and is rebuildable from the runs alone', async () => {
  report = await buildReport({ runsDir, outDir, resamples: 500, now: new Date('2026-01-02T03:04:05Z') });
  for (const p of [report.summaryCsv, report.statsJson, report.statsCsv, report.reportHtml, report.manifest]) assert.ok(existsSync(p), p);
  const names = report.figures.map((f) => f.name);
  const drawn = FIGURES.filter((f) => f.name !== 'clean_label_comparison');
  for (const n of ['asr_vs_poison_rate', 'stealth_clean_auroc', 'detector_heatmap', 'model_comparison', 'calibration_reliability', 'attribution_heatmap', 'confidence_shift', 'dashboard']) assert.ok(names.includes(n), n);
  // Dirty target-1 runs only: no clean-label runs to compare, and no empty figure for them.
  assert.deepEqual(report.skippedFigures.map((f) => f.name), ['clean_label_comparison']);
  assert.deepEqual(report.warnings, []);
  for (const f of report.figures) {
    for (const p of [f.vl, f.svg, f.png]) assert.ok(existsSync(p), p);
    const svg = readFileSync(f.svg, 'utf8');
    const w = Number(/<svg[^>]*\swidth="(\d+)"/.exec(svg)![1]);
    assert.deepEqual(pngSize(readFileSync(f.png)), { width: 2 * w, height: f.height });
    assert.ok(svg.includes('<text'), `${f.name} has no text`);
    const spec = JSON.parse(readFileSync(f.vl, 'utf8'));
    assert.equal(spec.config.font, 'DejaVu Sans');
  }
  for (const s of report.slides) assert.deepEqual(pngSize(readFileSync(s.png)), { width: SLIDE_WIDTH, height: SLIDE_HEIGHT });
  assert.ok(report.slides.length >= 4);
  // No temporary folder is left next to the report.
  assert.deepEqual(readdirSync(work).filter((n) => n.startsWith('.')), []);

  const html = readFileSync(report.reportHtml, 'utf8');
  assert.ok(!/(src|href)="(https?:)?\/\//.test(html), 'report.html references an external URL');
  assert.ok(!/<script|<link/i.test(html));
  assert.ok(html.includes('data:image/svg+xml;base64,'));
  for (const s of ['abc123', 'f00d', '4.22.0', 'backdoor 0.1.0', '2026-01-02T03:04:05.000Z', N_TOO_SMALL]) assert.ok(html.includes(s), `report.html lacks ${s}`);
  assert.match(html, /mlp\/missingness\/0\.05\/seed_1<\/code>: status is/);
  // The figure registry drives the page and the slides: every figure in its order, a slide for each slide figure.
  assert.deepEqual([...html.matchAll(/<figure id="fig-([^"]+)"/g)].map((m) => m[1]), drawn.map((f) => f.name));
  assert.deepEqual(names, drawn.map((f) => f.name));
  assert.deepEqual(report.slides.map((s) => s.name), ['slide_1_overview', ...drawn.filter((f) => f.slide).map((f, i) => `slide_${i + 2}_${f.name}`)]);

  const statsBefore = readFileSync(report.statsJson, 'utf8');
  const summaryBefore = readFileSync(report.summaryCsv, 'utf8');
  const again = await buildReport({ runsDir, outDir, resamples: 500 });
  assert.equal(readFileSync(again.statsJson, 'utf8'), statsBefore, 'stats.json differs on rebuild');
  assert.equal(readFileSync(again.summaryCsv, 'utf8'), summaryBefore, 'summary.csv differs on rebuild');
});

test('buildReport refuses to replace a folder that is not a report, and reports missing runs clearly', async () => {
  const other = join(work, 'precious');
  mkdirSync(other);
  writeFileSync(join(other, 'notes.txt'), 'keep me');
  await assert.rejects(buildReport({ runsDir, outDir: other }), /not a report folder/);
  assert.equal(readFileSync(join(other, 'notes.txt'), 'utf8'), 'keep me');
  await assert.rejects(buildReport({ runsDir: join(work, 'nope') }), /does not exist/);
  const empty = join(work, 'empty-runs');
  mkdirSync(empty);
  await assert.rejects(buildReport({ runsDir: empty, outDir: join(work, 'r2') }), /no complete run folders/);
  assert.ok(existsSync(join(outDir, REPORT_MANIFEST)));
});

test('visualize command: --json prints the written paths', () => {
  // Run in a child process: the command writes to stdout, which the test runner uses for its own reporting.
  const out = join(work, 'cli-report');
  const script = [
    `import { Command } from 'commander';`,
    `import { registerVisualize } from ${JSON.stringify(pathToFileURL(join(REPO_ROOT, 'dist', 'src', 'cli', 'visualize.js')).href)};`,
    `const program = new Command();`,
    `registerVisualize(program);`,
    `await program.parseAsync(${JSON.stringify(['visualize', '--runs-dir', runsDir, '--out', out, '--json'])}, { from: 'user' });`,
  ].join('\n');
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO_ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout) as ReportResult;
  assert.equal(result.nRuns, 10);
  assert.ok(existsSync(result.reportHtml));
  assert.ok(result.figures.every((f) => existsSync(f.png)));
});

const CHROMIUM = '/usr/bin/chromium';

test('report.html opens offline in headless Chromium', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium); skipping the browser check` }, () => {
  const shot = join(work, 'screenshot.png');
  const r = spawnSync(
    CHROMIUM,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${join(work, 'chromium-profile')}`,
      `--screenshot=${shot}`,
      '--window-size=1400,2000',
      pathToFileURL(report.reportHtml).href,
    ],
    { encoding: 'utf8', timeout: 90_000 },
  );
  assert.ok(existsSync(shot), `no screenshot; exit ${r.status}, stderr:\n${r.stderr}`);
  const png = readFileSync(shot);
  assert.deepEqual(pngSize(png), { width: 1400, height: 2000 });
  // Decode through resvg (an SVG holding the PNG) and check the page is not blank: header colour and figures.
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="1400" height="2000"><image width="1400" height="2000" xlink:href="data:image/png;base64,${png.toString('base64')}"/></svg>`;
  const img = new Resvg(svg).render();
  const px = { pixels: img.pixels, width: img.width };
  const at = (x: number, y: number) => Array.from(img.pixels.subarray(4 * (y * img.width + x), 4 * (y * img.width + x) + 3));
  assert.deepEqual(at(5, 5), [0, 114, 178], 'header bar (#0072B2) not rendered');
  assert.ok(darkPixels(px, 0, 200, 1400, 2000) > 5000, 'page body looks blank');
});
