/**
 * The embedded synthetic ICU cohort generator: determinism, prevalence, plausible values, charting frequencies,
 * informative missingness, physiological correlations, repeat stays, and the report's true-risk AUROC.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { variableIndex, type Cohort } from '../src/data/cohort.js';
import { generateSynthetic } from '../src/data/sources/synthetic.js';
import { SYNTHETIC_VARIABLES } from '../src/data/sources/synthetic-schema.js';
import { auroc } from '../src/metrics/classification.js';

function bytesOf(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function pearson(a: number[], b: number[]): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

/** Hours where every named variable is charted, as one array of values per variable. */
function jointlyObserved(cohort: Cohort, names: string[]): number[][] {
  const T = cohort.schema.hours;
  const V = cohort.schema.variables.length;
  const idx = names.map((n) => variableIndex(cohort.schema, n));
  const out: number[][] = names.map(() => []);
  for (let i = 0; i < cohort.n; i++) {
    for (let t = 0; t < T; t++) {
      const vals = idx.map((v) => cohort.series[(i * T + t) * V + v]);
      if (vals.some(Number.isNaN)) continue;
      vals.forEach((x, k) => out[k].push(x));
    }
  }
  return out;
}

/** Mann–Whitney AUROC with midranks for ties, independent of src/metrics. */
function rankAuroc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const n = labels.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  const ranks = new Float64Array(n);
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]] === scores[order[i]]) j++;
    const mid = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k]] = mid;
    i = j + 1;
  }
  let pos = 0;
  let rankSum = 0;
  for (let i = 0; i < n; i++) {
    if (labels[i] === 1) {
      pos++;
      rankSum += ranks[i];
    }
  }
  const neg = n - pos;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

const big = generateSynthetic({ nStays: 4000 });
const C = big.cohort;
const T = C.schema.hours;
const V = C.schema.variables.length;

/** Share of stay-hours in which each variable is charted. */
function chartedShare(cohort: Cohort): Record<string, number> {
  const out: Record<string, number> = {};
  cohort.schema.variables.forEach((spec, v) => {
    let seen = 0;
    for (let i = 0; i < cohort.n; i++) for (let t = 0; t < T; t++) if (!Number.isNaN(cohort.series[(i * T + t) * V + v])) seen++;
    out[spec.name] = seen / (cohort.n * cohort.schema.hours);
  });
  return out;
}
const share = chartedShare(C);

