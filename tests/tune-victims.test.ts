/** The victim search chooses on clean validation AUROC only, over settings each model's schema accepts. */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { getModel, modelNames } from '../src/models/registry.js';
import { SEARCH, describeCandidate, pickBest, type SearchRow } from '../scripts/tune-victims.js';

test('every model has a small search whose settings its schema accepts; no attack setting is searched', () => {
  assert.deepEqual(Object.keys(SEARCH).sort(), [...modelNames()].sort());
  for (const [model, candidates] of Object.entries(SEARCH)) {
    assert.ok(candidates.length >= 2 && candidates.length <= 4, `${model}: ${candidates.length} candidates`);
    for (const c of candidates) {
      assert.deepEqual(Object.keys(c).filter((k) => k !== 'model' && k !== 'train'), [], `${model}: only model and train settings`);
      getModel(model).resolveConfig(c.model ?? {});
      for (const key of Object.keys(c.train ?? {})) assert.ok(['batch_size', 'learning_rate', 'epochs', 'patience'].includes(key), key);
    }
  }
});

test('pickBest takes the highest mean validation AUROC, whatever the test AUROC says', () => {
  const row = (val: number[], testAuroc: number[], dropout: number): SearchRow => ({ model: 'mlp', candidate: { model: { dropout } }, valAurocs: val, testAurocs: testAuroc, epochs: [1, 1] });
  const rows = [row([0.8, 0.82], [0.9, 0.9], 0.1), row([0.83, 0.81], [0.7, 0.7], 0.3), row([0.81, 0.81], [0.95, 0.95], 0.5)];
  assert.equal(pickBest(rows).candidate.model!.dropout, 0.3);
  assert.equal(describeCandidate({ model: { hidden_units: 32 }, train: { learning_rate: 0.003 } }), 'hidden_units=32 train.learning_rate=0.003');
});
