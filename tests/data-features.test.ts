/**
 * Tabular and sequence featurizers on tiny hand-made cohorts, with every expected number worked out by hand.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { variableIndex, type Cohort } from '../src/data/cohort.js';
import { FEATURIZERS, meanSd, rowSize, sequenceFeaturizer, tabularFeaturizer } from '../src/data/features/index.js';
import { syntheticSchema } from '../src/data/sources/synthetic-schema.js';

const T = 4;
const schema = syntheticSchema(T);
const V = schema.variables.length;
const S = schema.statics.length;
const HR = variableIndex(schema, 'heart_rate');
const LAC = variableIndex(schema, 'lactate');
const _ = NaN;

/** A cohort of the synthetic schema, every value unknown except those given. */
function handCohort(
  stays: { series?: Record<string, number[]>; statics: [number, number, number, number]; label: 0 | 1 }[],
): Cohort {
  const n = stays.length;
  const cohort: Cohort = {
    schema,
    n,
    stayIds: Float64Array.from(stays, (_s, i) => 100 + i),
    patientIds: Float64Array.from(stays, (_s, i) => 10 + i),
    statics: new Float32Array(n * S),
    series: new Float32Array(n * T * V).fill(NaN),
    labels: Uint8Array.from(stays, (s) => s.label),
  };
  stays.forEach((s, i) => {
    cohort.statics.set(s.statics, i * S);
    for (const [name, values] of Object.entries(s.series ?? {})) {
      assert.equal(values.length, T);
      const v = variableIndex(schema, name);
      values.forEach((x, t) => (cohort.series[(i * T + t) * V + v] = x));
    }
  });
  return cohort;
}

// Training cohort: heart rate charted 3, 1, 0 and 1 times; lactate only in stay 1; glucose never.
// Three observed values per aggregate, so the train median differs from the train mean.
const train = handCohort([
  { series: { heart_rate: [80, _, 90, 70] }, statics: [50, 1, 80, 0], label: 0 },
  { series: { heart_rate: [_, 100, _, _], lactate: [_, 2.5, _, 4.5] }, statics: [70, 0, _, 2], label: 1 },
  { statics: [_, 1, 60, _], label: 0 },
  { series: { heart_rate: [130, _, _, _] }, statics: [94, 0, 100, 1], label: 1 },
]);
const N = 4;
// A different cohort: its own statistics differ a lot from the training ones.
const other = handCohort([
  { series: { heart_rate: [200, 210, 190, 200] }, statics: [30, 0, 120, 1], label: 1 },
  { statics: [90, 1, 40, 0], label: 0 },
  { series: { heart_rate: [_, _, _, 150] }, statics: [40, 0, 50, 1], label: 0 },
]);

function col(names: string[], name: string): number {
  const j = names.indexOf(name);
  assert.ok(j >= 0, `no feature ${name}`);
  return j;
}

function close(actual: number, expected: number, what: string, tol = 1e-5): void {
  assert.ok(Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)), `${what}: ${actual} ≠ ${expected}`);
}

