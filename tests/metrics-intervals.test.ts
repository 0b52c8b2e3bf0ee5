import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, deriveRng } from '../src/engine/rng.js';
import {
  auroc,
  aurocEquivalence,
  aurocSeedInterval,
  bootstrapTestSetCovariance,
  metricSeedInterval,
  normalCdf,
  normalQuantile,
  seedTestInterval,
  twoStageBootstrap,
  type SeedPredictions,
  type SeedTestInterval,
} from '../src/metrics/index.js';

function close(actual: number, expected: number, tol = 1e-12): void {
  assert.ok(Math.abs(actual - expected) <= tol, `expected ${expected}, got ${actual}`);
}

// ---------------------------------------------------------------------------------------------
// seedTestInterval by hand

test('seedTestInterval: independent test sets, s² above the test-set variance (hand-computed)', () => {
  // θ = 0.80, 0.78, 0.85: mean 0.81, deviations −0.01, −0.03, 0.04 ⇒ s² = (1 + 9 + 16)e-4 / 2 = 13e-4.
  // Per-seed DeLong variances 9e-4 each (C diagonal): mean diag 9e-4, mean off-diag 0 ⇒ τ̂² = 13e-4 − 9e-4 = 4e-4.
  // No shared test error (o = 0), so the seed part is u = max(s², d − o)/k = 13e-4/3 = τ̂²/3 + 3·9e-4/9, estimated
  // from the spread alone: df_seed = 2, t_{2, 0.975} = 4.302652729749464 (a plain t interval over the three seeds).
  const r = seedTestInterval([0.8, 0.78, 0.85], [9e-4, 9e-4, 9e-4]);
  close(r.estimate, 0.81);
  close(r.between_seed_variance, 4e-4, 1e-15);
  close(r.test_set_variance, 3e-4, 1e-15);
  close(r.se, Math.sqrt(13e-4 / 3));
  close(r.df_seed, 2, 1e-12);
  close(r.shared_test_variance, 0);
  close(r.ci[0], 0.81 - 4.302652729749464 * Math.sqrt(13e-4 / 3), 1e-9);
  close(r.ci[1], 0.81 + 4.302652729749464 * Math.sqrt(13e-4 / 3), 1e-9);
});

test('seedTestInterval: seeds that agree exactly leave only the test-set variance, with normal quantiles', () => {
  // s² = 0 ⇒ τ̂² = 0; C = [[4,3],[3,4]]e-4: d = 4e-4, o = 3e-4, u = (d − o)/2 = 0.5e-4 (the unshared test noise, from C,
  // so df ∞); se² = u + o = 3.5e-4 = 1ᵀC1/k²; both parts take z_{0.975} = 1.959963984540054.
  const r = seedTestInterval([0.7, 0.7], [
    [4e-4, 3e-4],
    [3e-4, 4e-4],
  ]);
  close(r.between_seed_variance, 0);
  close(r.se, Math.sqrt(3.5e-4), 1e-15);
  assert.equal(r.df_seed, Infinity);
  close(r.seed_variance, 0.5e-4, 1e-18);
  close(r.shared_test_variance, 3e-4, 1e-18);
  close(r.ci[1] - 0.7, 1.959963984540054 * Math.sqrt(3.5e-4), 1e-12);
});

test('seedTestInterval: a shared test set adds its shared error o, with its own quantile (MOVER)', () => {
  // θ = 0.80, 0.78, 0.85 (s² = 13e-4) and C with diag d = 9e-4, off-diag o = 6e-4: τ̂² = 13e-4 − 9e-4 + 6e-4 = 10e-4;
  // seed part u = max(s², d − o)/3 = 13e-4/3 (df 2); se² = u + o = 31e-4/3 = τ̂²/3 + 1ᵀC1/9 = 10e-4/3 + 63e-4/9.
  // Half-width √(t²_{2,.975}·u + z²_{.975}·o) = √(18.512820512820…·13e-4/3 + 3.841458820694124·6e-4) = 0.10162…
  const c = [
    [9e-4, 6e-4, 6e-4],
    [6e-4, 9e-4, 6e-4],
    [6e-4, 6e-4, 9e-4],
  ];
  const r = seedTestInterval([0.8, 0.78, 0.85], c);
  close(r.between_seed_variance, 10e-4, 1e-15);
  close(r.se ** 2, 31e-4 / 3, 1e-15);
  close(r.test_set_variance, 7e-4, 1e-15);
  close(r.df_seed, 2, 1e-12);
  const half = Math.sqrt(4.302652729749464 ** 2 * (13e-4 / 3) + 1.959963984540054 ** 2 * 6e-4);
  close(half, 0.10162, 1e-5);
  close(r.ci[1] - r.estimate, half, 1e-9);
  close(r.estimate - r.ci[0], half, 1e-9);
});

