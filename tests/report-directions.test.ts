/**
 * Issue 11, "Target 0": the report keeps attack directions and poisoning modes apart. Real tiny runs (MLP, 2 epochs,
 * dev cohort of 600 stays) with target 1 and 0, dirty, naive clean-label and label_consistent, in one runs folder:
 * their cells stay apart in stats.json, stats.csv and report.html, and the figures split by direction and mark modes.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';

import { setupData } from '../src/data/setup.js';
import { resolveRunConfig } from '../src/experiments/config.js';
import { executeRun, type RunResult } from '../src/experiments/run.js';
import { runDetection } from '../src/experiments/detection.js';
import { collectRuns, type RunRecord } from '../src/report/collect.js';
import { computeStats } from '../src/report/stats.js';
import type { ReportStats } from '../src/report/stats-types.js';
import { statsCsv } from '../src/report/stats-csv.js';
import { TARGET_TITLES } from '../src/report/cell.js';
import { buildFigures, FIGURES } from '../src/report/figures/index.js';
import { asrPanel } from '../src/report/figures/asr-vs-poison-rate.js';
import { stealthPanel } from '../src/report/figures/stealth-clean-auroc.js';
import { detectionPanel } from '../src/report/figures/detector-heatmap.js';
import { compileSpec, type VlSpec } from '../src/report/render.js';
import { buildReport } from '../src/report/index.js';
import { tempDir } from './helpers.js';

function close(actual: number | null | undefined, expected: number, what: string): void {
  assert.ok(typeof actual === 'number' && Math.abs(actual - expected) <= 1e-12, `${what}: expected ${expected}, got ${actual}`);
}

/** Every number anywhere in a JSON value. */
function numbersIn(value: unknown, into = new Set<number>()): Set<number> {
  if (typeof value === 'number') into.add(value);
  else if (Array.isArray(value)) for (const v of value) numbersIn(v, into);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) numbersIn(v, into);
  return into;
}

/** The inline data rows of a spec and of every part nested in it. */
function dataRows(spec: unknown, into: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (Array.isArray(spec)) for (const s of spec) dataRows(s, into);
  else if (spec && typeof spec === 'object') {
    const obj = spec as VlSpec;
    if (obj.data && Array.isArray(obj.data.values)) into.push(...(obj.data.values as Record<string, unknown>[]));
    for (const [k, v] of Object.entries(obj)) if (k !== 'data') dataRows(v, into);
  }
  return into;
}

