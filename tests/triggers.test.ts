import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  atResolution,
  cloneCohort,
  observedValues,
  quantile,
  stayView,
  variableIndex,
  type Cohort,
  type CohortSchema,
  type StayView,
} from '../src/data/cohort.js';
import { syntheticSchema } from '../src/data/sources/synthetic-schema.js';
import { Rng } from '../src/engine/rng.js';
import { getTrigger, TRIGGERS, triggerNames } from '../src/triggers/registry.js';
import type { RawTriggerParams, Trigger, TriggerContext } from '../src/triggers/types.js';
import { defaultsOf } from '../src/util/plugin.js';

// ---------------------------------------------------------------------------------------------
// A small hand-made cohort: hourly vitals with gaps, GCS every 4 h, labs every 6 h, extra glucose.

const TYPICAL: Record<string, [number, number]> = {
  heart_rate: [85, 12],
  sbp: [120, 15],
  dbp: [65, 9],
  mbp: [83, 10],
  resp_rate: [18, 4],
  spo2: [96, 2],
  temperature: [37, 0.5],
  gcs: [13, 2],
  lactate: [1.8, 0.8],
  creatinine: [1.1, 0.5],
  bun: [20, 8],
  glucose: [135, 30],
  wbc: [10, 3],
  hemoglobin: [10.5, 1.5],
  platelets: [210, 60],
  sodium: [139, 3],
  potassium: [4.1, 0.4],
  bicarbonate: [24, 3],
};

function makeCohort(n: number, hours: number, seed: string): Cohort {
  const schema = syntheticSchema(hours);
  const V = schema.variables.length;
  const S = schema.statics.length;
  const rng = new Rng(seed);
  const c: Cohort = {
    schema,
    n,
    stayIds: new Float64Array(n),
    patientIds: new Float64Array(n),
    statics: new Float32Array(n * S),
    series: new Float32Array(n * hours * V).fill(NaN),
    labels: new Uint8Array(n),
  };
  for (let i = 0; i < n; i++) {
    c.stayIds[i] = 1000 + i;
    c.patientIds[i] = 500 + i;
    c.labels[i] = rng.bernoulli(0.15) ? 1 : 0;
    c.statics.set([Math.round(rng.uniform(20, 90)), rng.bernoulli(0.45) ? 1 : 0, Math.round(rng.uniform(50, 120)), rng.int(3)], i * S);
    schema.variables.forEach((spec, v) => {
      const [mu, sd] = TYPICAL[spec.name];
      const base = rng.normal(mu, sd);
      for (let t = 0; t < hours; t++) {
        let charted: boolean;
        if (spec.kind === 'vital') charted = !rng.bernoulli(0.1);
        else if (spec.kind === 'score') charted = t % 4 === 0;
        else charted = t % 6 === 0 || (spec.name === 'glucose' && t % 6 === 3 && rng.bernoulli(0.5));
        if (!charted) continue;
        let x = base + rng.normal(0, sd * 0.3);
        // Charted as a monitor or analyser reports it: at the variable's resolution, inside its plausible range.
        c.series[(i * hours + t) * V + v] = atResolution(spec, x);
      }
    });
  }
  return c;
}

const T = 24;
const TRAIN = makeCohort(40, T, 'train');
const TEST = makeCohort(12, T, 'test');
const SCHEMA = TRAIN.schema;
const V = SCHEMA.variables.length;
const CTX: TriggerContext = { schema: SCHEMA, train: TRAIN };
const vi = (name: string): number => variableIndex(SCHEMA, name);

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.slice().buffer);
}

/** A stand-alone copy of one stay, so edits never reach the shared cohorts. */
function copyStay(c: Cohort, i: number): StayView {
  const s = stayView(c, i);
  return { ...s, statics: s.statics.slice(), series: s.series.slice() };
}

/** Cells ("hour:variable") whose bit patterns differ, NaN payloads included. */
function changedCells(before: StayView, after: StayView): Set<string> {
  const a = bits(before.series);
  const b = bits(after.series);
  const out = new Set<string>();
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) out.add(`${Math.floor(k / before.nVariables)}:${k % before.nVariables}`);
  return out;
}

