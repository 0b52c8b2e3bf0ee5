import { join } from 'node:path';
import type { Cohort } from '../cohort.js';
import { allocateCohort } from '../cohort.js';
import { Rng, deriveRng } from '../../engine/rng.js';
import { auroc } from '../../metrics/classification.js';
import { syntheticSchema, SYNTHETIC_VARIABLES } from './synthetic-schema.js';
import { defaultsOf, type ParamSchema } from '../../util/plugin.js';
import { writeCohortOutputs } from './cohort-report.js';
import type { CohortSource } from './types.js';

export interface SyntheticOptions {
  /** Number of ICU stays. */
  nStays: number;
  /** Observation window in hours. */
  hours: number;
  seed: number | string;
  /** Expected share of deaths; the intercept of the risk model is solved to hit it. */
  prevalence: number;
  /**
   * Log-odds of death per unit of latent outcome severity. 1.6 gives a true-risk AUROC of about
   * 0.87 and lets a model on the observed series reach about 0.82–0.85, in line with the
   * MIMIC-III benchmark's in-hospital-mortality models (AUROC 0.85–0.87, Harutyunyan et al. 2019).
   */
  signal: number;
}

export const SYNTHETIC_PARAMS: ParamSchema = {
  n_stays: { type: 'integer', min: 10, default: 20000, unit: 'stays', description: 'Number of ICU stays' },
  hours: { type: 'integer', min: 2, max: 168, default: 24, unit: 'hours', description: 'Observation window' },
  generator_seed: { type: 'integer', min: 0, default: 20240601, description: 'Seed of the generator (the splits take --seed)' },
  prevalence: { type: 'number', min: 0, max: 1, minOpen: true, maxOpen: true, default: 0.125, description: 'Expected share of deaths; the risk model\'s intercept is solved to hit it' },
  signal: {
    type: 'number',
    min: 0,
    minOpen: true,
    default: 1.6,
    unit: 'log-odds per unit of latent severity',
    description: 'Outcome signal; 1.6 gives a true-risk AUROC of about 0.87 and a model on the observed series about 0.82-0.85, as the MIMIC-III benchmark\'s mortality models',
    citation: 'Harutyunyan et al. 2019, "Multitask learning and benchmarking with clinical time series data", Sci Data 6:96 (AUROC 0.85-0.87)',
  },
};

const SYNTHETIC_DEFAULT_PARAMS = defaultsOf(SYNTHETIC_PARAMS);

export const SYNTHETIC_DEFAULTS: SyntheticOptions = {
  nStays: SYNTHETIC_DEFAULT_PARAMS.n_stays as number,
  hours: SYNTHETIC_DEFAULT_PARAMS.hours as number,
  seed: SYNTHETIC_DEFAULT_PARAMS.generator_seed as number,
  prevalence: SYNTHETIC_DEFAULT_PARAMS.prevalence as number,
  signal: SYNTHETIC_DEFAULT_PARAMS.signal as number,
};

export interface SyntheticReport {
  nStays: number;
  nPatients: number;
  prevalence: number;
  trueRiskAuroc: number;
  missingRate: Record<string, number>;
}

const V = SYNTHETIC_VARIABLES.length;
const VAR = Object.fromEntries(SYNTHETIC_VARIABLES.map((v, i) => [v.name, i])) as Record<string, number>;

/** Organ systems that carry the latent severity into the observed variables, each with its own noise. */
const SYSTEMS = ['cardiovascular', 'respiratory', 'renal', 'inflammatory', 'neurologic'] as const;
/** How strongly each system follows overall severity; the rest is system-specific variation. */
const SYSTEM_LOADING = [0.9, 0.82, 0.78, 0.88, 0.75];

const ADMISSION_PROBS = [0.2, 0.65, 0.15];
const ADMISSION_SEVERITY = [-0.7, 0.2, 0.1];

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

interface LatentStay {
  /** Overall severity per hour. */
  severity: Float64Array;
  /** Per system, per hour: the system's state. */
  systems: Float64Array[];
  /** Severity that drives the outcome: where the stay is heading at the end of the window. */
  outcomeSeverity: number;
  ageZ: number;
}

