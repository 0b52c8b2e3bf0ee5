/**
 * Reference AUROCs of a cohort (true risk, charting-only, values-only) and the logistic regression behind them;
 * the embedded generator's targets (issue 11) pinned for its default seed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { subsetCohort } from '../src/data/cohort.js';
import { referenceAurocs } from '../src/data/reference-aurocs.js';
import { generateSynthetic } from '../src/data/sources/synthetic.js';
import { devSubsetRows, makeSplits, splitRows } from '../src/data/splits.js';
import { SETUP_DEFAULTS } from '../src/data/setup.js';
import { Rng } from '../src/engine/rng.js';
import { fitLogistic, predictLogistic, solveSpd } from '../src/metrics/logistic.js';

describe('logistic regression (Newton / IRLS with an L2 penalty)', () => {
  test('solveSpd solves a 3×3 system', () => {
    const a = Float64Array.from([4, 2, 0, 2, 5, 1, 0, 1, 3]);
    const x = solveSpd(a, Float64Array.from([6, 13, 5]), 3);
    const b = [0, 1, 2].map((i) => a[i * 3] * x[0] + a[i * 3 + 1] * x[1] + a[i * 3 + 2] * x[2]);
    assert.deepEqual(b.map((v) => Number(v.toFixed(10))), [6, 13, 5]);
    assert.throws(() => solveSpd(Float64Array.from([1, 2, 2, 1]), Float64Array.from([1, 1]), 2), /not positive definite/);
  });

  test('recovers the coefficients of a simulated logistic model', () => {
    const rng = new Rng(3);
    const n = 20000;
    const x = new Float64Array(n * 2);
    const y = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      x[2 * i] = rng.normal(0, 1);
      x[2 * i + 1] = rng.normal(5, 2);
      const eta = -1 + 1.5 * x[2 * i] - 0.5 * (x[2 * i + 1] - 5);
      y[i] = rng.bernoulli(1 / (1 + Math.exp(-eta))) ? 1 : 0;
    }
    const model = fitLogistic(x, y, 2, { l2: 1e-6 });
    // Coefficients are on the standardised scale: multiply back by the features' sd (1 and 2).
    assert.ok(Math.abs(model.coef[1] / model.sd[0] - 1.5) < 0.06, `${model.coef[1] / model.sd[0]}`);
    assert.ok(Math.abs(model.coef[2] / model.sd[1] + 0.5) < 0.03, `${model.coef[2] / model.sd[1]}`);
    const p = predictLogistic(model, Float64Array.from([0, 5]));
    assert.ok(Math.abs(p[0] - 1 / (1 + Math.exp(1))) < 0.02, `${p[0]}`);
  });

  test('a strong penalty shrinks the coefficients toward zero; bad input is refused', () => {
    const x = Float64Array.from([0, 1, 2, 3, 4, 5]);
    const y = Uint8Array.from([0, 0, 1, 0, 1, 1]);
    const weak = fitLogistic(x, y, 1, { l2: 0.01 });
    const strong = fitLogistic(x, y, 1, { l2: 100 });
    assert.ok(Math.abs(strong.coef[1]) < Math.abs(weak.coef[1]) / 5);
    assert.throws(() => fitLogistic(Float64Array.from([0, NaN]), Uint8Array.from([0, 1]), 1), /not finite/);
    assert.throws(() => fitLogistic(x, y, 2), /values for/);
  });
});

describe('reference AUROCs of the embedded cohort (default generator seed)', () => {
  const seed = SETUP_DEFAULTS.seed;
  const { cohort } = generateSynthetic({ seed, nStays: SETUP_DEFAULTS.nStays, hours: SETUP_DEFAULTS.hours });
  const splits = makeSplits(cohort, seed);
  const dev = subsetCohort(cohort, devSubsetRows(cohort, splits, SETUP_DEFAULTS.devSize, seed));
  const main = referenceAurocs(cohort, splitRows(cohort, splits));
  const devRef = referenceAurocs(dev, splitRows(dev, splits));

  test('charting-only AUROC within 0.60–0.68 and true-risk ceiling within 0.84–0.90, on the main cohort and the dev test split', () => {
    // Measured: main 0.652 / 0.869, dev 0.649 / 0.871 (PhysioNet 2012 a+b: charting-only 0.708 by the same regression).
    for (const [name, r] of [['main', main], ['dev', devRef]] as const) {
      assert.ok(r.charting_only! >= 0.6 && r.charting_only! <= 0.68, `${name} charting-only ${r.charting_only}`);
      assert.ok(r.true_risk! >= 0.84 && r.true_risk! <= 0.9, `${name} true risk ${r.true_risk}`);
      // The values carry the outcome, as physiology does: far above charting, below the ceiling.
      assert.ok(r.values_only! > r.charting_only! + 0.1 && r.values_only! < r.true_risk!, `${name} values-only ${r.values_only}`);
      // The total count alone, the original measure (generator 1: 0.81; PhysioNet 2012: 0.56–0.58).
      assert.ok(r.charted_total! < 0.6, `${name} charted total ${r.charted_total}`);
    }
    assert.equal(devRef.train_stays + devRef.test_stays < SETUP_DEFAULTS.devSize, true);
  });

  test('a cohort whose charting is the label reaches charting-only AUROC 1 and no true risk', () => {
    const small = subsetCohort(cohort, Array.from({ length: 400 }, (_, i) => i));
    small.trueRisk = undefined;
    const T = small.schema.hours;
    const V = small.schema.variables.length;
    for (let i = 0; i < small.n; i++) for (let t = 0; t < T; t++) small.series[(i * T + t) * V] = t < (small.labels[i] ? 20 : 5) ? 80 : NaN;
    const rows = { train: Array.from({ length: 300 }, (_, i) => i), test: Array.from({ length: 100 }, (_, i) => 300 + i) };
    const r = referenceAurocs(small, rows);
    assert.equal(r.charting_only, 1);
    assert.equal(r.true_risk, null);
  });
});