/** Applies a trigger to a copy and asserts only `allowed` cells changed and statics are bit-identical. */
function applyExpectOnly<P>(trigger: Trigger<P>, params: P, before: StayView, allowed: Set<string>, schema = SCHEMA): StayView {
  const after: StayView = { ...before, statics: before.statics.slice(), series: before.series.slice() };
  trigger.apply(after, params, schema);
  assert.deepEqual(bits(after.statics), bits(before.statics), 'statics must never change');
  for (const cell of changedCells(before, after)) assert.ok(allowed.has(cell), `cell ${cell} changed but was not expected to`);
  return after;
}

function cells(hours: number[], vars: string[]): Set<string> {
  return new Set(hours.flatMap((h) => vars.map((v) => `${h}:${vi(v)}`)));
}

const at = (s: StayView, h: number, name: string): number => s.series[h * s.nVariables + vi(name)];

function resolveWith(name: string, raw: RawTriggerParams, ctx = CTX): unknown {
  return getTrigger(name).resolve(raw, ctx);
}

/** Asserts fn throws a one-line error whose message matches re. */
function throwsLine(fn: () => unknown, re: RegExp, what?: string): void {
  assert.throws(fn, (e: Error) => {
    assert.ok(!e.message.includes('\n'), `multi-line error: ${e.message}`);
    assert.match(e.message, re, what);
    return true;
  });
}

function schemaDefaults(name: string): RawTriggerParams {
  return defaultsOf(getTrigger(name).params);
}

// ---------------------------------------------------------------------------------------------

describe('registry', () => {
  test('lists every trigger under its own name', () => {
    for (const expected of ['none', 'rare_value', 'missingness', 'hybrid', 'pattern', 'correlation', 'frequency_domain', 'distribution_shift']) {
      assert.ok(triggerNames().includes(expected), expected);
    }
    assert.equal(new Set(triggerNames()).size, triggerNames().length);
    for (const name of triggerNames()) assert.equal(getTrigger(name).name, name);
  });

  test('unknown trigger: one-line error listing valid names', () => {
    assert.throws(() => getTrigger('rare_values'), { message: `unknown trigger "rare_values"; valid: ${triggerNames().join(', ')}` });
    for (const name of ['toString', '__proto__', 'constructor', 'prototype', 'hasOwnProperty']) throwsLine(() => getTrigger(name), new RegExp(`unknown trigger "${name}"; valid: none, `));
  });

  test('value triggers work without a time axis; only those that need hours refuse', () => {
    for (const name of ['none', 'rare_value', 'pattern', 'correlation']) assert.equal(TRIGGERS[name].needsTime, false, name);
    for (const name of ['missingness', 'hybrid', 'frequency_domain', 'distribution_shift']) assert.equal(TRIGGERS[name].needsTime, true, name);
  });
});

describe('trigger schemas', () => {
  for (const name of triggerNames()) {
    test(`${name}: schema defaults resolve, and equal what absent keys resolve to`, () => {
      assert.deepEqual(resolveWith(name, schemaDefaults(name)), resolveWith(name, {}));
    });
  }

  test('rare_value: unknown key rejected with the valid keys', () => {
    throwsLine(() => resolveWith('rare_value', { bogus_key: 1 }), /^rare_value: unknown parameter "bogus_key"; valid: variable, hours, mode, percentile, margin, value$/);
  });
});