function simulateLatent(rng: Rng, hours: number, baseSeverity: number): LatentStay {
  // Deterioration or recovery over the window: stays that die tend to worsen, so late hours carry more signal.
  const slope = rng.normal(0, 0.6);
  const severity = new Float64Array(hours);
  let wander = 0;
  for (let t = 0; t < hours; t++) {
    wander = 0.9 * wander + rng.normal(0, 0.12);
    severity[t] = baseSeverity + slope * (t / Math.max(1, hours - 1)) + wander;
  }
  const systems = SYSTEMS.map((_, j) => {
    const load = SYSTEM_LOADING[j];
    const own = new Float64Array(hours);
    let e = rng.normal(0, 1);
    const out = new Float64Array(hours);
    for (let t = 0; t < hours; t++) {
      e = 0.8 * e + Math.sqrt(1 - 0.8 ** 2) * rng.normal(0, 1);
      own[t] = e;
      out[t] = load * severity[t] + Math.sqrt(1 - load * load) * e;
    }
    return out;
  });
  return { severity, systems, outcomeSeverity: baseSeverity + slope + 0.5 * wander, ageZ: 0 };
}

/**
 * Charting habits of the stay's unit and clinicians: stable for the stay, unrelated to the outcome. Real ICU
 * charting follows local protocol as much as the patient (some units chart every vital hourly whatever the
 * severity), which is why charting counts predict mortality only weakly on real data (PhysioNet 2012: AUROC 0.58).
 */
interface ChartingHabits {
  /** The unit charts vitals, temperature and GCS every hour whatever the severity. */
  hourlyUnit: boolean;
  /** Log-odds of a vital being charted in a given hour, before the current state. */
  vitalLogit: number;
  /** Usual hours between temperature and GCS checks. */
  spotGap: number;
  /** Usual hours between lab panels. */
  labGap: number;
  /** Chance that a panel includes the blood count. */
  cbcShare: number;
}

function drawHabits(rng: Rng): ChartingHabits {
  return {
    hourlyUnit: rng.bernoulli(0.2),
    vitalLogit: rng.normal(1.7, 0.8),
    spotGap: 2 + rng.int(3),
    labGap: 6 + rng.int(13),
    cbcShare: rng.uniform(0.6, 0.95),
  };
}

/**
 * How strongly the current state (deviation of the hour's severity from an average stay) moves charting: a
 * deteriorating patient is checked more often, but with noise and on top of the unit's habits.
 */
const CHARTING_STATE_WEIGHT = 0.14;

/** Hours until the next check of a variable charted at intervals: the usual gap, shortened as the state worsens. */
function nextGap(rng: Rng, usual: number, state: number, min: number, max: number): number {
  return clamp(Math.round(usual * Math.exp(-CHARTING_STATE_WEIGHT * state + rng.normal(0, 0.35))), min, max);
}

/** Measurement schedule: which hours each variable is charted, driven by the current state and the unit's habits. */
function chartingMask(rng: Rng, latent: LatentStay, hours: number, habits: ChartingHabits): Uint8Array {
  const mask = new Uint8Array(hours * V);
  const set = (t: number, name: string) => (mask[t * V + VAR[name]] = 1);
  const state = latent.severity;
  // Vitals: nursing charts about hourly; the monitor feed drops hours, more for stable patients.
  for (let t = 0; t < hours; t++) {
    const logit = habits.hourlyUnit ? 3.5 : habits.vitalLogit + CHARTING_STATE_WEIGHT * state[t] + rng.normal(0, 0.5);
    const p = sigmoid(logit);
    if (rng.bernoulli(p)) {
      set(t, 'heart_rate');
      set(t, 'spo2');
    }
    if (rng.bernoulli(p * 0.95)) {
      set(t, 'sbp');
      set(t, 'dbp');
      set(t, 'mbp');
    }
    if (rng.bernoulli(p * 0.9)) set(t, 'resp_rate');
  }
  // Temperature and GCS: spot checks at intervals that shorten as the patient worsens.
  for (const name of ['temperature', 'gcs']) {
    for (let t = rng.int(Math.min(habits.spotGap, hours)); t < hours; ) {
      if (rng.bernoulli(0.9)) set(t, name);
      t += habits.hourlyUnit ? 1 : nextGap(rng, habits.spotGap, state[t], 1, 8);
    }
  }
  // Labs: panels ordered at irregular intervals, sooner for a deteriorating patient; components vary by order.
  for (let t = rng.int(Math.min(4, hours)); t < hours; ) {
    if (rng.bernoulli(0.95)) for (const name of ['creatinine', 'bun', 'glucose', 'sodium', 'potassium', 'bicarbonate']) set(t, name);
    if (rng.bernoulli(habits.cbcShare)) for (const name of ['wbc', 'hemoglobin', 'platelets']) set(t, name);
    if (rng.bernoulli(0.3)) {
      const extra = t + 1 + rng.int(3);
      if (extra < hours) set(extra, 'glucose'); // point-of-care glucose between panels
    }
    t += nextGap(rng, habits.labGap, state[t], 4, 24);
  }
  // Lactate: ordered when shock or sepsis is suspected in the current hour, then repeated while it persists.
  const [cv, , , infl] = latent.systems;
  for (let t = 0; t < hours; ) {
    const suspicion = (cv[t] + infl[t]) / 2;
    if (rng.bernoulli(sigmoid(-3.2 + 0.4 * suspicion))) {
      set(t, 'lactate');
      t += nextGap(rng, 6, state[t], 2, 12);
    } else {
      t += 1;
    }
  }
  return mask;
}