describe('a report of both attack directions and three poisoning modes', () => {
  const work = tempDir('report-directions');
  const dataDir = join(work, 'data');
  const runsDir = join(work, 'runs');
  const data = { path: join(dataDir, 'dev', 'dev.parquet'), splits: join(dataDir, 'splits', 'splits.json') };
  const small = { model: { hidden_units: [16, 8] }, train: { epochs: 20 }, evaluation: { clean_run_triggers: ['rare_value'] } };
  const trigger = { name: 'rare_value' };
  const runs: Record<string, RunResult> = {};
  let records: RunRecord[];
  let stats: ReportStats;

  before(async () => {
    await setupData({ dataDir, nStays: 1200, devSize: 600, hours: 24, seed: 7 });
    // Each direction and mode in a runs folder of its own (their run folders share a name until the folder names
    // carry target and mode); the report reads them all from the parent folder, by metrics.json alone.
    const run = (name: string, overrides: Record<string, unknown>) => executeRun(resolveRunConfig({ overrides: { data, ...small, ...overrides } }), { runsDir: join(runsDir, name) });
    runs.clean = await run('baseline', { trigger: { name: 'none' }, poison: { rate: 0 } });
    runs.target1 = await run('target1', { trigger, poison: { rate: 0.1 } });
    runs.target0 = await run('target0', { trigger, poison: { rate: 0.1, target: 0 } });
    runs.naive = await run('clean-label', { trigger, poison: { rate: 0.1, mode: 'clean' } });
    runs.hardened = await run('label-consistent', { trigger, poison: { rate: 0.1, mode: 'label_consistent' } });
    for (const r of [runs.target1!, runs.target0!]) await runDetection(r.dir, { methods: ['spectral'] });
    records = (await collectRuns(runsDir)).runs;
    stats = computeStats(records, { resamples: 200 });
  });

  test('the runs are what they claim: direction and mode in metrics.json, the target-0 poison relabels deaths', () => {
    assert.equal(records.length, 5);
    assert.deepEqual([runs.target0!.metrics.target, runs.target0!.metrics.poison_mode], [0, 'dirty']);
    assert.deepEqual([runs.naive!.metrics.target, runs.naive!.metrics.poison_mode], [1, 'clean']);
    assert.deepEqual([runs.hardened!.metrics.target, runs.hardened!.metrics.poison_mode], [1, 'label_consistent']);
    // The same model, trigger, rate and seed four times: only direction and mode tell the runs apart.
    const poisoned = [runs.target1!, runs.target0!, runs.naive!, runs.hardened!].map((r) => r.metrics);
    assert.equal(new Set(poisoned.map((m) => `${m.model}/${m.trigger}/${m.poison_rate}/${m.seed}`)).size, 1);
    assert.ok(poisoned.every((m) => m.data.n_poisoned > 0));
  });

  test('stats.json: one cell per direction and mode, each holding its own run and nothing pooled', () => {
    const key = (c: { target: number; mode: string }) => `${c.target}/${c.mode}`;
    assert.deepEqual(stats.cells.map(key), ['1/dirty', '1/clean', '1/label_consistent', '0/dirty']);
    const expected: Record<string, RunResult> = { '1/dirty': runs.target1!, '1/clean': runs.naive!, '1/label_consistent': runs.hardened!, '0/dirty': runs.target0! };
    for (const c of stats.cells) {
      const run = expected[key(c)]!;
      assert.equal(c.n_runs, 1, key(c));
      // The cell's means are its run's figures (recomputed from test_predictions.json: equal up to rounding).
      close(c.asr.mean, run.metrics.attack!.asr, key(c));
      close(c.clean_auroc.mean, run.metrics.clean.auroc, key(c));
      close(c.confidence_shift.mean, run.metrics.attack!.confidence_shift, key(c));
    }
    // Target 0 is scored on triggered deaths: another test set than target 1's triggered survivors.
    assert.notEqual(runs.target0!.metrics.attack!.n_triggered, runs.target1!.metrics.attack!.n_triggered);
    const target0 = stats.cells.find((c) => c.target === 0)!;
    assert.equal(target0.asr.n, 1);
    // Never netted against the clean run's false-trigger rate of the other direction (the target-1 key "rare_value").
    assert.ok(!target0.net_asr_pairing.clean_runs.some((k) => k.endsWith('#rare_value')), JSON.stringify(target0.net_asr_pairing));
    const target1 = stats.cells.find((c) => c.target === 1 && c.mode === 'dirty')!;
    assert.deepEqual(target1.net_asr_pairing.clean_runs, ['baseline/mlp/none/0/seed_0#rare_value']);
    assert.equal(target1.false_trigger_asr.mean, runs.clean!.metrics.false_trigger!.rare_value!.asr);
    // Detection per direction: spectral and the references in each, never averaged across them.
    const spectral = stats.detection.detectors.filter((d) => d.method === 'spectral');
    assert.deepEqual(spectral.map((d) => [d.target, d.mode, d.n_runs]), [[1, 'dirty', 1], [0, 'dirty', 1]]);
    for (const d of spectral) {
      const run = d.target === 1 ? runs.target1! : runs.target0!;
      const record = JSON.parse(readFileSync(join(run.dir, 'detection', 'spectral.json'), 'utf8'));
      assert.equal(d.target_class_auroc.mean, record.metrics.target_class.auroc);
    }
    for (const key of ['detectors', 'defences']) assert.ok(!(key in stats), `pooled ${key} in stats.json`);
  });

  test('stats.csv names each cell by target and mode', () => {
    const lines = statsCsv(stats).trim().split('\n');
    const header = lines[0]!.split(',');
    assert.deepEqual(header.slice(0, 7), ['section', 'model', 'trigger', 'poison_rate', 'target', 'mode', 'detector']);
    const asrRow = (target: number, mode: string) => lines.find((l) => l.startsWith(`cell,mlp,rare_value,0.1,${target},${mode},,asr,`));
    assert.equal(Number(asrRow(0, 'dirty')!.split(',')[9]), runs.target0!.metrics.attack!.asr);
    assert.equal(Number(asrRow(1, 'label_consistent')!.split(',')[9]), runs.hardened!.metrics.attack!.asr);
    assert.ok(lines.some((l) => l.startsWith('detection_cell,mlp,rare_value,0.1,0,dirty,spectral,target_class_auroc,')));
  });

  test('figures: a titled part per direction, modes marked, every plotted number from stats.json', () => {
    const json = JSON.parse(JSON.stringify(stats)) as ReportStats;
    const known = numbersIn(json);
    const { figures, skipped } = buildFigures(json);
    assert.deepEqual(skipped.map((s) => s.name), ['attribution_heatmap']);
    for (const f of figures) {
      assert.deepEqual(compileSpec(f.spec).warnings, [], f.name);
      assert.deepEqual([...numbersIn(dataRows(f.spec))].filter((v) => !known.has(v)), [], `${f.name} plots numbers stats.json lacks`);
    }
    for (const panel of [asrPanel(json)!, stealthPanel(json)!]) {
      const parts = panel.vconcat as VlSpec[];
      assert.deepEqual(parts.map((p) => p.title.text), [TARGET_TITLES[1], TARGET_TITLES[0]]);
      // The target-0 part plots the target-0 cell alone; the target-1 part its three modes, one point shape each.
      assert.deepEqual(dataRows(parts[1]).filter((r) => r.kind === 'cell').map((r) => r.mode), ['dirty']);
      assert.deepEqual(dataRows(parts[0]).filter((r) => r.kind === 'cell').map((r) => r.mode), ['dirty', 'clean', 'label_consistent']);
      const shape = (parts[0]!.spec.layer as VlSpec[]).find((l) => l.encoding?.shape)!.encoding.shape;
      assert.deepEqual(shape.scale.domain, ['dirty', 'clean', 'label_consistent']);
    }
    const asr = dataRows(asrPanel(json)!.vconcat[1]).find((r) => r.kind === 'cell')!;
    assert.equal(asr.mean, runs.target0!.metrics.attack!.asr);
    // The detector heatmap: one panel per model and direction.
    const heat = detectionPanel(json)!;
    assert.deepEqual(heat.facet.row.sort, ['Model: mlp · target 1 (death made likely)', 'Model: mlp · target 0 (death hidden)']);
    // Confidence shift and the model comparison name the direction too.
    const shift = figures.find((f) => f.name === 'confidence_shift')!.spec;
    assert.ok(shift.facet.sort.includes('Trigger: rare_value · target 0 (death hidden)'), JSON.stringify(shift.facet.sort));
    const comparison = figures.find((f) => f.name === 'model_comparison')!.spec;
    assert.deepEqual((comparison.hconcat as VlSpec[]).slice(1).map((p) => p.title.text), [TARGET_TITLES[1], TARGET_TITLES[0]]);
    // The clean-label comparison: naive clean-label, label_consistent and dirty at the one rate, with the false-trigger rate.
    const comparisonRows = dataRows(figures.find((f) => f.name === 'clean_label_comparison')!.spec);
    const byMode = Object.fromEntries(comparisonRows.filter((r) => r.kind === 'cell').map((r) => [r.mode, r.mean]));
    assert.deepEqual(Object.keys(byMode), ['dirty', 'clean', 'label_consistent']);
    close(byMode.clean as number, runs.naive!.metrics.attack!.asr, 'naive clean-label ASR');
    close(byMode.label_consistent as number, runs.hardened!.metrics.attack!.asr, 'label_consistent ASR');
    assert.deepEqual(comparisonRows.filter((r) => r.kind === 'ft').map((r) => r.mean), [runs.clean!.metrics.false_trigger!.rare_value!.asr]);
    const kpi = json.figure_data.kpis.find((k) => k.label === 'Highest mean ASR')!;
    assert.match(kpi.detail, /^mlp, rare_value at 10%(, clean|, label_consistent)?, target [01], n=1/);
  });

  test('a report of target-1 dirty runs alone looks as before: no direction parts, no mode legend', () => {
    const only = computeStats(records.filter((r) => r.metrics.target === 1 && r.metrics.poison_mode === 'dirty'), { resamples: 200 });
    const json = JSON.parse(JSON.stringify(only)) as ReportStats;
    for (const panel of [asrPanel(json)!, stealthPanel(json)!]) {
      assert.ok(!('vconcat' in panel), 'a target-1 report split into parts');
      assert.equal(panel.facet.field, 'trigger');
      const shape = (panel.spec.layer as VlSpec[]).find((l) => l.encoding?.shape)!.encoding.shape;
      assert.equal(shape.legend, null);
    }
    assert.deepEqual(detectionPanel(json)!.facet.row.sort, ['Model: mlp']);
    const { figures } = buildFigures(json);
    assert.deepEqual(figures.map((f) => f.name), FIGURES.map((f) => f.name).filter((n) => n !== 'attribution_heatmap' && n !== 'clean_label_comparison'));
    const shift = figures.find((f) => f.name === 'confidence_shift')!.spec;
    assert.deepEqual(shift.facet.sort, ['Trigger: rare_value']);
  });

  test('buildReport pools no direction with another, and report.html tables carry target and mode', async () => {
    const report = await buildReport({ runsDir, outDir: join(work, 'report'), resamples: 200, now: new Date('2026-01-01T00:00:00Z') });
    assert.equal(report.nRuns, 5);
    assert.deepEqual(report.warnings, []);
    const html = readFileSync(report.reportHtml, 'utf8');
    assert.match(html, /<th>model<\/th><th>trigger<\/th><th>target<\/th><th>mode<\/th><th>rate<\/th><th>runs<\/th><th>ASR<\/th>/);
    assert.match(html, /<td>mlp<\/td><td>rare_value<\/td><td>0<\/td><td>dirty<\/td><td>10%<\/td><td>1<\/td>/);
    assert.match(html, /<td>mlp<\/td><td>rare_value<\/td><td>1<\/td><td>label_consistent<\/td><td>10%<\/td>/);
    assert.match(html, /<td>mlp<\/td><td>rare_value<\/td><td>0<\/td><td>dirty<\/td><td>10%<\/td><td>spectral<\/td>/);
    // The clean-label table lists the three modes at the one rate of target 1, not the target-0 cell.
    const cleanLabel = html.slice(html.indexOf('<h3>Clean-label attacks at the same rate</h3>'), html.indexOf('<h3>Detectors per cell</h3>'));
    assert.deepEqual([...cleanLabel.matchAll(/<td>rare_value<\/td><td>(\d)<\/td><td>(\w+)<\/td>/g)].map((m) => `${m[1]}/${m[2]}`), ['1/dirty', '1/clean', '1/label_consistent']);
  });
});