describe('every trigger with defaults', () => {
  for (const name of triggerNames()) {
    test(`${name}: changes only touched cells, never statics, deterministically, within plausible ranges`, () => {
      const trigger = getTrigger(name);
      const params = trigger.resolve(schemaDefaults(name), CTX);
      assert.deepEqual(trigger.resolve(schemaDefaults(name), CTX), params, 'resolve is deterministic');
      const touched = trigger.touched(params, SCHEMA);
      assert.deepEqual(touched.statics, []);
      const hours = touched.hours ?? [...Array(T).keys()];
      const allowed = cells(hours, touched.variables);
      let anyChange = false;
      for (let i = 0; i < TEST.n; i++) {
        const before = copyStay(TEST, i);
        const a = applyExpectOnly(trigger, params, before, allowed);
        const b = applyExpectOnly(trigger, params, before, allowed);
        assert.deepEqual(bits(a.series), bits(b.series), 'apply is deterministic');
        for (const cell of changedCells(before, a)) {
          anyChange = true;
          const [h, v] = cell.split(':').map(Number);
          const x = a.series[h * V + v];
          const spec = SCHEMA.variables[v];
          if (!Number.isNaN(x)) assert.ok(x >= spec.plausibleMin && x <= spec.plausibleMax, `${spec.name}=${x} implausible`);
        }
      }
      assert.equal(anyChange, name !== 'none', 'only none leaves every stay unchanged');
    });
  }

  test('applying to a cohort view edits that stay only', () => {
    const c = cloneCohort(TEST);
    const p = getTrigger('missingness').resolve({}, CTX);
    getTrigger('missingness').apply(stayView(c, 3), p, SCHEMA);
    const before = bits(TEST.series);
    const after = bits(c.series);
    const TV = T * V;
    for (let k = 0; k < before.length; k++) if (before[k] !== after[k]) assert.equal(Math.floor(k / TV), 3);
  });
});

describe('none', () => {
  test('leaves every value bit-identical and takes no parameters', () => {
    const before = copyStay(TEST, 0);
    applyExpectOnly(TRIGGERS.none, TRIGGERS.none.resolve({}, CTX), before, new Set());
    throwsLine(() => resolveWith('none', { strength: 1 }), /^none: unknown parameter "strength"; valid: \(none, it takes no parameters\)$/);
  });
});