/**
 * Physiology: maps the latent systems to clinical values. Coefficients are chosen so that marginal
 * distributions sit in the ranges reported for adult ICU cohorts (e.g. MIMIC-IV medians: HR ≈ 85,
 * SBP ≈ 120, lactate ≈ 1.5 mmol/L, creatinine ≈ 1.0 mg/dL) with physiological correlations
 * (MBP from SBP and DBP; SpO2 falling as respiratory rate rises; BUN tracking creatinine).
 */
function measure(
  rng: Rng,
  latent: LatentStay,
  offsets: Float64Array,
  age: number,
  female: boolean,
  hours: number,
  mask: Uint8Array,
  out: Float32Array,
): void {
  const [cv, resp, renal, infl, neuro] = latent.systems;
  const ageDev = age - 64;
  for (let t = 0; t < hours; t++) {
    const row = t * V;
    const has = (name: string) => mask[row + VAR[name]] === 1;
    const put = (name: string, value: number) => {
      out[row + VAR[name]] = has(name) ? value : NaN;
    };
    const circadian = Math.sin((2 * Math.PI * t) / 24);
    const sbp = clamp(122 - 12 * cv[t] + 0.25 * ageDev + offsets[1] + rng.normal(0, 7), 55, 240);
    const dbp = clamp(0.5 * sbp + 5 - 3 * cv[t] + offsets[2] + rng.normal(0, 5), 25, 150);
    put('heart_rate', round(clamp(84 + 9 * cv[t] + 5 * infl[t] + 2 * circadian + offsets[0] + rng.normal(0, 5), 30, 220), 0));
    put('sbp', round(sbp, 0));
    put('dbp', round(dbp, 0));
    put('mbp', round((sbp + 2 * dbp) / 3 + rng.normal(0, 1.5), 0));
    const rr = clamp(18 + 3.2 * resp[t] + offsets[3] + rng.normal(0, 2), 6, 50);
    put('resp_rate', round(rr, 0));
    put('spo2', round(clamp(97.5 - 1.8 * Math.max(resp[t], -0.3) + rng.normal(0, 1), 70, 100), 0));
    put('temperature', round(clamp(37 + 0.5 * infl[t] + 0.15 * circadian + rng.normal(0, 0.3), 33, 42), 1));
    put('gcs', clamp(Math.round(15 - 2.5 * Math.max(neuro[t] + 0.3, 0) + rng.normal(0, 0.8)), 3, 15));
    put('lactate', round(clamp(Math.exp(0.35 + 0.3 * infl[t] + 0.2 * cv[t] + rng.normal(0, 0.2)), 0.3, 25), 1));
    const creat = Math.exp(0.02 + 0.42 * renal[t] + 0.005 * ageDev - (female ? 0.2 : 0) + offsets[4] + rng.normal(0, 0.1));
    put('creatinine', round(clamp(creat, 0.2, 20), 1));
    put('bun', round(clamp(Math.exp(Math.log(17) + 0.45 * renal[t] + 0.004 * ageDev + 0.5 * offsets[4] + rng.normal(0, 0.15)), 2, 200), 0));
    put('glucose', round(clamp(Math.exp(Math.log(130) + 0.12 * infl[t] + 0.08 * cv[t] + offsets[5] + rng.normal(0, 0.15)), 40, 900), 0));
    put('wbc', round(clamp(Math.exp(Math.log(10.5) + 0.28 * infl[t] + offsets[6] + rng.normal(0, 0.1)), 0.3, 150), 1));
    put('hemoglobin', round(clamp(11 - (female ? 0.9 : 0) - 0.45 * cv[t] + offsets[7] + rng.normal(0, 0.3), 4, 19), 1));
    put('platelets', round(clamp(Math.exp(Math.log(210) - 0.22 * infl[t] + offsets[8] + rng.normal(0, 0.08)), 5, 1200), 0));
    put('sodium', round(clamp(139 + 0.9 * renal[t] + offsets[9] + rng.normal(0, 1.2), 115, 165), 0));
    put('potassium', round(clamp(4.1 + 0.28 * renal[t] + offsets[10] + rng.normal(0, 0.25), 2, 8), 1));
    put('bicarbonate', round(clamp(24 - 1.5 * infl[t] - 1.2 * renal[t] + offsets[11] + rng.normal(0, 1.2), 5, 45), 0));
  }
}

