/** The victim search chooses on clean validation AUROC only, over settings each model's schema accepts. */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { getModel, modelNames } from '../src/models/registry.js';
import { SEARCH, describeCandidate, grid, markdownTable, pickBest, type SearchRow } from '../scripts/tune-victims.js';

test('every model has a small search whose settings its schema accepts; no attack setting is searched', () => {
  assert.deepEqual(Object.keys(SEARCH).sort(), [...modelNames()].sort());
  for (const [model, candidates] of Object.entries(SEARCH)) {
    assert.ok(candidates.length >= 2 && candidates.length <= 64, `${model}: ${candidates.length} candidates`);
    const described = candidates.map(describeCandidate);
    assert.equal(new Set(described).size, described.length, `${model}: a candidate is listed twice`);
    for (const c of candidates) {
      assert.deepEqual(Object.keys(c).filter((k) => k !== 'model' && k !== 'train'), [], `${model}: only model and train settings`);
      getModel(model).resolveConfig(c.model ?? {});
      for (const key of Object.keys(c.train ?? {})) assert.ok(['batch_size', 'learning_rate', 'epochs', 'patience'].includes(key), key);
    }
  }
  // The TCN and TabTransformer grids span what a hospital tunes: both levels of each axis appear in 32 candidates.
  const levels = (model: string, key: string) => new Set(SEARCH[model].map((c) => JSON.stringify(c.model?.[key] ?? c.train?.[key])));
  for (const key of ['learning_rate', 'batch_size', 'patience', 'filters', 'kernel_size', 'dropout']) assert.equal(levels('tcn', key).size, 2, `tcn ${key}`);
  for (const key of ['learning_rate', 'd_token', 'heads', 'blocks', 'ffn_hidden', 'ffn_dropout']) assert.equal(levels('tabtransformer', key).size, 2, `tabtransformer ${key}`);
});

test('grid is the full factorial product, earlier axes varying slowest, coupled settings kept together', () => {
  const g = grid(
    [{ train: { learning_rate: 0.001 } }, { train: { learning_rate: 0.003 } }],
    [{ model: { kernel_size: 3, dilations: [1, 2, 4] } }, { model: { kernel_size: 2, dilations: [1, 2, 4, 8] } }],
    [{ model: { dropout: 0.1 } }, { model: { dropout: 0.3 } }, { model: { dropout: 0.5 } }],
  );
  assert.equal(g.length, 12);
  assert.deepEqual(g[0], { model: { kernel_size: 3, dilations: [1, 2, 4], dropout: 0.1 }, train: { learning_rate: 0.001 } });
  assert.deepEqual(g[4], { model: { kernel_size: 2, dilations: [1, 2, 4, 8], dropout: 0.3 }, train: { learning_rate: 0.001 } });
  assert.deepEqual(g[11], { model: { kernel_size: 2, dilations: [1, 2, 4, 8], dropout: 0.5 }, train: { learning_rate: 0.003 } });
});

const row = (val: number[], testAuroc: number[], dropout: number): SearchRow => ({ model: 'mlp', candidate: { model: { dropout } }, valAurocs: val, testAurocs: testAuroc, epochs: [1, 1] });

test('pickBest takes the highest mean validation AUROC, whatever the test AUROC says', () => {
  const rows = [row([0.8, 0.82], [0.9, 0.9], 0.1), row([0.83, 0.81], [0.7, 0.7], 0.3), row([0.81, 0.81], [0.95, 0.95], 0.5)];
  assert.equal(pickBest(rows).candidate.model!.dropout, 0.3);
  assert.equal(describeCandidate({ model: { hidden_units: 32 }, train: { learning_rate: 0.003 } }), 'hidden_units=32 train.learning_rate=0.003');
});

test('the table ranks by mean validation AUROC and shows test AUROC for the chosen row only', () => {
  const rows = [row([0.8, 0.82], [0.912, 0.9], 0.1), row([0.83, 0.81], [0.702, 0.7], 0.3), row([0.81, 0.8], [0.953, 0.95], 0.5)];
  const lines = markdownTable(rows, [0, 1]).split('\n');
  assert.equal(lines.length, 5);
  assert.match(lines[2], /^\| mlp \| dropout=0\.3 \| 0\.830 \/ 0\.810 \| 0\.820 \| 1 \/ 1 \| ✓ 0\.702 \/ 0\.700 \(mean 0\.701\) \|$/);
  assert.match(lines[3], /dropout=0\.1 .*\| 0\.810 \| 1 \/ 1 \|  \|$/);
  assert.ok(!lines.slice(3).join('\n').includes('0.912') && !lines.join('\n').includes('0.953'));
});
