/**
 * The victim search: a small, documented search per model over a few settings, judged ONLY on the clean
 * baseline's validation AUROC (trigger none, rate 0), as a hospital tuning its model would. No attack, no ASR.
 * Each candidate trains with the model's own early stopping; the validation AUROC is that of the selected epoch.
 * Test AUROC is printed for information, never used to choose. The chosen settings are cited in
 * configs/model/<model>.yaml.
 *
 *   nice node dist/scripts/tune-victims.js [--models mlp,lstm,tcn,tabtransformer] [--seeds 0,1,2]
 *        [--data data/dev/dev.parquet] [--splits data/splits/splits.json] [--runs-dir runs/tune-victims]
 */
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { resolveRunConfig } from '../src/experiments/config.js';
import { executeRun } from '../src/experiments/run.js';

export interface Candidate {
  /** Run-config overrides under `model:` (the model's own settings). */
  model?: Record<string, unknown>;
  /** Run-config overrides under `train:`. */
  train?: Record<string, unknown>;
}

/**
 * The full factorial grid over `axes`: one candidate per combination, each axis contributing one of its settings
 * (a setting may fix several keys together, e.g. a kernel size with the dilations that give it a day's receptive
 * field). Earlier axes vary slowest, so the listed order is stable and ties go to the earlier combination.
 */
export function grid(...axes: Candidate[][]): Candidate[] {
  return axes.reduce<Candidate[]>(
    (partial, axis) => partial.flatMap((c) => axis.map((a) => ({ model: { ...c.model, ...a.model }, train: { ...c.train, ...a.train } }))),
    [{ model: {}, train: {} }],
  );
}

const axis = (section: 'model' | 'train', key: string, values: unknown[]): Candidate[] => values.map((v) => ({ [section]: { [key]: v } }));

/**
 * Per model, the settings a hospital would tune on its validation split. MLP and LSTM: a few values around the
 * defaults (regularisation, width, batch size, learning rate). TCN and TabTransformer: a two-level factorial grid
 * over every setting that moves clean AUROC on 1,400 training stays. No setting of the attack is searched. The
 * trainer has no weight decay, so none is searched (dropout and early stopping are the regularisers).
 */
export const SEARCH: Record<string, Candidate[]> = {
  mlp: [
    { model: { dropout: 0.1 }, train: { batch_size: 64 } },
    { model: { dropout: 0.3 }, train: { batch_size: 64 } },
    { model: { dropout: 0.1 }, train: { batch_size: 128 } },
    { model: { dropout: 0.3 }, train: { batch_size: 128 } },
  ],
  lstm: [
    { model: { hidden_units: 32 }, train: { learning_rate: 0.003 } },
    { model: { hidden_units: 64 }, train: { learning_rate: 0.003 } },
    { model: { hidden_units: 64 }, train: { learning_rate: 0.001 } },
  ],
  // 2^6 = 64 candidates. Both architectures see the whole 24 h window (receptive fields 29 and 31 hours).
  tcn: grid(
    axis('train', 'learning_rate', [0.001, 0.003]),
    axis('train', 'batch_size', [64, 256]),
    axis('train', 'patience', [5, 10]),
    axis('model', 'filters', [32, 64]),
    [{ model: { kernel_size: 3, dilations: [1, 2, 4] } }, { model: { kernel_size: 2, dilations: [1, 2, 4, 8] } }],
    axis('model', 'dropout', [0.1, 0.3]),
  ),
  // 2^6 = 64 candidates; `dropout` sets the attention, feed-forward and output dropouts together.
  tabtransformer: grid(
    axis('train', 'learning_rate', [0.001, 0.003]),
    axis('model', 'd_token', [16, 32]),
    axis('model', 'heads', [2, 4]),
    axis('model', 'blocks', [1, 2]),
    axis('model', 'ffn_hidden', [32, 64]),
    [0.1, 0.2].map((rate) => ({ model: { attention_dropout: rate, ffn_dropout: rate, dropout: rate } })),
  ),
};

