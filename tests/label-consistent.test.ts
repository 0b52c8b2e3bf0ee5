/**
 * Poisoning modes and rates: label_consistent (Turner et al. 2019) keeps labels and plausible values and beats the
 * naive clean-label baseline; a rate that poisons no row is refused; target 0 poisons the stays that died.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { join } from 'node:path';

import { subsetCohort } from '../src/data/cohort.js';
import { writeCohortParquet } from '../src/data/parquet.js';
import { generateSynthetic } from '../src/data/sources/synthetic.js';
import { devSubsetRows, makeSplits, splitRows, writeSplits } from '../src/data/splits.js';
import { fitSurrogate, hardenRows, resolveLabelConsistent, surrogateLogit } from '../src/triggers/label-consistent.js';
import { poisonTrainingSet, smallestOneRowRate } from '../src/triggers/poison.js';
import { rareValue } from '../src/triggers/rare-value.js';
import { UserError } from '../src/util/errors.js';
import { runCli, tempDir } from './helpers.js';

const seed = 20240601;
const { cohort } = generateSynthetic({ seed, nStays: 20000 });
const splits = makeSplits(cohort, seed);
const dev = subsetCohort(cohort, devSubsetRows(cohort, splits, 2000, seed));
const train = subsetCohort(dev, splitRows(dev, splits).train);
const T = dev.schema.hours;
const V = dev.schema.variables.length;

describe('label_consistent hardening', () => {
  const params = resolveLabelConsistent({});
  const surrogate = fitSurrogate(train, params.surrogate_l2);
  const deaths = Array.from({ length: train.n }, (_, i) => i).filter((i) => train.labels[i] === 1).slice(0, 40);

  test('perturbed values stay within ε, inside their plausible ranges, at their resolution; missingness and labels unchanged; the surrogate leans away', () => {
    const hardened = subsetCohort(train, Array.from({ length: train.n }, (_, i) => i));
    const changed = hardenRows(hardened, deaths, surrogate, params);
    assert.ok(changed > 1000, `${changed} values changed`);
    const eps = new Map(params.epsilon.map((e) => [e.variable, e.epsilon]));
    for (const i of deaths) {
      for (let t = 0; t < T; t++) {
        for (let v = 0; v < V; v++) {
          const spec = dev.schema.variables[v];
          const before = train.series[(i * T + t) * V + v];
          const after = hardened.series[(i * T + t) * V + v];
          assert.equal(Number.isNaN(after), Number.isNaN(before), 'charting pattern kept');
          if (Number.isNaN(after)) continue;
          assert.ok(after >= spec.plausibleMin && after <= spec.plausibleMax, `${spec.name} ${after}`);
          assert.ok(Math.abs(after - before) <= (eps.get(spec.name) ?? 0) + 1e-4, `${spec.name}: ${before} → ${after}`);
          const steps = after / spec.resolution!;
          assert.ok(Math.abs(steps - Math.round(steps)) < 1e-3, `${spec.name} ${after} off its resolution ${spec.resolution}`);
        }
      }
      assert.equal(hardened.labels[i], 1);
      assert.ok(surrogateLogit(surrogate, hardened, i) < surrogateLogit(surrogate, train, i) - 0.5, `stay ${i}: surrogate logit must fall`);
    }
  });

  test('poisonTrainingSet in label_consistent mode poisons target-class rows only, without relabelling', () => {
    const trigger = rareValue.resolve({}, { schema: train.schema, train });
    const naive = poisonTrainingSet(train, rareValue, trigger, { rate: 0.02, target: 1, mode: 'clean' }, 0);
    const hard = poisonTrainingSet(train, rareValue, trigger, { rate: 0.02, target: 1, mode: 'label_consistent' }, 0);
    assert.deepEqual(Array.from(hard.poisonedIndices), Array.from(naive.poisonedIndices), 'same rows as the naive baseline at the same seed');
    for (const i of hard.poisonedIndices) assert.equal(hard.cohort.labels[i], 1);
    assert.deepEqual(Array.from(hard.cohort.labels), Array.from(train.labels));
    // The trigger is stamped after hardening: the rare glucose sits at the last hour.
    for (const i of hard.poisonedIndices) assert.equal(hard.cohort.series[(i * T + T - 1) * V + trigger.variableIndex], trigger.value);
  });
});

describe('poison rates and targets', () => {
  test('a rate that poisons no row is refused, naming the smallest rate that poisons one', () => {
    const trigger = rareValue.resolve({}, { schema: train.schema, train });
    assert.equal(train.n, 1400);
    assert.equal(smallestOneRowRate(1400), 0.00072);
    assert.throws(
      () => poisonTrainingSet(train, rareValue, trigger, { rate: 0.0005, target: 1, mode: 'dirty' }, 0),
      (err: Error) => err instanceof UserError && err.message === 'poison rate 0.0005 poisons no row of the 1400-row training split (floor(rate · n) = 0); the smallest rate that poisons one row is 0.00072',
    );
    assert.equal(poisonTrainingSet(train, rareValue, trigger, { rate: 0.001, target: 1, mode: 'dirty' }, 0).poisonedIndices.length, 1);
  });

  test('target 0, dirty: stays that died are stamped and relabelled survived; clean: survivors are stamped', () => {
    const trigger = rareValue.resolve({}, { schema: train.schema, train });
    const dirty = poisonTrainingSet(train, rareValue, trigger, { rate: 0.01, target: 0, mode: 'dirty' }, 0);
    assert.equal(dirty.poisonedIndices.length, 14);
    for (const i of dirty.poisonedIndices) assert.deepEqual([train.labels[i], dirty.cohort.labels[i]], [1, 0]);
    const clean = poisonTrainingSet(train, rareValue, trigger, { rate: 0.01, target: 0, mode: 'clean' }, 0);
    for (const i of clean.poisonedIndices) assert.deepEqual([train.labels[i], clean.cohort.labels[i]], [0, 0]);
  });
});

describe('hardening raises ASR over naive clean-label on the dev cohort', () => {
  test('MLP, rare_value, target 1, 3% of the training split, mean ASR over seeds 0–2', async () => {
    const dir = tempDir('label-consistent');
    await writeCohortParquet(join(dir, 'dev.parquet'), dev);
    await writeSplits(join(dir, 'splits.json'), splits);
    const asr: Record<string, number[]> = { clean: [], label_consistent: [] };
    for (const seed of ['0', '1', '2']) {
      for (const mode of ['clean', 'label_consistent']) {
        const r = runCli(['train', '--model', 'mlp', '--trigger', 'rare_value', '--poison-rate', '0.03', '--mode', mode, '--seed', seed, '--data', 'dev.parquet', '--splits', 'splits.json', '--runs-dir', `runs-${mode}`, '--json'], dir);
        assert.equal(r.status, 0, r.stderr);
        const metrics = JSON.parse(r.stdout).runs[0].metrics;
        assert.equal(metrics.data.n_poisoned, 42);
        asr[mode]!.push(metrics.attack.asr);
      }
    }
    // One seed does not settle it: naive clean-label ASR swings by seed. Measured (seeds 0, 1, 2), naive → hardened:
    // MLP on the dense/dropout ops (issue 15): 0.834 → 0.774, 0.687 → 0.815, 0.826 → 0.864 (means 0.782 → 0.818);
    // the earlier tf.layers MLP: 0.298 → 0.811, 0.758 → 0.792, 0.751 → 0.819 (means 0.602 → 0.807).
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    assert.ok(mean(asr.label_consistent!) > mean(asr.clean!) + 0.02, JSON.stringify(asr));
  });
});