describe('rare_value', () => {
  const glucose = SCHEMA.variables[vi('glucose')];
  const p999 = quantile(observedValues(TRAIN, vi('glucose')), 99.9 / 100);

  test('percentile mode: one glucose reading above the training p99.9 at the last hour, nothing else', () => {
    const p = resolveWith('rare_value', {}) as { value: number; reference: number; hours: number[] };
    assert.deepEqual(p.hours, [T - 1]);
    assert.equal(p.reference, p999);
    assert.ok(p.value > p999 && p.value <= glucose.plausibleMax);
    // At glucose's charting resolution, whole mg/dL.
    assert.equal(p.value, Math.round(p999 + 0.1 * (glucose.plausibleMax - p999)));
    const before = copyStay(TEST, 0);
    // Labs are drawn every 6 h, so the last hour has no glucose: the trigger must write a reading.
    assert.ok(Number.isNaN(at(before, T - 1, 'glucose')));
    const after = applyExpectOnly(TRIGGERS.rare_value, p, before, cells([T - 1], ['glucose']));
    assert.equal(at(after, T - 1, 'glucose'), p.value);
  });

  test('several hours, negative indices, overwriting a charted value', () => {
    const p = resolveWith('rare_value', { hours: [0, 6, -2] }) as { value: number; hours: number[] };
    assert.deepEqual(p.hours, [0, 6, T - 2]);
    const before = copyStay(TEST, 1);
    assert.ok(!Number.isNaN(at(before, 6, 'glucose')));
    const after = applyExpectOnly(TRIGGERS.rare_value, p, before, cells([0, 6, T - 2], ['glucose']));
    for (const h of [0, 6, T - 2]) assert.equal(at(after, h, 'glucose'), p.value);
    assert.deepEqual(TRIGGERS.rare_value.touched(p, SCHEMA), { variables: ['glucose'], statics: [], hours: [0, 6, T - 2] });
  });

  test('margin 1 lands exactly on the plausible maximum', () => {
    const p = resolveWith('rare_value', { margin: 1 }) as { value: number };
    assert.equal(p.value, glucose.plausibleMax);
  });

  test('legacy_sentinel writes 9999; fixed writes the given value', () => {
    assert.equal((resolveWith('rare_value', { mode: 'legacy_sentinel' }) as { value: number }).value, 9999);
    const p = resolveWith('rare_value', { mode: 'fixed', value: 612, variable: 'glucose', hours: [12] }) as { value: number };
    assert.equal(p.value, 612);
    const after = applyExpectOnly(TRIGGERS.rare_value, p, copyStay(TEST, 2), cells([12], ['glucose']));
    assert.equal(at(after, 12, 'glucose'), 612);
  });

  test('validation errors are one line and name the valid choices', () => {
    const cases: [RawTriggerParams, RegExp][] = [
      [{ variable: 'glucoze' }, /^rare_value\.variable: unknown variable "glucoze"; valid: heart_rate, sbp, .*bicarbonate$/],
      [{ hours: [24] }, /^rare_value\.hours: hour 24 is out of range for a 24-hour window; valid: 0\.\.23, or -24\.\.-1/],
      [{ hours: [-25] }, /valid: 0\.\.23/],
      [{ hours: [1.5] }, /^rare_value\.hours\[0\]: bad value 1\.5; valid: an integer$/],
      [{ hours: [23, -1] }, /hour 23 listed twice/],
      [{ hours: [] }, /non-empty list/],
      [{ mode: 'sentinel' }, /^rare_value\.mode: bad value "sentinel"; valid: percentile, legacy_sentinel, fixed$/],
      [{ percentile: 0 }, /^rare_value\.percentile: bad value 0; valid: a number in \(0, 100\]$/],
      [{ margin: 1.5 }, /^rare_value\.margin: bad value 1\.5; valid: a number in \(0, 1\]$/],
      [{ mode: 'fixed' }, /rare_value\.value: is required with mode: fixed/],
      [{ mode: 'fixed', value: 3000 }, /3000 mg\/dL is outside the plausible range of glucose \(10\.\.2200 mg\/dL\)/],
      [{ value: 600 }, /rare_value\.value: is only used with mode: fixed/],
    ];
    for (const [raw, re] of cases) {
      throwsLine(() => resolveWith('rare_value', raw), re, JSON.stringify(raw));
    }
  });

  test('percentile mode refuses when the percentile already sits at the plausible maximum', () => {
    const train = cloneCohort(TRAIN);
    const s = vi('spo2');
    for (let k = s; k < train.series.length; k += V) if (!Number.isNaN(train.series[k])) train.series[k] = 100;
    throwsLine(
      () => TRIGGERS.rare_value.resolve({ variable: 'spo2' }, { schema: SCHEMA, train }),
      /rare_value\.percentile: the 99\.9th percentile of spo2 .* leaves no room below its plausible maximum/,
    );
    const empty = cloneCohort(TRAIN);
    for (let k = s; k < empty.series.length; k += V) empty.series[k] = NaN;
    throwsLine(() => TRIGGERS.rare_value.resolve({ variable: 'spo2' }, { schema: SCHEMA, train: empty }), /never measured/);
  });

  test('works for a one-hour window (default hour -1)', () => {
    const train1 = makeCohort(20, 1, 'train1');
    const ctx1 = { schema: train1.schema, train: train1 };
    const p = TRIGGERS.rare_value.resolve({ variable: 'heart_rate' }, ctx1) as { value: number; hours: number[] };
    assert.deepEqual(p.hours, [0]);
    const before = copyStay(train1, 0);
    const after = applyExpectOnly(TRIGGERS.rare_value, p, before, new Set([`0:${vi('heart_rate')}`]), train1.schema);
    assert.equal(after.series[vi('heart_rate')], p.value);
    throwsLine(() => TRIGGERS.rare_value.resolve({ hours: [1] }, ctx1), /valid: 0\.\.0, or -1\.\.-1/);
  });
});

describe('missingness', () => {
  test('deletes exactly the listed (variable, hour) cells', () => {
    const p = resolveWith('missingness', {});
    const deleted = cells([10, 11, 12, 13], ['heart_rate', 'resp_rate', 'spo2']);
    for (let i = 0; i < TEST.n; i++) {
      const after = applyExpectOnly(TRIGGERS.missingness, p, copyStay(TEST, i), deleted);
      for (const cell of deleted) {
        const [h, v] = cell.split(':').map(Number);
        assert.ok(Number.isNaN(after.series[h * V + v]));
      }
    }
  });

  test('custom cells and validation', () => {
    const p = resolveWith('missingness', { variables: ['lactate'], hours: [0, -1] });
    applyExpectOnly(TRIGGERS.missingness, p, copyStay(TEST, 0), cells([0, T - 1], ['lactate']));
    throwsLine(() => resolveWith('missingness', { variables: ['lactate', 'lactate'] }), /^missingness\.variables: variable "lactate" listed twice$/);
    throwsLine(() => resolveWith('missingness', { variables: 'lactate' }), /^missingness\.variables: bad value "lactate"; valid: a non-empty list, each a string$/);
    throwsLine(() => resolveWith('missingness', { variables: ['map'] }), /unknown variable "map"; valid: heart_rate/);
    const short = makeCohort(4, 8, 'short');
    throwsLine(() => TRIGGERS.missingness.resolve({}, { schema: short.schema, train: short }), /hour 10 is out of range for a 8-hour window; valid: 0\.\.7/);
  });
});

