/**
 * The method × trigger table of issue 13 (a script, not a unit test: with --detect it runs every detector and
 * defence).
 *
 *   node dist/scripts/defence-table.js [--detect [--no-defend]] RUN_DIR...
 *
 * For each finished run folder (one column group per run, e.g. mlp/rare_value and mlp/pattern at 5%), reads the
 * detection records (after running every detector with the retrain defence when --detect is given, the
 * `detect --defend` path) and prints a markdown table: per method the target-class detection AUROC (poisoned vs
 * clean rows carrying the target label; issue 10), the ASR after its defence and after that defence's control
 * (runs/defence-view.ts: the retrain and its random-removal control, or the repair and its own control for
 * fine_pruning and abl, or why there is none), and the seconds the method took. label and random are in every run.
 */
import { runDetection } from '../src/experiments/detection.js';
import { readDetectionFolder } from '../src/runs/detection-records.js';
import { defenceViewOf } from '../src/runs/defence-view.js';
import { detectionFiguresOf } from '../src/runs/summary.js';
import { detectorNames, withReferenceDetectors } from '../src/detectors/registry.js';

const args = process.argv.slice(2);
const detect = args.includes('--detect');
const defend = !args.includes('--no-defend');
const dirs = args.filter((a) => !a.startsWith('--'));
if (dirs.length === 0) {
  process.stderr.write('usage: node dist/scripts/defence-table.js [--detect [--no-defend]] RUN_DIR...\n');
  process.exit(2);
}

const f = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(3) : '–');
const short = (kind: string) => (kind.startsWith('repair') ? 'repair' : kind.startsWith('no retrain: the detector flagged no') ? 'nothing flagged' : kind);

const columns: { name: string; cells: Map<string, string[]>; asrBefore: string }[] = [];
for (const dir of dirs) {
  if (detect) await runDetection(dir, { defend, log: (l) => process.stderr.write(`${l}\n`) });
  const folder = await readDetectionFolder(dir);
  const cells = new Map<string, string[]>();
  let asrBefore = '–';
  let name = dir;
  for (const method of withReferenceDetectors(detectorNames())) {
    const report = folder.reports.find((r) => r.method === method)?.raw as Record<string, any> | undefined;
    if (!report) continue;
    name = `${report.run.model} ${report.run.trigger} ${report.run.poison_rate}`;
    const v = defenceViewOf(method, report, folder.defences.find((d) => d.method === method)?.raw);
    if (v.before?.asr !== undefined && v.before?.asr !== null) asrBefore = f(v.before.asr);
    const figures = detectionFiguresOf(report);
    const test = report.details?.test_detection;
    const tc = report.skipped ? `skipped` : f(figures.target_class?.auroc) + (test ? ` (test-time ${f(test.auroc)})` : '');
    const after = v.after ? `${f(v.after.asr)} (${short(v.kind)})` : short(v.kind);
    cells.set(method, [tc, after, v.control_after ? f(v.control_after.asr) : '–', f(report.seconds)]);
  }
  columns.push({ name, cells, asrBefore });
}

const head = ['method', ...columns.flatMap((c) => [`${c.name}: TC AUROC`, `ASR after (before ${c.asrBefore})`, 'control ASR after', 's'])];
process.stdout.write(`| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|\n`);
for (const method of withReferenceDetectors(detectorNames())) {
  const row = columns.flatMap((c) => c.cells.get(method) ?? ['–', '–', '–', '–']);
  process.stdout.write(`| ${method} | ${row.join(' | ')} |\n`);
}