test('seedTestInterval: one seed has no between-seed variance estimate, and bad shapes throw', () => {
  const r = seedTestInterval([0.75], [0.0009]);
  assert.ok(Number.isNaN(r.between_seed_variance));
  close(r.se, 0.03, 1e-15);
  // An undefined estimate (AUROC without events) gives an undefined interval, not a throw.
  assert.deepEqual(seedTestInterval([0.7, NaN], [1e-4, NaN]).ci, [NaN, NaN]);
  assert.throws(() => seedTestInterval([0.7, 0.8], [[1e-4]]), /2×2/);
  assert.throws(() => seedTestInterval([], []), /no seed/);
  assert.throws(() => seedTestInterval([0.7], [1e-4], { level: 1 }), /level/);
});

// ---------------------------------------------------------------------------------------------
// Simulated sweeps: binormal scores with a known true AUROC.

const SEEDS = 3;
const STAYS = 300;
const EVENT_RATE = 40 / 300;
const SWEEPS = 1000;

/**
 * Binormal model: negatives' scores N(0, 1 + σε²), positives' N(μ + δ_s, 1 + σε²), so seed s has AUROC
 * Φ((μ + δ_s)/√(2(1 + σε²))) (P(X > Y) for independent normals). With the seed effect δ_s ~ N(0, τ²) the true value — the
 * AUROC averaged over seeds — is E Φ(a + bZ) = Φ(a/√(1 + b²)) = Φ(μ/√(2(1 + σε²) + τ²)).
 * shared: every seed scores the same stays, score = patient term z_i + seed noise ε_si (the design of fixed splits);
 * otherwise each seed draws its own stays.
 */
function simulateSweep(rng: Rng, mu: number, tau: number, shared: boolean, noiseSd = 0.5): SeedPredictions[] {
  const drawStays = (): { labels: Uint8Array; z: Float64Array } => {
    const labels = new Uint8Array(STAYS);
    const z = new Float64Array(STAYS);
    for (let i = 0; i < STAYS; i++) {
      labels[i] = rng.bernoulli(EVENT_RATE) ? 1 : 0;
      z[i] = rng.normal() + (labels[i] === 1 ? mu : 0);
    }
    return { labels, z };
  };
  const common = shared ? drawStays() : null;
  const seeds: SeedPredictions[] = [];
  for (let s = 0; s < SEEDS; s++) {
    const { labels, z } = common ?? drawStays();
    const delta = rng.normal(0, tau);
    const scores = new Float64Array(STAYS);
    for (let i = 0; i < STAYS; i++) scores[i] = z[i]! + rng.normal(0, noiseSd) + (labels[i] === 1 ? delta : 0);
    seeds.push({ labels, scores });
  }
  return seeds;
}

function trueAuroc(mu: number, tau: number, noiseSd = 0.5): number {
  return normalCdf(mu / Math.sqrt(2 * (1 + noiseSd ** 2) + tau * tau));
}

function covers(i: { ci: [number, number] }, truth: number): boolean {
  return i.ci[0] <= truth && truth <= i.ci[1];
}

// μ for a true AUROC of about 0.80 with σε = 0.5: Φ⁻¹(0.8)·√2.5. τ (on the μ scale) of 0, 0.1 and 0.3 gives seed SDs
// of about 0, 0.02 and 0.06 AUROC, below, near and above the test-set SE of about 0.035 with ~40 events. (At τ = 0.5,
// a seed SD of 0.09 AUROC, these sweeps give 0.932 separate / 0.961 shared: near the 0.93 line, see intervals.ts.)
const MU = 0.8416212335729143 * Math.sqrt(2.5);

