import { Command, Option } from 'commander';
import { parseList } from './common.js';
import { BACKEND_CHOICES } from '../engine/backend.js';
import { parseOverrides } from '../experiments/config.js';
import { DETECTOR_REGISTRY, detectorNames } from '../detectors/registry.js';
import { describeParams } from '../util/plugin.js';
import { UserError } from '../util/errors.js';
import type { DetectionRunResult } from '../experiments/detection.js';

interface DetectFlags {
  runDir: string;
  method: string[];
  defend: boolean;
  backend?: string;
  json: boolean;
}

function fmt(x: number | null | undefined, digits = 3): string {
  return typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : '—';
}

function table(result: DetectionRunResult): string {
  const header = ['method', 'AUROC (target class)', 'AUPRC', 'TPR@1%', 'TPR@5%', 'AUROC (all rows)', 'flagged', 'false alarms', 'precision', 'recall'];
  const ran = result.results.filter((r) => r.skipped === undefined);
  const rows = ran.map((r) => {
    const m = r.metrics;
    return m.applicable
      ? [
          r.method,
          fmt(m.target_class.auroc),
          fmt(m.target_class.auprc),
          fmt(m.target_class.tpr_at_fpr_1pct),
          fmt(m.target_class.tpr_at_fpr_5pct),
          fmt(m.all_rows.auroc),
          String(r.flagged),
          String(m.rule.false_alarms),
          fmt(m.rule.precision),
          fmt(m.rule.recall),
        ]
      : [r.method, 'n/a', 'n/a', 'n/a', 'n/a', 'n/a', String(r.flagged), String(r.flagged), 'n/a', 'n/a'];
  });
  const defended = result.results.filter((r) => r.defence);
  const lines: string[] = [];
  const render = (head: string[], body: string[][]) => {
    const widths = head.map((h, c) => Math.max(h.length, ...body.map((r) => r[c].length)));
    lines.push(head.map((h, c) => h.padEnd(widths[c])).join('  ').trimEnd());
    for (const r of body) lines.push(r.map((v, c) => v.padEnd(widths[c])).join('  ').trimEnd());
  };
  lines.push(`${result.dir} (trigger ${result.trigger}, poison rate ${result.poison_rate})`);
  if (ran.some((r) => !r.metrics.applicable)) lines.push('detection metrics: not applicable (clean run: no poisoned rows); flagged rows are false alarms');
  else lines.push('headline: poisoned vs clean rows among those carrying the target label; label and random are reference detectors');
  render(header, rows);
  for (const r of result.results) if (r.skipped !== undefined) lines.push(`${r.method}: skipped: ${r.skipped}`);
  if (defended.length > 0) {
    lines.push('', 'defence: retrained without the flagged rows, beside a random-removal control (as many rows, same class mix; same config and seed)');
    render(
      ['method', 'arm', 'removed', 'of target class', 'ASR before', 'ASR after', 'AUROC after', 'bal. acc after', 'DER', 'beats control'],
      defended.flatMap((r) => {
        const d = r.defence!;
        const beats = d.beats_control === null ? 'n/a' : d.beats_control ? 'yes' : 'no';
        // Nothing flagged, nothing retrained: say so rather than show the run itself as "after".
        if (!d.retrained) return [[r.method, 'defence', '0', '0', fmt(d.before.asr), 'no retrain: nothing flagged', '', '', '', beats]];
        return [
          [r.method, 'defence', String(d.flagged), String(d.removed_target_class), fmt(d.before.asr), fmt(d.after.asr), fmt(d.after.clean_auroc), fmt(d.after.clean_balanced_accuracy), fmt(d.effect.der), beats],
          ['', 'control', String(d.control.removed), String(d.control.removed_target_class), fmt(d.before.asr), fmt(d.control.after.asr), fmt(d.control.after.clean_auroc), fmt(d.control.after.clean_balanced_accuracy), fmt(d.control.effect.der), ''],
        ];
      }),
    );
  }
  return lines.join('\n') + '\n';
}

export function registerDetect(program: Command): void {
  program
    .command('detect')
    .description("Run poisoning detectors on a finished run's (poisoned) training split and score them against its true poisoned rows; writes <run-dir>/detection/")
    .requiredOption('--run-dir <dir>', 'a finished run folder, e.g. runs/mlp/rare_value/0.05/seed_0')
    .addOption(
      new Option(
        '--method <list>',
        `detectors, comma-separated, or all (valid: ${detectorNames().join(', ')}; the reference detectors label and random always run too). ` +
          "With all (the default), a method that does not apply to the run's model is skipped with its reason; one named here is refused",
      )
        .argParser(parseList)
        .default(['all'], 'all'),
    )
    .option('--defend', "retrain the run's config (same seed) without each detector's flagged rows, and beside it without as many random rows of the same class mix (the control); report ASR, clean AUROC, balanced accuracy and DER of both", false)
    .addOption(new Option('--backend <name>', 'compute backend (default: the run config\'s backend)').choices([...BACKEND_CHOICES]))
    .option('--json', 'print the results as JSON on stdout', false)
    .argument('[overrides...]', 'detector parameters as method.key=value over the defaults listed below, e.g. spectral.epsilon=run saliency.steps=128')
    .addHelpText('after', `\nDetector parameters (defaults):\n${describeParams(DETECTOR_REGISTRY)}`)
    .action(async (pairs: string[], flags: DetectFlags) => {
      const tree = parseOverrides(pairs);
      const params: Record<string, Record<string, unknown>> = {};
      for (const [method, value] of Object.entries(tree)) {
        if (typeof value !== 'object' || value === null || Array.isArray(value)) {
          throw new UserError(`override "${method}=…" must name a detector parameter as method.key=value, e.g. spectral.epsilon=0.1`);
        }
        params[method] = value as Record<string, unknown>;
      }
      const { runDetection } = await import('../experiments/detection.js');
      const all = flags.method.length === 1 && flags.method[0] === 'all';
      const result = await runDetection(flags.runDir, {
        methods: all ? undefined : flags.method,
        defend: flags.defend,
        params,
        backend: flags.backend,
        log: (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(flags.json ? JSON.stringify(result, null, 2) + '\n' : table(result));
    });
}