export interface SearchRow {
  model: string;
  candidate: Candidate;
  valAurocs: number[];
  testAurocs: number[];
  epochs: number[];
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The candidate with the highest mean validation AUROC over seeds (ties: the earlier, i.e. listed first). */
export function pickBest(rows: SearchRow[]): SearchRow {
  if (rows.length === 0) throw new Error('pickBest: no rows');
  return rows.reduce((best, r) => (mean(r.valAurocs) > mean(best.valAurocs) ? r : best));
}

export function describeCandidate(c: Candidate): string {
  const parts = [...Object.entries(c.model ?? {}).map(([k, v]) => `${k}=${JSON.stringify(v)}`), ...Object.entries(c.train ?? {}).map(([k, v]) => `train.${k}=${v}`)];
  return parts.join(' ') || '(defaults)';
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      models: { type: 'string', default: Object.keys(SEARCH).join(',') },
      seeds: { type: 'string', default: '0,1,2' },
      data: { type: 'string', default: join('data', 'dev', 'dev.parquet') },
      splits: { type: 'string', default: join('data', 'splits', 'splits.json') },
      'runs-dir': { type: 'string', default: join('runs', 'tune-victims') },
      backend: { type: 'string', default: 'auto' },
    },
  });
  const seeds = values.seeds!.split(',').map(Number);
  const table: SearchRow[] = [];
  for (const model of values.models!.split(',')) {
    const candidates = SEARCH[model];
    if (!candidates) throw new Error(`no search for model "${model}"; valid: ${Object.keys(SEARCH).join(', ')}`);
    const rows: SearchRow[] = [];
    for (const [k, candidate] of candidates.entries()) {
      const row: SearchRow = { model, candidate, valAurocs: [], testAurocs: [], epochs: [] };
      for (const seed of seeds) {
        const config = resolveRunConfig({
          overrides: {
            data: { path: values.data, splits: values.splits },
            seed,
            backend: values.backend,
            model: { name: model, ...candidate.model },
            trigger: { name: 'none' },
            train: { ...candidate.train },
            // A clean baseline only: no trigger is evaluated, nothing about an attack reaches the choice.
            evaluation: { clean_run_triggers: [] },
          },
        });
        const run = await executeRun(config, { runsDir: join(values['runs-dir']!, model, `candidate_${k}`), force: true });
        row.valAurocs.push(run.metrics.training.best_val_auroc);
        row.testAurocs.push(run.metrics.clean.auroc);
        row.epochs.push(run.metrics.training.selected_epoch ?? run.metrics.training.best_epoch);
      }
      rows.push(row);
      console.error(`${model} ${describeCandidate(candidate)}: val AUROC ${row.valAurocs.map((x) => x.toFixed(3)).join(' / ')}`);
    }
    table.push(...rows);
    const best = pickBest(rows);
    console.error(`${model}: chosen ${describeCandidate(best.candidate)}`);
  }
  console.log(markdownTable(table, seeds));
}

/**
 * The search's table, best mean validation AUROC first per model. Test AUROC is shown for the chosen row only:
 * it is the reported result, and the other rows' test AUROCs would invite choosing on test.
 */
export function markdownTable(table: SearchRow[], seeds: number[]): string {
  const lines = [`| model | candidate | val AUROC (seeds ${seeds.join(', ')}) | mean | selected epoch | chosen: test AUROC |`, '|---|---|---|---:|---|---|'];
  for (const model of new Set(table.map((r) => r.model))) {
    const rows = table.filter((r) => r.model === model);
    const best = pickBest(rows);
    const ranked = [...rows].sort((x, y) => mean(y.valAurocs) - mean(x.valAurocs));
    for (const r of ranked) {
      const chosen = r === best ? `✓ ${r.testAurocs.map((x) => x.toFixed(3)).join(' / ')} (mean ${mean(r.testAurocs).toFixed(3)})` : '';
      lines.push(`| ${model} | ${describeCandidate(r.candidate)} | ${r.valAurocs.map((x) => x.toFixed(3)).join(' / ')} | ${mean(r.valAurocs).toFixed(3)} | ${r.epochs.join(' / ')} | ${chosen} |`);
    }
  }
  return lines.join('\n');
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) await main();