describe('synthetic generator', () => {
  test('same seed gives byte-identical cohorts; a different seed gives a different one', () => {
    const a = generateSynthetic({ nStays: 2000, seed: 11 }).cohort;
    const b = generateSynthetic({ nStays: 2000, seed: 11 }).cohort;
    const c = generateSynthetic({ nStays: 2000, seed: 12 }).cohort;
    assert.equal(a.n, 2000);
    assert.equal(a.series.length, 2000 * 24 * SYNTHETIC_VARIABLES.length);
    assert.equal(a.statics.length, 2000 * 4);
    for (const key of ['series', 'statics', 'labels', 'trueRisk', 'stayIds', 'patientIds'] as const) {
      assert.ok(bytesOf(a[key]!).equals(bytesOf(b[key]!)), `${key} differs between two runs with the same seed`);
    }
    assert.ok(!bytesOf(a.series).equals(bytesOf(c.series)), 'series identical across seeds');
    assert.ok(!bytesOf(a.labels).equals(bytesOf(c.labels)), 'labels identical across seeds');
    assert.ok(!bytesOf(a.statics).equals(bytesOf(c.statics)), 'statics identical across seeds');
    // Not just a shifted copy: a substantial share of the labels differ.
    let diff = 0;
    for (let i = 0; i < a.n; i++) if (a.labels[i] !== c.labels[i]) diff++;
    assert.ok(diff > 100, `only ${diff} labels differ between seeds`);
  });

  test('options are validated', () => {
    assert.throws(() => generateSynthetic({ nStays: 5 }), /nStays must be an integer ≥ 10, got 5/);
    assert.throws(() => generateSynthetic({ nStays: 100, hours: 1 }), /hours must be an integer in \[2, 168\], got 1/);
    assert.throws(() => generateSynthetic({ nStays: 100, prevalence: 1 }), /prevalence must be in \(0, 1\), got 1/);
  });

  test('a 4000-stay cohort has prevalence in [0.10, 0.15] and the report matches the labels', () => {
    let pos = 0;
    for (const y of C.labels) {
      assert.ok(y === 0 || y === 1);
      pos += y;
    }
    const prevalence = pos / C.n;
    assert.ok(prevalence >= 0.1 && prevalence <= 0.15, `prevalence ${prevalence}`);
    assert.equal(big.report.prevalence, prevalence);
    assert.equal(big.report.nStays, 4000);
    // Mean true risk is solved to the target prevalence 0.125.
    let meanRisk = 0;
    for (const p of C.trueRisk!) meanRisk += p;
    meanRisk /= C.n;
    assert.ok(Math.abs(meanRisk - 0.125) < 1e-4, `mean true risk ${meanRisk}`);
  });

  test('every charted value lies in its plausible range, and statics are sane', () => {
    C.schema.variables.forEach((spec, v) => {
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = 0; i < C.n; i++) {
        for (let t = 0; t < T; t++) {
          const x = C.series[(i * T + t) * V + v];
          if (Number.isNaN(x)) continue;
          if (x < lo) lo = x;
          if (x > hi) hi = x;
        }
      }
      assert.ok(lo >= spec.plausibleMin && hi <= spec.plausibleMax, `${spec.name} spans ${lo}..${hi}, outside ${spec.plausibleMin}..${spec.plausibleMax}`);
      // And the variable actually varies (not a constant stuck at a clamp).
      assert.ok(hi > lo, `${spec.name} is constant`);
    });
    const S = C.schema.statics.length;
    let weightMissing = 0;
    for (let i = 0; i < C.n; i++) {
      const [age, female, weight, adm] = C.statics.subarray(i * S, (i + 1) * S);
      assert.ok(age >= 18 && age <= 91 && Number.isInteger(age), `age ${age}`);
      assert.ok(female === 0 || female === 1);
      if (Number.isNaN(weight)) weightMissing++;
      else assert.ok(weight >= 35 && weight <= 200, `weight ${weight}`);
      assert.ok(adm === 0 || adm === 1 || adm === 2, `admission_type ${adm}`);
    }
    // About 7 % of weights are unknown.
    assert.ok(weightMissing / C.n > 0.04 && weightMissing / C.n < 0.1, `weight missing ${weightMissing / C.n}`);
  });

  test('monitor vitals are charted in most hours, temperature and GCS every few hours, labs rarely', () => {
    // Measured on this cohort: HR/SpO2 ≈ 0.82, BP ≈ 0.77, RR ≈ 0.74; temperature and GCS ≈ 0.28; labs 0.06–0.13.
    for (const name of ['heart_rate', 'spo2', 'sbp', 'dbp', 'mbp', 'resp_rate']) {
      assert.ok(share[name] > 0.7 && share[name] < 0.95, `${name} charted in ${share[name]} of hours`);
    }
    // SBP, DBP and MBP come from the same cuff reading: charted in exactly the same hours.
    assert.equal(share.sbp, share.dbp);
    assert.equal(share.sbp, share.mbp);
    for (const name of ['temperature', 'gcs']) {
      assert.ok(share[name] > 0.15 && share[name] < 0.5, `${name} charted in ${share[name]} of hours`);
    }
    for (const spec of C.schema.variables.filter((s) => s.kind === 'lab')) {
      assert.ok(share[spec.name] > 0.03 && share[spec.name] < 0.3, `${spec.name} charted in ${share[spec.name]} of hours`);
    }
    // The report's missing rates are the complements of what we measured.
    for (const spec of C.schema.variables) {
      assert.ok(Math.abs(big.report.missingRate[spec.name] - (1 - share[spec.name])) < 1e-12, spec.name);
    }
  });

  test('missingness is informative in the real direction but no step function: stays that died have somewhat more labs and lactate', () => {
    const labs = C.schema.variables.map((s, v) => (s.kind === 'lab' ? v : -1)).filter((v) => v >= 0);
    const lac = variableIndex(C.schema, 'lactate');
    const sums = [
      { stays: 0, labs: 0, lactateOrdered: 0 },
      { stays: 0, labs: 0, lactateOrdered: 0 },
    ];
    for (let i = 0; i < C.n; i++) {
      let nLabs = 0;
      let nLac = 0;
      for (let t = 0; t < T; t++) {
        for (const v of labs) if (!Number.isNaN(C.series[(i * T + t) * V + v])) nLabs++;
        if (!Number.isNaN(C.series[(i * T + t) * V + lac])) nLac++;
      }
      const s = sums[C.labels[i]];
      s.stays++;
      s.labs += nLabs;
      s.lactateOrdered += nLac > 0 ? 1 : 0;
    }
    const [alive, died] = sums.map((s) => ({ labs: s.labs / s.stays, lactate: s.lactateOrdered / s.stays }));
    // Measured (generator 2): about 24.8 vs 21.2 lab values per stay, lactate ordered in about 77 % vs 60 % of stays.
    // Generator 1 gave 31 vs 22 (a 1.4× step that let charting counts alone reach AUROC 0.81).
    assert.ok(died.labs > 1.08 * alive.labs && died.labs < 1.3 * alive.labs, `labs per stay: died ${died.labs}, survived ${alive.labs}`);
    assert.ok(died.lactate > alive.lactate + 0.05, `lactate ordered: died ${died.lactate}, survived ${alive.lactate}`);
  });

  test('unit habits: about a fifth of stays chart temperature hourly whatever the severity, dying or not', () => {
    const temp = variableIndex(C.schema, 'temperature');
    const hourly = [0, 0];
    const stays = [0, 0];
    for (let i = 0; i < C.n; i++) {
      let n = 0;
      for (let t = 0; t < T; t++) if (!Number.isNaN(C.series[(i * T + t) * V + temp])) n++;
      stays[C.labels[i]]++;
      // 90 % of hourly checks are charted: 24 hours give ≥ 18 with near certainty, interval charting (≥ 2 h gaps) ≤ 12 + a few.
      if (n >= 18) hourly[C.labels[i]]++;
    }
    const share = (hourly[0] + hourly[1]) / C.n;
    assert.ok(share > 0.15 && share < 0.25, `hourly-temperature share ${share}`);
    // The habit is the unit's, not the patient's: the share barely differs between stays that died and survived.
    assert.ok(Math.abs(hourly[1] / stays[1] - hourly[0] / stays[0]) < 0.05, `${hourly[1] / stays[1]} vs ${hourly[0] / stays[0]}`);
  });

  test('physiological correlations: MBP ≈ (SBP + 2·DBP)/3, BUN tracks creatinine, SpO2 falls as RR rises', () => {
    const [mbp, sbp, dbp] = jointlyObserved(C, ['mbp', 'sbp', 'dbp']);
    assert.ok(mbp.length > 50000, `${mbp.length} hours with all three pressures`);
    const formula = sbp.map((s, k) => (s + 2 * dbp[k]) / 3);
    const r = pearson(mbp, formula);
    assert.ok(r > 0.95, `corr(MBP, (SBP+2DBP)/3) = ${r}`);
    // The measurement noise is small: MBP is within a few mmHg of the formula in nearly every hour.
    let close = 0;
    mbp.forEach((m, k) => (close += Math.abs(m - formula[k]) <= 5 ? 1 : 0));
    assert.ok(close / mbp.length > 0.99, `only ${close / mbp.length} of MBP values within 5 mmHg of the formula`);
    assert.ok(sbp.every((s, k) => s > dbp[k]), 'systolic must exceed diastolic');

    const [creat, bun] = jointlyObserved(C, ['creatinine', 'bun']);
    assert.ok(creat.length > 5000);
    const rc = pearson(creat, bun);
    assert.ok(rc > 0.5, `corr(creatinine, BUN) = ${rc}`);

    const [spo2, rr] = jointlyObserved(C, ['spo2', 'resp_rate']);
    const rs = pearson(spo2, rr);
    assert.ok(rs < -0.3, `corr(SpO2, RR) = ${rs}`);
  });

  test('some patients have more than one stay; stay ids are unique', () => {
    const stays = new Map<number, number>();
    for (const p of C.patientIds) stays.set(p, (stays.get(p) ?? 0) + 1);
    const repeat = [...stays.values()].filter((k) => k > 1).length;
    // About 12 % of patients return (measured: ~410 of ~3500).
    assert.ok(repeat > 0.05 * stays.size && repeat < 0.2 * stays.size, `${repeat} of ${stays.size} patients have >1 stay`);
    assert.ok(Math.max(...stays.values()) <= 3);
    assert.equal(big.report.nPatients, stays.size);
    assert.equal(new Set(C.stayIds).size, C.n);
    for (const id of C.stayIds) assert.ok(Number.isInteger(id) && id < 2 ** 31);
  });

  test('trueRiskAuroc equals auroc(labels, trueRisk) and lies in [0.8, 0.95]', () => {
    const expected = auroc(C.labels, C.trueRisk!);
    assert.equal(big.report.trueRiskAuroc, expected);
    assert.ok(Math.abs(expected - rankAuroc(C.labels, C.trueRisk!)) < 1e-9, 'auroc disagrees with the Mann–Whitney statistic');
    assert.ok(expected >= 0.8 && expected <= 0.95, `true-risk AUROC ${expected}`);
  });
});