describe('tabular featurizer', () => {
  const state = tabularFeaturizer.fit(train);
  const fx = tabularFeaturizer.transform(state, train);
  const F = fx.rowShape[0];
  const at = (i: number, name: string) => fx.x[i * F + col(fx.names, name)];
  const plan = (name: string) => state.columns.find((c) => c.name === name)!;
  const rows = Array.from({ length: N }, (_r, i) => i);

  // Heart-rate aggregates per training stay, with stay 2 (never charted) imputed by the median of the others.
  //            stay:   0    1    2(imputed)  3
  const hrMean = [80, 100, 100, 130];
  const hrMin = [70, 100, 100, 130];
  const hrMax = [90, 100, 100, 130];
  const hrLast = [70, 100, 100, 130];
  const hrCount = [3, 1, 0, 1];

  test('layout: six columns per variable, then statics with missing indicators and one-hot categories', () => {
    assert.equal(F, V * 6 + 2 + 2 + 2 + 3);
    assert.equal(rowSize(fx), F);
    assert.equal(fx.n, N);
    assert.equal(fx.x.length, N * F);
    assert.deepEqual(fx.names.slice(0, 6), ['heart_rate_mean', 'heart_rate_min', 'heart_rate_max', 'heart_rate_last', 'heart_rate_count', 'heart_rate_missing']);
    assert.deepEqual(fx.names.slice(V * 6), [
      'age', 'age_missing', 'sex_female', 'sex_female_missing', 'weight', 'weight_missing',
      'admission_type=elective', 'admission_type=emergency', 'admission_type=urgent',
    ]);
    assert.deepEqual(fx.sources.slice(0, 6), Array(6).fill('heart_rate'));
    assert.equal(fx.sources[F - 1], 'admission_type');
    assert.ok(FEATURIZERS.tabular === tabularFeaturizer && FEATURIZERS.sequence === sequenceFeaturizer);
  });

  test('the fitted plan: train-median imputation, then mean and sd of the imputed column', () => {
    // heart_rate_mean observed [80, 100, 130] → median 100 (the mean would be 103.33).
    assert.equal(plan('heart_rate_mean').impute, 100);
    assert.equal(plan('heart_rate_mean').mean, 102.5);
    close(plan('heart_rate_mean').sd, Math.sqrt(318.75), 'sd of [80,100,100,130]');
    assert.equal(plan('heart_rate_min').impute, 100);
    assert.equal(plan('heart_rate_max').impute, 100);
    assert.equal(plan('heart_rate_last').impute, 100);
    // count is never missing: [3, 1, 0, 1] → median 1, mean 1.25, sd √1.1875.
    assert.equal(plan('heart_rate_count').impute, 1);
    assert.equal(plan('heart_rate_count').mean, 1.25);
    close(plan('heart_rate_count').sd, Math.sqrt(1.1875), 'count sd');
    // Indicators are not scaled.
    const miss = plan('heart_rate_missing');
    assert.deepEqual([miss.mean, miss.sd, miss.scaled], [0, 1, false]);
    // A variable never charted in training imputes 0 and has no spread (sd falls back to 1).
    assert.deepEqual([plan('glucose_mean').impute, plan('glucose_mean').mean, plan('glucose_mean').sd], [0, 0, 1]);
    // Statics: age observed [50, 70, 94] → median 70; weight [80, 60, 100] → median 80.
    assert.equal(plan('age').impute, 70);
    assert.equal(plan('age').mean, 71);
    assert.equal(plan('weight').impute, 80);
    assert.equal(plan('sex_female').scaled, false);
  });

  test('exact standardized heart-rate aggregates for every stay', () => {
    for (const [name, column] of [['mean', hrMean], ['min', hrMin], ['max', hrMax], ['last', hrLast], ['count', hrCount]] as const) {
      const { mean, sd } = meanSd(column);
      for (const i of rows) close(at(i, `heart_rate_${name}`), (column[i] - mean) / sd, `stay ${i} heart_rate_${name}`);
    }
    // Spot-check by hand: stay 0 mean (80 − 102.5)/√318.75; stay 2 imputed (100 − 102.5)/√318.75.
    close(at(0, 'heart_rate_mean'), -22.5 / Math.sqrt(318.75), 'stay 0 mean by hand');
    close(at(2, 'heart_rate_mean'), -2.5 / Math.sqrt(318.75), 'stay 2 imputed mean by hand');
    close(at(0, 'heart_rate_count'), 1.75 / Math.sqrt(1.1875), 'stay 0 count by hand');
    assert.deepEqual(rows.map((i) => at(i, 'heart_rate_missing')), [0, 0, 1, 0]);
    // Lactate, only in stay 1 ([2.5, 4.5]): 3.5 everywhere after imputation → sd 0 → 1, so x = raw − 3.5 = 0;
    // last = 4.5 for everyone.
    assert.equal(plan('lactate_mean').impute, 3.5);
    assert.deepEqual(rows.map((i) => at(i, 'lactate_mean')), [0, 0, 0, 0]);
    assert.equal(plan('lactate_last').impute, 4.5);
    assert.deepEqual(rows.map((i) => at(i, 'lactate_missing')), [1, 0, 1, 1]);
    close(at(1, 'lactate_count'), (2 - 0.5) / Math.sqrt(0.75), 'lactate count of stay 1');
  });

  test('statics: numeric scaled with a missing indicator, binary unscaled, categorical one-hot', () => {
    // age [50, 70, NaN→70, 94]: mean 71, sd √((441 + 1 + 1 + 529)/4) = √243.
    const ageSd = Math.sqrt(243);
    close(meanSd([50, 70, 70, 94]).sd, ageSd, 'age sd');
    assert.deepEqual(rows.map((i) => Math.round(at(i, 'age') * ageSd * 1e4) / 1e4), [-21, -1, -1, 23]);
    assert.deepEqual(rows.map((i) => at(i, 'age_missing')), [0, 0, 1, 0]);
    assert.deepEqual(rows.map((i) => at(i, 'sex_female')), [1, 0, 1, 0]);
    // weight [80, NaN→80, 60, 100]: mean 80.
    assert.deepEqual(rows.map((i) => at(i, 'weight_missing')), [0, 1, 0, 0]);
    assert.equal(at(1, 'weight'), 0);
    const oneHot = (i: number) => ['elective', 'emergency', 'urgent'].map((c) => at(i, `admission_type=${c}`));
    assert.deepEqual(oneHot(0), [1, 0, 0]);
    assert.deepEqual(oneHot(1), [0, 0, 1]);
    assert.deepEqual(oneHot(2), [0, 0, 0], 'unknown admission type: no category set');
    assert.deepEqual(oneHot(3), [0, 1, 0]);
  });

  test('a fitted state standardizes another cohort with the TRAIN statistics and TRAIN medians', () => {
    const ox = tabularFeaturizer.transform(state, other);
    const oat = (i: number, name: string) => ox.x[i * F + col(ox.names, name)];
    const sdMean = Math.sqrt(318.75);
    // Stay 0 has a mean heart rate of 200: (200 − 102.5) / √318.75, not its own-cohort z-score.
    close(oat(0, 'heart_rate_mean'), (200 - 102.5) / sdMean, 'other stay 0 mean');
    close(oat(0, 'heart_rate_max'), (210 - meanSd(hrMax).mean) / meanSd(hrMax).sd, 'other stay 0 max');
    close(oat(2, 'heart_rate_last'), (150 - meanSd(hrLast).mean) / meanSd(hrLast).sd, 'other stay 2 last');
    // Stay 1 never has heart rate: imputed with the TRAIN median 100 (its own cohort's median would be 175,
    // the train mean 103.3).
    close(oat(1, 'heart_rate_mean'), (100 - 102.5) / sdMean, 'other stay 1 mean imputed with the train median');
    assert.equal(oat(1, 'heart_rate_missing'), 1);
    close(oat(1, 'heart_rate_count'), (0 - 1.25) / Math.sqrt(1.1875), 'other stay 1 count');
    // Glucose never charted in training: imputed 0, mean 0, sd 1 → 0.
    assert.equal(oat(0, 'glucose_mean'), 0);
    close(oat(0, 'age'), (30 - 71) / Math.sqrt(243), 'other age 0');
    close(oat(1, 'weight'), (40 - 80) / meanSd([80, 80, 60, 100]).sd, 'other weight 1');
    assert.deepEqual(['elective', 'emergency', 'urgent'].map((c) => oat(0, `admission_type=${c}`)), [0, 1, 0]);
    // Fitting on the other cohort instead gives different numbers for the same stay.
    const own = tabularFeaturizer.transform(tabularFeaturizer.fit(other), other);
    close(own.x[col(own.names, 'heart_rate_mean')], (200 - meanSd([200, 175, 150]).mean) / meanSd([200, 175, 150]).sd, 'own-fit stay 0');
    assert.notEqual(own.x[col(own.names, 'heart_rate_mean')], ox.x[col(ox.names, 'heart_rate_mean')]);
    // The state is plain JSON and survives a round trip.
    const revived = JSON.parse(JSON.stringify(state));
    assert.deepEqual(Array.from(tabularFeaturizer.transform(revived, other).x), Array.from(ox.x));
  });
});