/** Patient-level baselines: stable individual differences that carry no outcome signal. */
const OFFSET_SD = [7, 10, 6, 2, 0.25, 0.2, 0.25, 1.3, 0.3, 2.5, 0.35, 2];

/**
 * Generates the embedded synthetic ICU cohort. Deterministic in `seed`.
 *
 * Each stay has a latent severity trajectory (baseline from age and admission type, a deterioration slope and
 * slow wander), which five organ systems follow with their own noise. Observed variables are functions of the
 * systems plus patient baselines and measurement noise. How often each is charted depends on the unit's habits
 * (drawn per stay) and, weakly and with noise, on the current hour's severity, so missingness is informative in
 * the direction real ICU data shows (sicker → more charting) without handing models a shortcut: charting counts
 * alone reach a test AUROC of about 0.65 (PhysioNet 2012: 0.58). The label is Bernoulli with logit
 * `intercept + signal · outcomeSeverity + 0.35 · ageZ`, where the intercept is solved so the expected prevalence
 * matches `prevalence`.
 */
export function generateSynthetic(options: Partial<SyntheticOptions> = {}): { cohort: Cohort; report: SyntheticReport } {
  const opts = { ...SYNTHETIC_DEFAULTS, ...options };
  if (!Number.isInteger(opts.nStays) || opts.nStays < 10) throw new Error(`nStays must be an integer ≥ 10, got ${opts.nStays}`);
  if (!Number.isInteger(opts.hours) || opts.hours < 2 || opts.hours > 168) {
    throw new Error(`hours must be an integer in [2, 168], got ${opts.hours}`);
  }
  if (!(opts.prevalence > 0 && opts.prevalence < 1)) throw new Error(`prevalence must be in (0, 1), got ${opts.prevalence}`);
  const schema = syntheticSchema(opts.hours);
  const T = opts.hours;
  const S = schema.statics.length;
  const n = opts.nStays;
  const rng = deriveRng(opts.seed, 'synthetic');

  const cohort = allocateCohort(schema, n, { trueRisk: true });

  // Patients: most have one ICU stay, some return (so splits must group by patient).
  let patient = 10000000;
  let stay = 0;
  const outcomeLinear = new Float64Array(n);
  while (stay < n) {
    patient += 1 + rng.int(3);
    const nStaysForPatient = Math.min(n - stay, rng.bernoulli(0.12) ? 2 + (rng.bernoulli(0.2) ? 1 : 0) : 1);
    const female = rng.bernoulli(0.44);
    const baseAge = clamp(Math.round(rng.normal(64, 16)), 18, 91);
    const frailty = rng.normal(0, 0.4);
    const offsets = Float64Array.from(OFFSET_SD, (sd) => rng.normal(0, sd));
    for (let k = 0; k < nStaysForPatient; k++, stay++) {
      const age = Math.min(91, baseAge + k);
      const u = rng.next();
      const admission = u < ADMISSION_PROBS[0] ? 0 : u < ADMISSION_PROBS[0] + ADMISSION_PROBS[1] ? 1 : 2;
      const ageZ = (age - 64) / 16;
      const baseSeverity = 0.25 * ageZ + ADMISSION_SEVERITY[admission] + frailty + rng.normal(0, 0.8);
      const latent = simulateLatent(rng, T, baseSeverity);
      const mask = chartingMask(rng, latent, T, drawHabits(rng));
      measure(rng, latent, offsets, age, female, T, mask, cohort.series.subarray(stay * T * V, (stay + 1) * T * V));
      const weight = clamp(rng.normal(female ? 73 : 85, 17), 35, 200);
      const st = cohort.statics.subarray(stay * S, (stay + 1) * S);
      st[0] = age;
      st[1] = female ? 1 : 0;
      st[2] = rng.bernoulli(0.93) ? round(weight, 1) : NaN;
      st[3] = admission;
      cohort.stayIds[stay] = 30000000 + stay * 7 + rng.int(7);
      cohort.patientIds[stay] = patient;
      outcomeLinear[stay] = opts.signal * latent.outcomeSeverity + 0.35 * ageZ;
    }
  }

  const intercept = solveIntercept(outcomeLinear, opts.prevalence);
  const labelRng = deriveRng(opts.seed, 'synthetic', 'labels');
  for (let i = 0; i < n; i++) {
    const p = sigmoid(intercept + outcomeLinear[i]);
    cohort.trueRisk![i] = p;
    cohort.labels[i] = labelRng.bernoulli(p) ? 1 : 0;
  }

  return { cohort, report: describeSynthetic(cohort) };
}

