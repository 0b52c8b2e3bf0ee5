/**
 * The method × trigger table of issue 13 (a script, not a unit test: it runs every detector and defence).
 *
 *   node dist/scripts/defence-table.js --runs-dir DIR RUN_SUBDIR... [--methods a,b] [--no-defend]
 *
 * For each finished run folder: runs every registered detector with the retrain defence (the `detect --defend`
 * path), times each, and prints per method the target-class detection AUROC (poisoned vs clean rows carrying the
 * target label; issue 10), the all-rows AUROC, and for defences the ASR and clean AUROC before, after and after
 * the control. The reference scores `label` (the observed label) and `random` (seeded uniform) are computed here.
 */
import { join } from 'node:path';
import { runDetection } from '../src/experiments/detection.js';
import { loadRun } from '../src/experiments/load-run.js';
import { detectorNames } from '../src/detectors/registry.js';
import { readDetectionReport, readScoresRecord } from '../src/runs/detection-records.js';
import { targetClassDetectionMetrics } from '../src/metrics/detection.js';
import { deriveRng } from '../src/engine/rng.js';

const args = process.argv.slice(2);
const at = args.indexOf('--runs-dir');
const runsDir = at >= 0 ? args[at + 1] : 'runs';
const defend = !args.includes('--no-defend');
const mk = args.indexOf('--methods');
const methods = mk >= 0 ? args[mk + 1].split(',') : detectorNames();
const runs = args.filter((a, i) => !a.startsWith('--') && i !== at + 1 && (mk < 0 || i !== mk + 1));

const f = (x: number | null | undefined) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(3) : '—');
const out: Record<string, unknown>[] = [];
for (const sub of runs) {
  const dir = join(runsDir, sub);
  const result = await runDetection(dir, { methods, defend, log: (l) => process.stderr.write(`${l}\n`) });
  const run = await loadRun(dir);
  const labels = run.prepared.poisoned.cohort.labels;
  const target = run.config.poison.target;
  run.model.dispose();
  const score = (name: string, scores: ArrayLike<number>, flagged: Uint8Array) => {
    const m = targetClassDetectionMetrics({ isPoisoned: run.poisonedMask, scores, flagged, observedLabels: labels, target });
    return m.applicable ? { target_class_auroc: m.target_class.auroc, all_rows_auroc: m.all_rows.auroc, target_class_tpr5: m.target_class.tpr_at_fpr_5pct } : null;
  };
  const none = new Uint8Array(labels.length);
  const rng = deriveRng(run.config.seed, 'reference-detector', 'random');
  out.push({ run: sub, method: 'label', seconds: 0, ...score('label', Float64Array.from(labels), none) });
  out.push({ run: sub, method: 'random', seconds: 0, ...score('random', Float64Array.from(labels, () => rng.next()), none) });
  for (const r of result.results) {
    const rows = await readScoresRecord(dir, r.method);
    const report = await readDetectionReport(dir, r.method);
    const details = (report?.details ?? {}) as Record<string, any>;
    const flagged = Uint8Array.from(rows, (x) => (x.flagged ? 1 : 0));
    const row: Record<string, unknown> = { run: sub, method: r.method, seconds: r.seconds, ...score(r.method, rows.map((x) => x.score), flagged) };
    if (r.defence) Object.assign(row, { removed: r.defence.flagged, asr_before: r.defence.before.asr, asr_retrain: r.defence.after.asr, auroc_retrain: r.defence.after.clean_auroc });
    const repair = details.repair;
    if (repair?.after_fine_tuning) Object.assign(row, { asr_pruned: repair.after_pruning.asr, asr_repair: repair.after_fine_tuning.asr, asr_control: repair.control_fine_tuned.asr, auroc_repair: repair.after_fine_tuning.clean_auroc, auroc_control: repair.control_fine_tuned.clean_auroc });
    if (repair?.after_unlearning) Object.assign(row, { isolation_precision: repair.isolation_precision, asr_repair: repair.after_unlearning.asr, asr_control: repair.control_unlearning.asr, auroc_repair: repair.after_unlearning.clean_auroc, auroc_control: repair.control_unlearning.clean_auroc });
    if (details.test_detection) Object.assign(row, { strip_test_auroc: details.test_detection.auroc, strip_test_tpr5: details.test_detection.tpr_at_fpr_5pct });
    if (details.overlap_with_true_trigger) Object.assign(row, { mask_on_trigger: details.overlap_with_true_trigger.mask_share_on_trigger_variables_and_hours, l1_ratio: details.l1_ratio, recovered: (details.recovered_trigger ?? []).slice(0, 2).map((c: any) => `${c.feature}${c.hour === null ? '' : `@h${c.hour}`}=${c.value.toFixed(1)}`).join('; ') });
    out.push(row);
  }
}
process.stdout.write(JSON.stringify(out, null, 1) + '\n');
const cols = ['run', 'method', 'target_class_auroc', 'all_rows_auroc', 'asr_before', 'asr_retrain', 'auroc_retrain', 'asr_repair', 'asr_control', 'auroc_repair', 'seconds'];
process.stdout.write(cols.join(' | ') + '\n');
for (const r of out) process.stdout.write(cols.map((c) => (typeof r[c] === 'number' ? f(r[c] as number) : String(r[c] ?? '—'))).join(' | ') + '\n');