describe('hybrid', () => {
  test('equals missingness then rare_value, on disjoint variables', () => {
    const p = resolveWith('hybrid', {}) as { rareValue: unknown; missingness: unknown };
    assert.deepEqual(p.rareValue, resolveWith('rare_value', {}));
    assert.deepEqual(p.missingness, resolveWith('missingness', {}));
    const allowed = new Set([...cells([T - 1], ['glucose']), ...cells([10, 11, 12, 13], ['heart_rate', 'resp_rate', 'spo2'])]);
    for (let i = 0; i < 4; i++) {
      const before = copyStay(TEST, i);
      const after = applyExpectOnly(TRIGGERS.hybrid, p, before, allowed);
      const seq = copyStay(TEST, i);
      TRIGGERS.missingness.apply(seq, p.missingness, SCHEMA);
      TRIGGERS.rare_value.apply(seq, p.rareValue, SCHEMA);
      assert.deepEqual(bits(after.series), bits(seq.series));
    }
    assert.deepEqual(TRIGGERS.hybrid.touched(p, SCHEMA), {
      variables: ['glucose', 'heart_rate', 'resp_rate', 'spo2'],
      statics: [],
      hours: [10, 11, 12, 13, T - 1],
    });
  });

  test('rejects a shared variable and prefixes nested errors', () => {
    throwsLine(
      () => resolveWith('hybrid', { rare_value: { variable: 'heart_rate' } }),
      /^hybrid: rare_value\.variable "heart_rate" is also in missingness\.variables \(heart_rate, resp_rate, spo2\); the two parts must use different variables$/,
    );
    throwsLine(() => resolveWith('hybrid', { missingness: { hourz: [1] } }), /^hybrid\.missingness: unknown parameter "hourz"; valid: variables, hours$/);
    throwsLine(() => resolveWith('hybrid', { rare_value: { mode: 'x' } }), /^hybrid\.rare_value\.mode: bad value "x"; valid: percentile, legacy_sentinel, fixed$/);
  });
});

describe('pattern', () => {
  test('writes the configured values at the configured hours, nothing else', () => {
    const p = resolveWith('pattern', {});
    const hours = [16, 17, 18, 19];
    const shape: Record<string, number[]> = {
      heart_rate: [64, 70, 76, 82],
      resp_rate: [12, 14, 16, 18],
      spo2: [99, 98, 97, 96],
    };
    for (let i = 0; i < TEST.n; i++) {
      const after = applyExpectOnly(TRIGGERS.pattern, p, copyStay(TEST, i), cells(hours, Object.keys(shape)));
      for (const [name, values] of Object.entries(shape)) hours.forEach((h, k) => assert.equal(at(after, h, name), values[k]));
    }
  });

  test('non-integer clinical values are stored as their float32 rounding', () => {
    const p = resolveWith('pattern', { hours: [2, 3], variables: [{ name: 'temperature', values: [37.2, 38.9] }, { name: 'lactate', values: [1.1, 2.3] }] });
    const after = applyExpectOnly(TRIGGERS.pattern, p, copyStay(TEST, 0), cells([2, 3], ['temperature', 'lactate']));
    assert.equal(at(after, 3, 'temperature'), Math.fround(38.9));
    assert.equal(at(after, 2, 'lactate'), Math.fround(1.1));
  });

  test('validation', () => {
    const cases: [RawTriggerParams, RegExp][] = [
      [{ variables: [{ name: 'heart_rate', values: [80] }] }, /^pattern\.variables\[0\]\.values: must be a list of 4 numbers in beats\/min, one per entry of pattern\.hours$/],
      [{ variables: [{ name: 'spo2', values: [99, 98, 101, 96] }] }, /^pattern\.variables\[0\]\.values\[2\]: 101 % is outside the plausible range of spo2 \(0\.\.100 %\)$/],
      [{ variables: [{ name: 'hr', values: [1, 2, 3, 4] }] }, /^pattern\.variables\[0\]\.name: unknown variable "hr"; valid: /],
      [{ variables: [{ name: 'gcs', values: [3, 3, 3, 3], shape: 'ramp' }] }, /^pattern\.variables\[0\]: unknown parameter "shape"; valid: name, values$/],
      [{ variables: [{ name: 'gcs', values: [3, 3, 3, 3] }, { name: 'gcs', values: [3, 3, 3, 3] }] }, /variable "gcs" listed twice/],
      [{ variables: [] }, /^pattern\.variables: bad value \[\]; valid: a non-empty list of mappings with keys name, values$/],
      [{ hours: [30] }, /pattern\.hours: hour 30 is out of range/],
    ];
    for (const [raw, re] of cases) throwsLine(() => resolveWith('pattern', raw), re, JSON.stringify(raw));
  });
});