describe('sequence featurizer', () => {
  const state = sequenceFeaturizer.fit(train);
  const fx = sequenceFeaturizer.transform(state, train);
  // Statics after the 2V series channels: age and weight (value, missing), sex (value, missing), admission one-hot (3).
  const K = 2 + 2 + 2 + 3;
  const C = 2 * V + K;
  const val = (x: Float32Array, i: number, t: number, v: number) => x[(i * T + t) * C + v];
  const mask = (x: Float32Array, i: number, t: number, v: number) => x[(i * T + t) * C + V + v];
  // Heart-rate charted training values 80, 90, 70, 100, 130: mean 94, population sd √424.
  const sd = Math.sqrt(424);
  const z = (x: number) => (x - 94) / sd;
  const hours = [0, 1, 2, 3];

  test('state holds the charted-value statistics of training', () => {
    assert.equal(state.mean[HR], 94);
    close(state.sd[HR], sd, 'hr sd');
    assert.equal(state.mean[LAC], 3.5);
    assert.equal(state.sd[LAC], 1);
    // Never charted: mean 0, sd 1.
    assert.equal(state.mean[variableIndex(schema, 'glucose')], 0);
    assert.equal(state.sd[variableIndex(schema, 'glucose')], 1);
    assert.deepEqual(fx.rowShape, [T, C]);
    assert.equal(rowSize(fx), T * C);
    assert.equal(fx.names[HR], 'heart_rate');
    assert.equal(fx.names[V + HR], 'heart_rate_observed');
    assert.equal(fx.sources[V + HR], 'heart_rate');
    assert.equal(fx.staticChannels, K);
    assert.deepEqual(fx.names.slice(2 * V), ['age', 'age_missing', 'sex_female', 'sex_female_missing', 'weight', 'weight_missing', 'admission_type=elective', 'admission_type=emergency', 'admission_type=urgent']);
    assert.deepEqual(fx.sources.slice(2 * V), ['age', 'age', 'sex_female', 'sex_female', 'weight', 'weight', 'admission_type', 'admission_type', 'admission_type']);
  });

  test('statics repeat at every hour: numeric standardised on training, missing → 0 with indicator, categories one-hot', () => {
    const statics = (x: Float32Array, i: number, t: number) => Array.from(x.subarray((i * T + t) * C + 2 * V, (i * T + t + 1) * C));
    // Training ages 50, 70, 94 (one missing): mean 214/3; weights 80, 60, 100: mean 80, population sd √(800/3).
    const ageMean = 214 / 3;
    const ageSd = Math.sqrt(((50 - ageMean) ** 2 + (70 - ageMean) ** 2 + (94 - ageMean) ** 2) / 3);
    const wSd = Math.sqrt(800 / 3);
    const stay0 = statics(fx.x, 0, 0);
    close(stay0[0], (50 - ageMean) / ageSd, 'stay 0 age');
    assert.deepEqual(stay0.slice(1), [0, 1, 0, 0, 0, 1, 0, 0]);
    const stay1 = statics(fx.x, 1, 2);
    close(stay1[0], (70 - ageMean) / ageSd, 'stay 1 age');
    assert.deepEqual(stay1.slice(1), [0, 0, 0, 0, 1, 0, 0, 1]);
    // Stay 2: age and admission type unknown.
    const stay2 = statics(fx.x, 2, 3);
    assert.deepEqual([stay2[0], stay2[1], stay2[2], stay2[3]], [0, 1, 1, 0]);
    close(stay2[4], (60 - 80) / wSd, 'stay 2 weight');
    assert.deepEqual(stay2.slice(5), [0, 0, 0, 0]);
    for (let t = 1; t < T; t++) assert.deepEqual(statics(fx.x, 3, t), statics(fx.x, 3, 0), `stay 3 hour ${t}`);
    // A state fitted before statics joined the view keeps the 2V channels of its run.
    const { statics: _omitted, ...old } = state;
    const oldFx = sequenceFeaturizer.transform(old, train);
    assert.deepEqual(oldFx.rowShape, [T, 2 * V]);
    assert.equal(oldFx.staticChannels, 0);
  });

  test('carry-forward, leading gaps at 0, exact masks', () => {
    // Stay 0: [80, _, 90, 70] → carried [z80, z80, z90, z70], mask [1, 0, 1, 1].
    [z(80), z(80), z(90), z(70)].forEach((e, t) => close(val(fx.x, 0, t, HR), e, `stay 0 hour ${t}`));
    assert.deepEqual(hours.map((t) => mask(fx.x, 0, t, HR)), [1, 0, 1, 1]);
    // Stay 1: [_, 100, _, _] → [0, z100, z100, z100], mask [0, 1, 0, 0].
    assert.equal(val(fx.x, 1, 0, HR), 0);
    [1, 2, 3].forEach((t) => close(val(fx.x, 1, t, HR), z(100), `stay 1 hour ${t}`));
    assert.deepEqual(hours.map((t) => mask(fx.x, 1, t, HR)), [0, 1, 0, 0]);
    // Stay 3: [130, _, _, _] carried to the end.
    hours.forEach((t) => close(val(fx.x, 3, t, HR), z(130), `stay 3 hour ${t}`));
    // Lactate in stay 1 at hours 1 and 3: [_, 2.5, _, 4.5] → [0, −1, −1, 1].
    assert.deepEqual(hours.map((t) => val(fx.x, 1, t, LAC)), [0, -1, -1, 1]);
    assert.deepEqual(hours.map((t) => mask(fx.x, 1, t, LAC)), [0, 1, 0, 1]);
    // Stay 2 charts nothing: every value and mask is 0.
    for (let t = 0; t < T; t++) for (let c = 0; c < 2 * V; c++) assert.equal(val(fx.x, 2, t, c), 0);
    // Masks are exactly the charted positions of the raw series.
    for (let i = 0; i < train.n; i++) {
      for (let t = 0; t < T; t++) {
        for (let v = 0; v < V; v++) {
          assert.equal(mask(fx.x, i, t, v), Number.isNaN(train.series[(i * T + t) * V + v]) ? 0 : 1);
        }
      }
    }
  });

  test('another cohort is scaled with the training mean and sd', () => {
    const ox = sequenceFeaturizer.transform(state, other).x;
    [200, 210, 190, 200].forEach((raw, t) => close(val(ox, 0, t, HR), z(raw), `other stay 0 hour ${t}`));
    assert.deepEqual([0, 1, 2].map((t) => val(ox, 2, t, HR)), [0, 0, 0]);
    close(val(ox, 2, 3, HR), z(150), 'other stay 2 hour 3');
    assert.deepEqual(hours.map((t) => mask(ox, 2, t, HR)), [0, 0, 0, 1]);
    // Fitted on the other cohort the same stay would be scaled differently.
    const own = sequenceFeaturizer.fit(other);
    assert.notEqual(own.mean[HR], state.mean[HR]);
  });
});
