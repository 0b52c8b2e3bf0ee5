/**
 * The PhysioNet 2012 results of the README: builds the cohort (sets a and b, 8,000 real ICU stays) if needed, runs
 * the `physionet2012` benchmark grid (clean MLP and LSTM; rare_value and missingness at 1% and 5%; 3 seeds), then
 * prints per model the clean test AUROC with a 95% bootstrap CI over test stays, AUPRC, and per trigger and rate
 * the ASR and the clean-AUROC drop against the same-seed clean run. Exits 1 when a clean model's mean test AUROC is
 * below 0.80 (published deep models on this data report about 0.84–0.86), and 2 with one line when the cohort is not
 * built and the data folder (--dir) is missing.
 *
 *   node dist/scripts/physionet-results.js [--dir ../shared/data/physionet-2012] [--runs-dir runs/physionet2012]
 *                                          [--jobs 2] [--models mlp,lstm] [--markdown]
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { dirname, join } from 'node:path';
import { buildPhysionetCohort } from '../src/data/sources/physionet2012.js';
import { exitIfMissing, sharedPath } from './shared-dir.js';
import { loadSweepSpec, profilePath, runSweep } from '../src/experiments/sweep.js';
import { loadRun } from '../src/experiments/load-run.js';
import { runDirFor, RUN_FILES } from '../src/runs/layout.js';
import { predictProba } from '../src/train/trainer.js';
import { auroc } from '../src/metrics/classification.js';
import { deriveRng } from '../src/engine/rng.js';
import { createProgress } from '../src/util/progress.js';
import type { RunMetrics } from '../src/runs/records.js';
import { readFileSync } from 'node:fs';

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: sharedPath('physionet') },
    'runs-dir': { type: 'string', default: join('runs', 'physionet2012') },
    jobs: { type: 'string', default: '2' },
    models: { type: 'string' },
    markdown: { type: 'boolean', default: false },
  },
});

const spec = loadSweepSpec(profilePath('physionet2012'));
if (values.models) spec.models = values.models.split(',');
const cohortPath = (spec.overrides.data as { path: string }).path;
if (!existsSync(cohortPath)) {
  exitIfMissing(values.dir!, 'physionet', '--dir');
  process.stderr.write(`building the PhysioNet 2012 cohort from ${values.dir} ...\n`);
  await buildPhysionetCohort({ dir: values.dir!, outDir: dirname(cohortPath) });
}
const runsDir = values['runs-dir']!;
const outcome = await runSweep(spec, { runsDir, jobs: Number(values.jobs), progress: createProgress() });
if (outcome.failures.length > 0) {
  for (const f of outcome.failures) process.stderr.write(`failed: ${f.dir}: ${f.error.split('\n')[0]}\n`);
  process.exit(1);
}
const metricsOf = new Map(outcome.results.map((r) => [r.dir, r.metrics] as const));
const find = (model: string, trigger: string, rate: number, seed: number): RunMetrics => {
  const dir = runDirFor(runsDir, { model: { name: model }, trigger: { name: trigger }, poison: { rate }, seed } as never);
  return metricsOf.get(dir) ?? (JSON.parse(readFileSync(join(dir, RUN_FILES.metrics), 'utf8')) as RunMetrics);
};

/** Percentile bootstrap over test stays (Efron & Tibshirani 1993), 1,000 resamples, of the seed-mean AUROC. */
async function bootstrapAuroc(model: string): Promise<{ mean: number; lo: number; hi: number; auprc: number }> {
  const perSeed: { labels: Uint8Array; probs: Float32Array }[] = [];
  for (const seed of spec.seeds) {
    const ctx = await loadRun(runDirFor(runsDir, { model: { name: model }, trigger: { name: 'none' }, poison: { rate: 0 }, seed } as never));
    perSeed.push({ labels: ctx.dataset.test.labels, probs: predictProba(ctx.model, ctx.prepared.featurize(ctx.dataset.test)) });
    ctx.model.dispose();
  }
  const n = perSeed[0].labels.length;
  const rng = deriveRng('physionet-results', model);
  const stats: number[] = [];
  for (let b = 0; b < 1000; b++) {
    const idx = Array.from({ length: n }, () => rng.int(n));
    const values = perSeed.map(({ labels, probs }) => auroc(idx.map((i) => labels[i]), idx.map((i) => probs[i])));
    stats.push(values.reduce((a, v) => a + v, 0) / values.length);
  }
  stats.sort((a, b) => a - b);
  const mean = perSeed.map(({ labels, probs }) => auroc(labels, probs)).reduce((a, v) => a + v, 0) / perSeed.length;
  const auprc = spec.seeds.map((s) => find(model, 'none', 0, s).clean.auprc).reduce((a, v) => a + v, 0) / spec.seeds.length;
  return { mean, lo: stats[24], hi: stats[974], auprc };
}

const avg = (xs: number[]) => xs.reduce((a, v) => a + v, 0) / xs.length;
const lines: string[] = [];
let failed = false;
lines.push('| model | clean test AUROC (95% CI) | AUPRC |', '|---|---|---|');
for (const model of spec.models) {
  const b = await bootstrapAuroc(model);
  if (b.mean < 0.8) failed = true;
  lines.push(`| ${model} | ${b.mean.toFixed(3)} (${b.lo.toFixed(3)}–${b.hi.toFixed(3)}) | ${b.auprc.toFixed(3)} |`);
}
lines.push('', '| model | trigger | rate | ASR (mean of 3 seeds) | clean-AUROC drop |', '|---|---|---|---|---|');
for (const model of spec.models) {
  for (const trigger of spec.triggers) {
    for (const rate of spec.poison_rates) {
      const asr = avg(spec.seeds.map((s) => find(model, trigger, rate, s).attack!.asr));
      const drop = avg(spec.seeds.map((s) => find(model, 'none', 0, s).clean.auroc - find(model, trigger, rate, s).clean.auroc));
      lines.push(`| ${model} | ${trigger} | ${rate} | ${asr.toFixed(3)} | ${drop >= 0 ? '' : '−'}${Math.abs(drop).toFixed(3)} |`);
    }
  }
}
process.stdout.write(lines.join('\n') + '\n');
if (failed) {
  process.stderr.write('FAIL: a clean model is below test AUROC 0.80\n');
  process.exit(1);
}
