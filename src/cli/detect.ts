import { Command, Option } from 'commander';
import { parseList } from './common.js';
import { BACKEND_CHOICES } from '../engine/backend.js';
import { parseOverrides } from '../experiments/config.js';
import { detectorNames } from '../detectors/registry.js';
import { UserError } from '../util/errors.js';
import type { DetectionRunResult } from '../detectors/run-detection.js';

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
  const header = ['method', 'AUROC', 'AUPRC', 'TPR@1%', 'TPR@5%', 'flagged', 'precision', 'recall'];
  const rows = result.results.map((r) => {
    const m = r.metrics;
    return m.applicable
      ? [r.method, fmt(m.auroc), fmt(m.auprc), fmt(m.tpr_at_fpr_1pct), fmt(m.tpr_at_fpr_5pct), String(r.flagged), fmt(m.precision), fmt(m.recall)]
      : [r.method, 'n/a', 'n/a', 'n/a', 'n/a', String(r.flagged), 'n/a', 'n/a'];
  });
  const defended = result.results.filter((r) => r.defence);
  const lines: string[] = [];
  const render = (head: string[], body: string[][]) => {
    const widths = head.map((h, c) => Math.max(h.length, ...body.map((r) => r[c].length)));
    lines.push(head.map((h, c) => h.padEnd(widths[c])).join('  ').trimEnd());
    for (const r of body) lines.push(r.map((v, c) => v.padEnd(widths[c])).join('  ').trimEnd());
  };
  lines.push(`${result.dir} (trigger ${result.trigger}, poison rate ${result.poison_rate})`);
  if (result.results.some((r) => !r.metrics.applicable)) lines.push('detection metrics: not applicable (clean run: no poisoned rows); flagged rows are false alarms');
  render(header, rows);
  if (defended.length > 0) {
    lines.push('', 'defence: retrained without the flagged rows (same config and seed)');
    render(
      ['method', 'removed', 'ASR before', 'ASR after', 'AUROC before', 'AUROC after', 'acc before', 'acc after', 'DER'],
      defended.map((r) => {
        const d = r.defence!;
        return [r.method, String(d.flagged), fmt(d.before.asr), fmt(d.after.asr), fmt(d.before.clean_auroc), fmt(d.after.clean_auroc), fmt(d.before.clean_accuracy), fmt(d.after.clean_accuracy), fmt(d.effect.der)];
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
      new Option('--method <list>', `detectors, comma-separated (valid: ${detectorNames().join(', ')})`).argParser(parseList).default(detectorNames(), detectorNames().join(',')),
    )
    .option('--defend', "retrain the run's config (same seed) without each detector's flagged rows and report ASR, clean AUROC and accuracy before and after, and DER", false)
    .addOption(new Option('--backend <name>', 'compute backend (default: the run config\'s backend)').choices([...BACKEND_CHOICES]))
    .option('--json', 'print the results as JSON on stdout', false)
    .argument('[overrides...]', 'detector parameters as method.key=value over configs/detector/<method>.yaml, e.g. spectral.epsilon=run saliency.steps=128')
    .action(async (pairs: string[], flags: DetectFlags) => {
      const tree = parseOverrides(pairs);
      const params: Record<string, Record<string, unknown>> = {};
      for (const [method, value] of Object.entries(tree)) {
        if (typeof value !== 'object' || value === null || Array.isArray(value)) {
          throw new UserError(`override "${method}=…" must name a detector parameter as method.key=value, e.g. spectral.epsilon=0.1`);
        }
        params[method] = value as Record<string, unknown>;
      }
      const { runDetection } = await import('../detectors/run-detection.js');
      const result = await runDetection(flags.runDir, {
        methods: flags.method,
        defend: flags.defend,
        params,
        backend: flags.backend,
        log: (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(flags.json ? JSON.stringify(result, null, 2) + '\n' : table(result));
    });
}