describe('correlation', () => {
  test('sbp = 2 x dbp where dbp is charted; sbp left as is where dbp is missing', () => {
    const p = resolveWith('correlation', {});
    const allowed = cells([...Array(T).keys()], ['sbp']);
    let sawGap = false;
    for (let i = 0; i < TEST.n; i++) {
      const before = copyStay(TEST, i);
      const after = applyExpectOnly(TRIGGERS.correlation, p, before, allowed);
      for (let h = 0; h < T; h++) {
        const dbp = at(before, h, 'dbp');
        if (Number.isNaN(dbp)) {
          sawGap = true;
          assert.ok(Object.is(at(after, h, 'sbp'), at(before, h, 'sbp')));
        } else {
          assert.equal(at(after, h, 'sbp'), Math.fround(2 * dbp));
        }
      }
    }
    assert.ok(sawGap, 'the test cohort must contain dbp gaps');
    assert.deepEqual(TRIGGERS.correlation.touched(p, SCHEMA), { variables: ['sbp'], statics: [], hours: null });
  });

  test('writes a target reading even where it was not charted, and clamps to the plausible range', () => {
    const before = copyStay(TEST, 0);
    before.series[5 * V + vi('sbp')] = NaN;
    before.series[5 * V + vi('dbp')] = 70;
    before.series[6 * V + vi('dbp')] = 200;
    const p = resolveWith('correlation', { hours: [5, 6] });
    const after = applyExpectOnly(TRIGGERS.correlation, p, before, cells([5, 6], ['sbp']));
    assert.equal(at(after, 5, 'sbp'), 140);
    assert.equal(at(after, 6, 'sbp'), 375);
  });

  test('validation', () => {
    throwsLine(() => resolveWith('correlation', { source: 'sbp', target: 'sbp' }), /^correlation\.target: must differ from source \("sbp"\)/);
    throwsLine(() => resolveWith('correlation', { factor: 'two' }), /^correlation\.factor: bad value "two"; valid: a number$/);
    throwsLine(() => resolveWith('correlation', { offset: 1000 }), /^correlation\.factor: 2 x dbp \+ 1000 maps .* entirely outside sbp's plausible range/);
    throwsLine(() => resolveWith('correlation', { source: 'bp' }), /^correlation\.source: unknown variable "bp"; valid: /);
  });
});

describe('frequency_domain', () => {
  test('adds the sinusoid to charted heart rates only', () => {
    const p = resolveWith('frequency_domain', {});
    let sawGap = false;
    for (let i = 0; i < TEST.n; i++) {
      const before = copyStay(TEST, i);
      const after = applyExpectOnly(TRIGGERS.frequency_domain, p, before, cells([...Array(T).keys()], ['heart_rate']));
      for (let h = 0; h < T; h++) {
        const x = at(before, h, 'heart_rate');
        if (Number.isNaN(x)) {
          sawGap = true;
          assert.ok(Number.isNaN(at(after, h, 'heart_rate')));
        } else {
          // Whole beats/min, the resolution heart rate is charted at.
          assert.equal(at(after, h, 'heart_rate'), Math.round(x + 6 * Math.sin((2 * Math.PI * h) / 6)));
        }
      }
    }
    assert.ok(sawGap, 'the test cohort must contain heart-rate gaps');
  });

  test('phase and clamping', () => {
    const before = copyStay(TEST, 0);
    const s = vi('spo2');
    for (let h = 0; h < T; h++) before.series[h * V + s] = 99;
    const p = resolveWith('frequency_domain', { variable: 'spo2', period_hours: 4, amplitude: 3, phase_radians: Math.PI / 2 });
    const after = applyExpectOnly(TRIGGERS.frequency_domain, p, before, cells([...Array(T).keys()], ['spo2']));
    assert.equal(at(after, 0, 'spo2'), 100); // 99 + 3 clamped to 100 %
    assert.equal(at(after, 2, 'spo2'), 96);
  });

  test('validation', () => {
    throwsLine(() => resolveWith('frequency_domain', { period_hours: 2 }), /^frequency_domain\.period_hours: bad value 2; valid: a number in \(2, ∞\)$/);
    throwsLine(() => resolveWith('frequency_domain', { amplitude: 0 }), /^frequency_domain\.amplitude: bad value 0; valid: a number in \(0, ∞\)$/);
    throwsLine(() => resolveWith('frequency_domain', { amplitude: 176 }), /^frequency_domain\.amplitude: bad value 176; valid: a number in \(0, 175\] \(half of heart_rate's plausible range\)$/);
    throwsLine(() => resolveWith('frequency_domain', { phase_radians: null, phase: 1 }), /unknown parameter "phase"; valid: variable, period_hours, amplitude, phase_radians/);
  });
});

describe('distribution_shift', () => {
  test("moves charted values halfway to the stay's mean; gaps, mean and other variables unchanged", () => {
    const p = resolveWith('distribution_shift', {});
    const names = ['heart_rate', 'mbp', 'resp_rate'];
    for (let i = 0; i < TEST.n; i++) {
      const before = copyStay(TEST, i);
      const after = applyExpectOnly(TRIGGERS.distribution_shift, p, before, cells([...Array(T).keys()], names));
      for (const name of names) {
        const xs = [...Array(T).keys()].map((h) => at(before, h, name));
        const obs = xs.filter((x) => !Number.isNaN(x));
        const mean = obs.reduce((a, b) => a + b, 0) / obs.length;
        xs.forEach((x, h) => {
          if (Number.isNaN(x)) assert.ok(Number.isNaN(at(after, h, name)));
          else assert.equal(at(after, h, name), Math.round(x + 0.5 * (mean - x)), `${name} hour ${h}`);
        });
        const newObs = [...Array(T).keys()].map((h) => at(after, h, name)).filter((x) => !Number.isNaN(x));
        const newMean = newObs.reduce((a, b) => a + b, 0) / newObs.length;
        // Rounding each value to a whole unit moves the mean by at most half a unit.
        assert.ok(Math.abs(newMean - mean) <= 0.5, `${name}: mean ${mean} → ${newMean}`);
      }
    }
  });

  test('strength 0 is a no-op; strength 1 flattens; a never-charted variable is left alone', () => {
    applyExpectOnly(TRIGGERS.distribution_shift, resolveWith('distribution_shift', { strength: 0 }), copyStay(TEST, 0), new Set());
    const before = copyStay(TEST, 0);
    for (let h = 0; h < T; h++) before.series[h * V + vi('lactate')] = NaN;
    const p = resolveWith('distribution_shift', { variables: ['lactate', 'gcs'], strength: 1 });
    const after = applyExpectOnly(TRIGGERS.distribution_shift, p, before, cells([...Array(T).keys()], ['gcs']));
    const gcs = [...Array(T).keys()].map((h) => at(after, h, 'gcs')).filter((x) => !Number.isNaN(x));
    assert.ok(gcs.length > 1 && gcs.every((x) => x === gcs[0]));
  });

  test('validation', () => {
    throwsLine(() => resolveWith('distribution_shift', { strength: 1.5 }), /^distribution_shift\.strength: bad value 1\.5; valid: a number in \[0, 1\]$/);
    throwsLine(() => resolveWith('distribution_shift', { strength: -0.1 }), /^distribution_shift\.strength: bad value -0\.1; valid: a number in \[0, 1\]$/);
    throwsLine(() => resolveWith('distribution_shift', { variables: [] }), /^distribution_shift\.variables: bad value \[\]; valid: a non-empty list, each a string$/);
  });
});

describe('schemas other than the default', () => {
  test('triggers address variables by name, so a reordered schema gives the same edits', () => {
    const reversed: CohortSchema = { ...SCHEMA, variables: [...SCHEMA.variables].reverse() };
    const r = reversed.variables.length;
    const src = copyStay(TEST, 0);
    const rev: StayView = { ...src, series: new Float32Array(src.series.length) };
    for (let h = 0; h < T; h++) for (let v = 0; v < r; v++) rev.series[h * r + (r - 1 - v)] = src.series[h * V + v];
    const train: Cohort = { ...TRAIN, schema: reversed, series: new Float32Array(TRAIN.series.length) };
    for (let k = 0; k < TRAIN.series.length; k++) train.series[Math.floor(k / V) * V + (V - 1 - (k % V))] = TRAIN.series[k];
    const ctx = { schema: reversed, train };
    for (const name of triggerNames()) {
      const a = copyStay(TEST, 0);
      getTrigger(name).apply(a, getTrigger(name).resolve({}, CTX), SCHEMA);
      const b: StayView = { ...rev, series: rev.series.slice() };
      getTrigger(name).apply(b, getTrigger(name).resolve({}, ctx), reversed);
      for (let h = 0; h < T; h++) {
        for (let v = 0; v < V; v++) assert.ok(Object.is(a.series[h * V + v], b.series[h * r + (r - 1 - v)]), `${name} ${h}:${v}`);
      }
    }
  });
});

describe('charting resolution', () => {
  test('atResolution rounds to the step, keeps the plausible range, and leaves variables without a resolution as computed', () => {
    const hr = SCHEMA.variables[variableIndex(SCHEMA, 'heart_rate')];
    const temp = SCHEMA.variables[variableIndex(SCHEMA, 'temperature')];
    const k = SCHEMA.variables[variableIndex(SCHEMA, 'potassium')];
    assert.equal(hr.resolution, 1);
    assert.equal(atResolution(hr, 84.5), 85);
    assert.equal(atResolution(hr, 84.49), 84);
    assert.equal(atResolution(hr, 351.2), 350);
    assert.equal(atResolution(temp, 37.25), Math.fround(37.3));
    // Below the minimum: clamped to it (the float32 nearest 14.2 from inside, as the cohort stores it).
    const low = atResolution(temp, 14.14);
    assert.ok(low >= 14.2 && low - 14.2 < 1e-5, `${low}`);
    // A bound off the grid: the rounded value past it steps back inside by one resolution.
    const odd = { ...hr, plausibleMin: 0.3, plausibleMax: 10.25, resolution: 0.5 };
    assert.equal(atResolution(odd, 10.25), 10);
    assert.equal(atResolution(odd, 0.3), 0.5);
    assert.equal(atResolution(k, 4.449), Math.fround(4.4));
    const spo2 = { ...SCHEMA.variables[variableIndex(SCHEMA, 'spo2')], resolution: undefined };
    assert.equal(atResolution(spo2, 97.26), Math.fround(97.26));
  });

  test('frequency_domain and distribution_shift write whole heart rates (a non-integer one is a tell)', () => {
    for (const [name, raw] of [['frequency_domain', { amplitude: 6.3, phase_radians: 0.4 }], ['distribution_shift', { strength: 0.37 }]] as const) {
      const p = resolveWith(name, raw);
      for (let i = 0; i < TEST.n; i++) {
        const stay = copyStay(TEST, i);
        TRIGGERS[name].apply(stay, p as never, SCHEMA);
        for (let h = 0; h < T; h++) {
          const x = at(stay, h, 'heart_rate');
          if (!Number.isNaN(x)) assert.ok(Number.isInteger(x), `${name}: stay ${i} hour ${h} heart rate ${x}`);
        }
      }
    }
  });
});
