/**
 * Acceptance check for the detectors and defences (a script, not a unit test: it trains several models).
 *
 *   node dist/scripts/detect-check.js [--runs-dir DIR] [--no-defend]
 *
 * On the embedded dev cohort (run `backdoor setup` first): train the MLP with rare_value at 5% (seed 0), run every
 * detector (the reference detectors label and random included) on its poisoned training split, with each defence
 * beside its random-removal control. Prints two tables: each detector's target-class AUROC (headline) next to
 * label and random, with the all-rows AUROC and the flag rule; and each defence next to its control. Checks that
 * every detector reports target-class figures, that label sits at exactly 0.5 and random within 0.5 ± 0.1 within the
 * target class, and that every defence carries a control with as many rows removed per class. Exits 1 when a check fails.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveRunConfig } from '../src/experiments/config.js';
import { executeRun } from '../src/experiments/run.js';
import { runDetection } from '../src/experiments/detection.js';
import { isReferenceDetector } from '../src/detectors/registry.js';

const args = process.argv.slice(2);
const at = args.indexOf('--runs-dir');
const runsDir = at >= 0 ? args[at + 1] : mkdtempSync(join(tmpdir(), 'backdoor-detect-check-'));
const defend = !args.includes('--no-defend');

const config = resolveRunConfig({ overrides: { trigger: { name: 'rare_value' }, poison: { rate: 0.05 }, seed: 0 } });
const run = await executeRun(config, { runsDir });
process.stderr.write(`run ${run.dir}: clean AUROC ${run.metrics.clean.auroc.toFixed(3)}, ASR ${run.metrics.attack?.asr.toFixed(3)}\n`);
const result = await runDetection(run.dir, { defend, log: (l) => process.stderr.write(`${l}\n`) });

const f = (x: number | null | undefined, digits = 3) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : 'n/a');

function render(head: string[], body: string[][]): string {
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((r) => r[c]!.length)));
  const line = (r: string[]) => `| ${r.map((v, c) => v.padEnd(widths[c]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n') + '\n';
}

// Chosen detectors first, then the references, so each is read against label and random.
const ordered = [...result.results.filter((r) => !isReferenceDetector(r.method)), ...result.results.filter((r) => isReferenceDetector(r.method))];
const out: string[] = [];
out.push(`run ${run.dir}: n_train ${run.metrics.data.n_train}, poisoned ${run.metrics.data.n_poisoned}, target label ${config.poison.target}, clean AUROC ${f(run.metrics.clean.auroc)}, ASR ${f(run.metrics.attack?.asr)}\n`);
out.push('\nDetection (headline: poisoned vs clean rows among those carrying the target label)\n');
out.push(
  render(
    ['detector', 'AUROC (target class)', 'AUPRC (target class)', 'TPR@5%FPR (target class)', 'AUROC (all rows)', 'flagged', 'false alarms', 'precision', 'recall'],
    ordered.map((r) => {
      const m = r.metrics;
      const name = isReferenceDetector(r.method) ? `${r.method} (reference)` : r.method;
      if (!m.applicable) return [name, 'n/a', 'n/a', 'n/a', 'n/a', String(r.flagged), String(r.flagged), 'n/a', 'n/a'];
      return [name, f(m.target_class.auroc), f(m.target_class.auprc), f(m.target_class.tpr_at_fpr_5pct), f(m.all_rows.auroc), String(m.rule.flagged), String(m.rule.false_alarms), f(m.rule.precision), f(m.rule.recall)];
    }),
  ),
);
const first = result.results[0]?.metrics;
if (first?.applicable) out.push(`(target class: ${first.target_class.n} rows, ${first.target_class.n_poisoned} poisoned)\n`);

if (defend) {
  out.push('\nDefences beside their random-removal controls (same count and class mix, same config and seed)\n');
  const rows: string[][] = [];
  for (const r of ordered) {
    const d = r.defence;
    if (!d) continue;
    const verdict = d.beats_control === null ? 'n/a' : d.beats_control ? 'yes' : 'no';
    if (!d.retrained) {
      // Nothing flagged: the "after" would be the run itself; a repair's figures are in its own table.
      const why = r.method === 'fine_pruning' || r.method === 'abl' ? 'no retrain: nothing flagged (its defence is the repair, logged above)' : 'no retrain: nothing flagged';
      rows.push([r.method, 'defence', `0 (0 of ${d.n_target_class})`, '0', f(d.before.asr), why, f(d.before.clean_auroc), '', '', '', verdict]);
      continue;
    }
    rows.push([r.method, 'defence', `${d.flagged} (${d.removed_target_class} of ${d.n_target_class})`, `${d.flagged_poisoned}`, f(d.before.asr), f(d.after.asr), f(d.before.clean_auroc), f(d.after.clean_auroc), f(d.after.clean_balanced_accuracy), f(d.effect.der), verdict]);
    rows.push(['', 'control', `${d.control.removed} (${d.control.removed_target_class} of ${d.n_target_class})`, `${d.control.removed_poisoned}`, f(d.before.asr), f(d.control.after.asr), f(d.before.clean_auroc), f(d.control.after.clean_auroc), f(d.control.after.clean_balanced_accuracy), f(d.control.effect.der), '']);
  }
  out.push(render(['defence', 'arm', 'removed (target class of n)', 'poisoned removed', 'ASR before', 'ASR after', 'AUROC before', 'AUROC after', 'bal. acc after', 'DER', 'beats control'], rows));
  const rule = result.results.find((r) => r.defence)?.defence?.beats_control_rule;
  if (rule) out.push(`beats control: ${rule}\n`);
  const effective = ordered.filter((r) => r.defence?.beats_control === true).map((r) => r.method);
  out.push(`effective beyond control: ${effective.length > 0 ? effective.join(', ') : 'none'}\n`);
}
process.stdout.write(out.join(''));

const failures: string[] = [];
for (const r of result.results) {
  if (!r.metrics.applicable || !Number.isFinite(r.metrics.target_class.auroc) || !Number.isFinite(r.metrics.target_class.tpr_at_fpr_5pct)) failures.push(`${r.method} reports no target-class AUROC / TPR@5%FPR`);
}
const refAuroc = (name: string) => {
  const m = result.results.find((r) => r.method === name)?.metrics;
  return m?.applicable ? m.target_class.auroc : NaN;
};
if (refAuroc('label') !== 0.5) failures.push(`label's target-class AUROC is ${refAuroc('label')}, not 0.5`);
if (!(Math.abs(refAuroc('random') - 0.5) <= 0.1)) failures.push(`random's target-class AUROC is ${refAuroc('random')}, not within 0.5 ± 0.1`);
if (defend) {
  for (const r of result.results) {
    const d = r.defence;
    if (!d) failures.push(`${r.method} has no defence record`);
    else if (d.control.removed !== d.flagged || d.control.removed_target_class !== d.removed_target_class) {
      failures.push(`${r.method}: the control removed ${d.control.removed} rows (${d.control.removed_target_class} of the target class), the defence ${d.flagged} (${d.removed_target_class})`);
    }
  }
}
for (const x of failures) process.stderr.write(`FAIL: ${x}\n`);
process.stderr.write(failures.length === 0 ? 'all detection acceptance checks pass\n' : '');
process.exit(failures.length === 0 ? 0 : 1);
