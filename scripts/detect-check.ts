/**
 * Acceptance check for the detectors (a script, not a unit test: it trains two or more models).
 *
 *   node dist/scripts/detect-check.js [--runs-dir DIR] [--no-defend]
 *
 * On the embedded dev cohort (run `backdoor setup` first): train the MLP with rare_value at 5% (seed 0), run every
 * detector on its poisoned training split with the defence, and check that every detector reports AUROC and
 * TPR@5%FPR, that at least one reaches detection AUROC ≥ 0.9, and that the defence of that detector lowers the
 * ASR. Prints the numbers; exits 1 when a check fails.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveRunConfig } from '../src/experiments/config.js';
import { executeRun } from '../src/experiments/run.js';
import { runDetection } from '../src/experiments/detection.js';

const args = process.argv.slice(2);
const at = args.indexOf('--runs-dir');
const runsDir = at >= 0 ? args[at + 1] : mkdtempSync(join(tmpdir(), 'backdoor-detect-check-'));
const defend = !args.includes('--no-defend');

const config = resolveRunConfig({ overrides: { trigger: { name: 'rare_value' }, poison: { rate: 0.05 }, seed: 0 } });
const run = await executeRun(config, { runsDir });
process.stderr.write(`run ${run.dir}: clean AUROC ${run.metrics.clean.auroc.toFixed(3)}, ASR ${run.metrics.attack?.asr.toFixed(3)}\n`);
const result = await runDetection(run.dir, { defend, log: (l) => process.stderr.write(`${l}\n`) });

const rows = result.results.map((r) => {
  const m = r.metrics;
  const d = r.defence;
  return {
    method: r.method,
    ...(m.applicable
      ? { auroc: m.auroc, auprc: m.auprc, tpr1: m.tpr_at_fpr_1pct, tpr5: m.tpr_at_fpr_5pct, flagged: m.flagged, precision: m.precision, recall: m.recall }
      : { applicable: false }),
    ...(d ? { asr_before: d.before.asr, asr_after: d.after.asr, auroc_before: d.before.clean_auroc, auroc_after: d.after.clean_auroc, acc_before: d.before.clean_accuracy, acc_after: d.after.clean_accuracy, der: d.effect.der } : {}),
  };
});
process.stdout.write(JSON.stringify({ dir: run.dir, n_train: run.metrics.data.n_train, n_poisoned: run.metrics.data.n_poisoned, rows }, null, 2) + '\n');

const failures: string[] = [];
for (const r of result.results) {
  if (!r.metrics.applicable || !Number.isFinite(r.metrics.auroc) || !Number.isFinite(r.metrics.tpr_at_fpr_5pct)) failures.push(`${r.method} reports no AUROC / TPR@5%FPR`);
}
const best = result.results.filter((r) => r.metrics.applicable && r.metrics.auroc >= 0.9);
if (best.length === 0) failures.push('no detector reaches detection AUROC ≥ 0.9');
if (defend && !best.some((r) => r.defence && r.defence.after.asr !== null && r.defence.before.asr !== null && r.defence.after.asr < r.defence.before.asr)) {
  failures.push('the defence of no detector with AUROC ≥ 0.9 lowers the ASR');
}
for (const f of failures) process.stderr.write(`FAIL: ${f}\n`);
process.stderr.write(failures.length === 0 ? 'all detection acceptance checks pass\n' : '');
process.exit(failures.length === 0 ? 0 : 1);