for (const shared of [false, true]) {
  for (const tau of [0, 0.1, 0.3]) {
    test(`coverage: the 95% seed-and-test AUROC interval covers the true value in >= 93% of ${SWEEPS} sweeps of 3 seeds (${shared ? 'shared' : 'separate'} test sets, seed-effect sd ${tau})`, () => {
      const rng = deriveRng('coverage', shared ? 'shared' : 'separate', tau);
      const truth = trueAuroc(MU, tau);
      let hits = 0;
      let width = 0;
      for (let k = 0; k < SWEEPS; k++) {
        const interval: SeedTestInterval = aurocSeedInterval(simulateSweep(rng, MU, tau, shared), { sharedTestSet: shared });
        if (covers(interval, truth)) hits++;
        width += (interval.ci[1] - interval.ci[0]) / SWEEPS;
      }
      const coverage = hits / SWEEPS;
      process.stdout.write(`# coverage ${shared ? 'shared' : 'separate'} tau=${tau}: ${coverage.toFixed(3)} (mean width ${width.toFixed(3)}, truth ${truth.toFixed(4)})\n`);
      assert.ok(coverage >= 0.93, `coverage ${coverage} below 0.93`);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// TOST error rates on simulated clean-vs-poisoned sweeps (3 seeds, one shared test set of ~300 stays / ~40 events).

/**
 * Per seed a clean and a poisoned model score the same stays: z_i + ε + shift·y_i, with ε ~ N(0, 0.5²) per model and a
 * seed effect N(0, τ²) on each model's shift. The shifts put the seed-averaged clean AUROC at 0.80 and the poisoned one
 * at 0.80 − trueDifference (E Φ(a + bZ) = Φ(a/√(1 + b²)) as above).
 */
function equivalenceVerdicts(trueDifference: number, margin: number, tau: number, sweeps: number): { equivalent: number; different: number } {
  const spread = Math.sqrt(2 * 1.25 + tau * tau);
  const shiftClean = normalQuantile(0.8) * spread;
  const shiftPoisoned = normalQuantile(0.8 - trueDifference) * spread;
  const rng = deriveRng('tost-sim', trueDifference, margin, tau);
  let equivalent = 0;
  let different = 0;
  for (let k = 0; k < sweeps; k++) {
    const labels = Uint8Array.from({ length: STAYS }, () => (rng.bernoulli(EVENT_RATE) ? 1 : 0));
    const z = Float64Array.from(labels, () => rng.normal());
    const seeds = [0, 1, 2].map(() => {
      const dClean = rng.normal(0, tau);
      const dPoisoned = rng.normal(0, tau);
      return {
        labels,
        clean: Float64Array.from(z, (v, i) => v + rng.normal(0, 0.5) + (labels[i] === 1 ? shiftClean + dClean : 0)),
        poisoned: Float64Array.from(z, (v, i) => v + rng.normal(0, 0.5) + (labels[i] === 1 ? shiftPoisoned + dPoisoned : 0)),
      };
    });
    const verdict = aurocEquivalence(seeds, { sharedTestSet: true, margin }).verdict;
    if (verdict === 'equivalent') equivalent++;
    if (verdict === 'different') different++;
  }
  return { equivalent: equivalent / sweeps, different: different / sweeps };
}

test('TOST: a true difference on the margin is called equivalent in <= 5% of 1000 sweeps; no difference is called different in <= 5%', () => {
  // Margin 0.03, not the default 0.01: with 3 seeds and ~40 events equivalence within ±0.01 is out of reach, and a
  // test of the error rate needs some sweeps that reach it. Allowance 0.065 = 5% + 2 Monte Carlo SEs.
  const onMargin = equivalenceVerdicts(0.03, 0.03, 0.1, SWEEPS);
  const none = equivalenceVerdicts(0, 0.03, 0.1, SWEEPS);
  process.stdout.write(`# TOST margin 0.03: equivalent ${onMargin.equivalent} at δ = m, ${none.equivalent} at δ = 0; different ${none.different} at δ = 0, ${onMargin.different} at δ = m\n`);
  assert.ok(onMargin.equivalent <= 0.065, `equivalent in ${onMargin.equivalent} of sweeps with δ on the margin`);
  assert.ok(none.different <= 0.065, `different in ${none.different} of sweeps with δ = 0`);
  // And the test is not vacuous: with no difference it does reach equivalence sometimes, more often than on the margin.
  assert.ok(none.equivalent > onMargin.equivalent);
});

// ---------------------------------------------------------------------------------------------
// Bootstrap helpers: determinism and agreement with DeLong.

test('twoStageBootstrap: the same rng seed gives the same interval, another seed a different one', () => {
  const seeds = simulateSweep(deriveRng('boot-data'), MU, 0.1, false);
  const a = twoStageBootstrap(seeds, auroc, { rng: deriveRng('boot', 1), replicates: 300 });
  const b = twoStageBootstrap(seeds, auroc, { rng: deriveRng('boot', 1), replicates: 300 });
  const c = twoStageBootstrap(seeds, auroc, { rng: deriveRng('boot', 2), replicates: 300 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.ci, c.ci);
  close(a.estimate, (auroc(seeds[0]!.labels, seeds[0]!.scores) + auroc(seeds[1]!.labels, seeds[1]!.scores) + auroc(seeds[2]!.labels, seeds[2]!.scores)) / 3);
  assert.ok(a.ci[0] < a.estimate && a.estimate < a.ci[1]);
});

test('bootstrapTestSetCovariance: the row bootstrap reproduces the DeLong variances and shared-set covariances within 20%', () => {
  const seeds = simulateSweep(deriveRng('cov-data'), MU, 0.1, true);
  const boot = bootstrapTestSetCovariance(seeds, auroc, { rng: deriveRng('cov-boot'), replicates: 2000, sharedTestSet: true });
  const delong = aurocSeedInterval(seeds, { sharedTestSet: true });
  let total = 0;
  for (const row of boot) for (const v of row) total += v;
  const bootTestVar = total / 9;
  assert.ok(Math.abs(bootTestVar / delong.test_set_variance - 1) < 0.2, `bootstrap ${bootTestVar} vs DeLong ${delong.test_set_variance}`);
  // Off-diagonal covariances are positive and large: the seeds share the stays.
  assert.ok(boot[0]![1]! > 0.5 * boot[0]![0]!);
  const separate = bootstrapTestSetCovariance(seeds, auroc, { rng: deriveRng('cov-boot'), replicates: 200, sharedTestSet: false });
  assert.equal(separate[0]![1], 0);
});

test('metricSeedInterval: works for any row metric, e.g. a share of rows at or above 0.5 (an ASR-like rate)', () => {
  // All rows one class, as for triggered rows: labels all 0, "score" = 1 when predicted the target.
  const rows = 200;
  const seeds: SeedPredictions[] = [0.3, 0.35, 0.4].map((rate) => ({
    labels: new Uint8Array(rows),
    scores: Float64Array.from({ length: rows }, (_, i) => (i < rate * rows ? 1 : 0)),
  }));
  const share = (_labels: ArrayLike<number>, s: ArrayLike<number>): number => {
    let hits = 0;
    for (let i = 0; i < s.length; i++) if (s[i]! >= 0.5) hits++;
    return hits / s.length;
  };
  const r = metricSeedInterval(seeds, share, { sharedTestSet: false, rng: deriveRng('asr-boot'), replicates: 1000 });
  close(r.estimate, 0.35);
  // Binomial variances p(1 − p)/200 ≈ 0.00105..0.0012; the bootstrap estimates them within sampling error.
  close(r.test_set_variance, (0.3 * 0.7 + 0.35 * 0.65 + 0.4 * 0.6) / 200 / 9, 0.00006);
  assert.ok(r.ci[0] < 0.35 && r.ci[1] > 0.35);
});