/** Bisection for the intercept whose mean predicted risk equals the target prevalence. */
function solveIntercept(linear: Float64Array, prevalence: number): number {
  let lo = -20;
  let hi = 20;
  for (let iter = 0; iter < 100; iter++) {
    const mid = (lo + hi) / 2;
    let mean = 0;
    for (let i = 0; i < linear.length; i++) mean += sigmoid(mid + linear[i]);
    mean /= linear.length;
    if (mean < prevalence) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

export function describeSynthetic(cohort: Cohort): SyntheticReport {
  const T = cohort.schema.hours;
  const missingRate: Record<string, number> = {};
  for (let v = 0; v < V; v++) {
    let missing = 0;
    for (let i = 0; i < cohort.n; i++) for (let t = 0; t < T; t++) if (Number.isNaN(cohort.series[(i * T + t) * V + v])) missing++;
    missingRate[SYNTHETIC_VARIABLES[v].name] = missing / (cohort.n * T);
  }
  let positives = 0;
  for (let i = 0; i < cohort.n; i++) positives += cohort.labels[i];
  return {
    nStays: cohort.n,
    nPatients: new Set(cohort.patientIds).size,
    prevalence: positives / cohort.n,
    trueRiskAuroc: cohort.trueRisk ? auroc(cohort.labels, cohort.trueRisk) : NaN,
    missingRate,
  };
}

/** `backdoor cohort synthetic`: the generated cohort as a cohort folder, like any other source. */
export const synthetic: CohortSource = {
  name: 'synthetic',
  description: 'The embedded synthetic ICU cohort (18 hourly variables in MIMIC-IV units, 4 statics), generated from a seed',
  params: SYNTHETIC_PARAMS,
  required: [],
  defaultOut: join('data', 'cohorts', 'synthetic'),
  variables: () => SYNTHETIC_VARIABLES,
  async build(p, output) {
    const options = { nStays: p.n_stays as number, hours: p.hours as number, seed: p.generator_seed as number, prevalence: p.prevalence as number, signal: p.signal as number };
    const { cohort } = generateSynthetic(options);
    let deaths = 0;
    for (const y of cohort.labels) deaths += y;
    return writeCohortOutputs({
      outDir: output.outDir,
      cohort,
      input: `generated (seed ${options.seed})`,
      options: { ...p },
      inclusion: [{ step: 'generated stays', stays: cohort.n, patients: new Set(cohort.patientIds).size, deaths }],
      seed: output.seed,
    });
  },
};
