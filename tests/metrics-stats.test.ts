import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deriveRng } from '../src/engine/rng.js';
import {
  aurocEquivalence,
  auroc,
  delongComponents,
  delongCovariance,
  delongTest,
  delongVarianceParts,
  midranks,
  normalCdf,
  normalQuantile,
  pairedAurocDifferences,
  satterthwaiteDf,
  seedTestInterval,
  seedTestPValues,
  studentTCdf,
  studentTQuantile,
  tost,
} from '../src/metrics/index.js';

function close(actual: number, expected: number, tol = 1e-12): void {
  assert.ok(Math.abs(actual - expected) <= tol, `expected ${expected}, got ${actual}`);
}

// ---------------------------------------------------------------------------------------------
// Distributions, against table values and closed forms

test('normalCdf and normalQuantile: table values and round trips', () => {
  close(normalCdf(0), 0.5, 1e-15);
  close(normalCdf(1.959963984540054), 0.975, 1e-13);
  close(normalCdf(-3), 1.3498980316300946e-3, 1e-15);
  close(normalCdf(-8), 6.220960574271785e-16, 1e-25);
  close(normalQuantile(0.975), 1.959963984540054, 1e-12);
  close(normalQuantile(0.5), 0, 1e-15);
  close(normalQuantile(1e-10), -6.361340902404056, 1e-9);
  close(normalQuantile(0.9), -normalQuantile(0.1), 1e-14);
  assert.equal(normalQuantile(0), -Infinity);
  assert.throws(() => normalQuantile(1.5), /p must be/);
});

test('studentTQuantile: closed forms for df 1 and 2, a table value for df 10, fractional df, df ∞', () => {
  // df 1 is Cauchy: t_p = tan(π(p − ½)). df 2: F(t) = ½ + t/(2√(2 + t²)) ⇒ t_p = (2p − 1)√2/√(1 − (2p − 1)²).
  close(studentTQuantile(0.975, 1), Math.tan(0.475 * Math.PI), 1e-9);
  close(studentTQuantile(0.975, 2), (0.95 * Math.SQRT2) / Math.sqrt(1 - 0.95 ** 2), 1e-11);
  close(studentTQuantile(0.95, 2), (0.9 * Math.SQRT2) / Math.sqrt(1 - 0.9 ** 2), 1e-11);
  close(studentTQuantile(0.975, 10), 2.228138851986274, 1e-10);
  close(studentTCdf(studentTQuantile(0.9, 3.7), 3.7), 0.9, 1e-12);
  close(studentTQuantile(0.025, 2), -studentTQuantile(0.975, 2), 1e-12);
  close(studentTQuantile(0.975, Infinity), 1.959963984540054, 1e-12);
  close(studentTCdf(1.5, Infinity), normalCdf(1.5), 0);
});

test('satterthwaiteDf: (Σv)²/Σ(v²/df); zero parts drop out', () => {
  close(satterthwaiteDf([{ variance: 1, df: 2 }, { variance: 1, df: 2 }]), 4);
  close(satterthwaiteDf([{ variance: 3, df: 2 }, { variance: 1, df: Infinity }]), (16 * 2) / 9);
  assert.equal(satterthwaiteDf([{ variance: 0, df: 2 }, { variance: 1, df: Infinity }]), Infinity);
});

// ---------------------------------------------------------------------------------------------
// DeLong by hand
//
// Rows (label, A, B):  r0 (1, .9, .8)  r1 (0, .7, .2)  r2 (1, .6, .5)  r3 (0, .4, .6)  r4 (1, .4, .7)  r5 (0, .3, .3)  r6 (0, .1, .1)
// m = 3 positives X (r0, r2, r4), n = 4 negatives Y (r1, r3, r5, r6); ψ(x, y) = 1, ½, 0 for x >, =, < y.
//
// A: V10 = (4/4, 3/4, 2.5/4) = (1, .75, .625)            [X=.4 ties Y=.4]; AUROC_A = 2.375/3 = 19/24
//    V01 = (1/3, 2.5/3, 3/3, 3/3) = (1/3, 5/6, 1, 1)    mean 19/24 as it must be
// B: V10 = (1, .75, 1); AUROC_B = 11/12;  V01 = (3/3, 2/3, 3/3, 3/3) = (1, 2/3, 1, 1)
//
// In 24ths, A's V10 deviations are (5, −1, −4), B's (2, −4, 2); V01 deviations A (−11, 1, 5, 5), B (2, −6, 2, 2).
//   S10_AA = (25 + 1 + 16)/576/2 = 7/192     S10_BB = (4 + 16 + 4)/576/2 = 1/48     S10_AB = (10 + 4 − 8)/576/2 = 1/192
//   S01_AA = (121 + 1 + 25 + 25)/576/3 = 43/432   S01_BB = (4 + 36 + 4 + 4)/576/3 = 1/36   S01_AB = (−22 − 6 + 10 + 10)/576/3 = −1/216
//   Var A = (7/192)/3 + (43/432)/4 = 21/1728 + 43/1728 = 1/27
//   Var B = (1/48)/3 + (1/36)/4 = 1/144 + 1/144 = 1/72
//   Cov   = (1/192)/3 + (−1/216)/4 = 3/1728 − 2/1728 = 1/1728
//   Var(A − B) = 64/1728 + 24/1728 − 2/1728 = 43/864;  A − B = −3/24 = −1/8;  z = −(1/8)/√(43/864) = −0.56031…
//   positives' part of Var(A − B) = (7/192 + 1/48 − 2/192)/3 = 1/64; negatives' part (43/432 + 1/36 + 2/216)/4 = 59/1728.

const LABELS = [1, 0, 1, 0, 1, 0, 0];
const A = [0.9, 0.7, 0.6, 0.4, 0.4, 0.3, 0.1];
const B = [0.8, 0.2, 0.5, 0.6, 0.7, 0.3, 0.1];

test('delongComponents: V10 and V01 of the hand example', () => {
  const a = delongComponents(LABELS, A);
  const b = delongComponents(LABELS, B);
  assert.deepEqual(Array.from(a.v10), [1, 0.75, 0.625]);
  [1 / 3, 5 / 6, 1, 1].forEach((v, j) => close(a.v01[j]!, v, 1e-15));
  assert.deepEqual(Array.from(b.v10), [1, 0.75, 1]);
  [1, 2 / 3, 1, 1].forEach((v, j) => close(b.v01[j]!, v, 1e-15));
});

test('delongCovariance and delongTest: the hand example', () => {
  const c = delongCovariance(LABELS, [A, B]);
  close(c.auroc[0]!, 19 / 24, 1e-15);
  close(c.auroc[1]!, 11 / 12, 1e-15);
  close(c.covariance[0]![0]!, 1 / 27, 1e-15);
  close(c.covariance[1]![1]!, 1 / 72, 1e-15);
  close(c.covariance[0]![1]!, 1 / 1728, 1e-15);
  close(c.covariance[1]![0]!, 1 / 1728, 1e-15);
  const [pos, neg] = delongVarianceParts(c, [1, -1]);
  close(pos!.variance, 1 / 64, 1e-15);
  assert.equal(pos!.df, 2);
  close(neg!.variance, 59 / 1728, 1e-15);
  assert.equal(neg!.df, 3);

  const t = delongTest(LABELS, A, B);
  close(t.difference, -1 / 8, 1e-15);
  close(t.se, Math.sqrt(43 / 864), 1e-15);
  close(t.z, -1 / 8 / Math.sqrt(43 / 864), 1e-13);
  close(t.z, -0.56031, 1e-5);
  close(t.p, 2 * normalCdf(-0.125 / Math.sqrt(43 / 864)), 1e-14);
  close(t.p, 0.5753, 1e-4);
  close(t.ci[0], -0.125 - 1.959963984540054 * Math.sqrt(43 / 864), 1e-12);
  close(t.ci[1], -0.125 + 1.959963984540054 * Math.sqrt(43 / 864), 1e-12);
  assert.equal(t.n_pos, 3);
  assert.equal(t.n_neg, 4);
});

function randomScores(seed: string, n: number, levels: number): { labels: Uint8Array; s1: Float64Array; s2: Float64Array } {
  const rng = deriveRng(seed);
  const labels = new Uint8Array(n);
  const s1 = new Float64Array(n);
  const s2 = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = rng.bernoulli(0.3) ? 1 : 0;
    // Few levels, so ties are common.
    s1[i] = Math.floor((rng.normal() + labels[i]!) * levels) / levels;
    s2[i] = Math.floor((0.5 * rng.normal() + 0.5 * s1[i]! + 0.8 * labels[i]!) * levels) / levels;
  }
  return { labels, s1, s2 };
}

test('delongCovariance: midrank components equal the O(mn) definition, with many ties; AUROC equals auroc()', () => {
  const { labels, s1, s2 } = randomScores('delong-brute', 120, 3);
  const c = delongCovariance(labels, [s1, s2]);
  const pos: number[] = [];
  const neg: number[] = [];
  labels.forEach((y, i) => (y === 1 ? pos : neg).push(i));
  const psi = (x: number, y: number): number => (x > y ? 1 : x === y ? 0.5 : 0);
  const comps = [s1, s2].map((s) => ({
    v10: pos.map((i) => neg.reduce((a, j) => a + psi(s[i]!, s[j]!), 0) / neg.length),
    v01: neg.map((j) => pos.reduce((a, i) => a + psi(s[i]!, s[j]!), 0) / pos.length),
  }));
  const mean = (x: number[]): number => x.reduce((a, b) => a + b, 0) / x.length;
  const cov = (x: number[], y: number[]): number => {
    const mx = mean(x);
    const my = mean(y);
    return x.reduce((a, xi, i) => a + (xi - mx) * (y[i]! - my), 0) / (x.length - 1);
  };
  for (let r = 0; r < 2; r++) {
    close(c.auroc[r]!, auroc(labels, [s1, s2][r]!), 1e-14);
    for (let s = 0; s < 2; s++) {
      const expected = cov(comps[r]!.v10, comps[s]!.v10) / pos.length + cov(comps[r]!.v01, comps[s]!.v01) / neg.length;
      close(c.covariance[r]![s]!, expected, 1e-14);
    }
  }
});

test('delongTest: properties — identical scores, swapped order, monotone transforms', () => {
  const { labels, s1, s2 } = randomScores('delong-props', 200, 5);
  const same = delongTest(labels, s1, s1);
  assert.equal(same.difference, 0);
  assert.equal(same.se, 0);
  assert.equal(same.z, 0);
  assert.equal(same.p, 1);
  const ab = delongTest(labels, s1, s2);
  const ba = delongTest(labels, s2, s1);
  close(ab.z, -ba.z, 1e-12);
  close(ab.p, ba.p, 1e-12);
  // AUROC and its DeLong covariance depend only on the ranking.
  const transformed = delongTest(labels, s1.map((x) => Math.exp(3 * x)), s2.map((x) => 2 * x + 7));
  close(transformed.z, ab.z, 1e-12);
  close(transformed.variance_a, ab.variance_a, 1e-15);
  assert.ok(ab.p > 0 && ab.p < 1);
});

test('delong: fewer than two rows in a class gives NaN variances, not a throw', () => {
  const c = delongCovariance([1, 0, 0], [[0.9, 0.1, 0.2]]);
  assert.equal(c.auroc[0], 1);
  assert.ok(Number.isNaN(c.covariance[0]![0]!));
  assert.throws(() => delongTest([1, 0, 2], [1, 2, 3], [1, 2, 3]), /label at row 2/);
});

test('midranks: tied blocks share the average rank', () => {
  assert.deepEqual(Array.from(midranks([3, 1, 3, 2, 3])), [4, 1, 4, 2, 4]);
});

// ---------------------------------------------------------------------------------------------
// TOST by hand. With separate test sets (diagonal C) and s² above the mean test variance, the interval is a t
// interval with 2 df, whose CDF has the closed form F(t) = ½ + t/(2√(2 + t²)).

test('tost: inconclusive at margin 0.01 (hand-computed)', () => {
  // d = (.004, −.002, .007): d̄ = .003, s² = (1 + 25 + 16)e-6/2 = 21e-6 > 9e-6 = mean DeLong variance ⇒ se² = 21e-6/3 = 7e-6,
  // df 2. t_{2,.95} = .9√2/√.19 = 2.919986 ⇒ ci90 = .003 ± .0077256 = [−.0047256, .0107256]: reaches past +.01.
  // t_{2,.975} = 4.302653 ⇒ ci95 = .003 ± .011384: holds 0 ⇒ inconclusive.
  // p_upper = F((.003 − .01)/√7e-6) = F(−√7) = ½ − √7/6 = .0590414;  p_lower = 1 − F(.013/√7e-6), t² = 169/7
  //   ⇒ ½ − 13/(2√183) = .0195058.
  const r = tost([0.004, -0.002, 0.007], [9e-6, 9e-6, 9e-6], 0.01);
  close(r.estimate, 0.003, 1e-15);
  close(r.se, Math.sqrt(7e-6), 1e-15);
  close(r.df_seed, 2, 1e-12);
  close(r.ci90[0], 0.003 - ((0.9 * Math.SQRT2) / Math.sqrt(0.19)) * Math.sqrt(7e-6), 1e-12);
  close(r.ci90[1], 0.0107256, 1e-7);
  close(r.ci95[1], 0.003 + ((0.95 * Math.SQRT2) / Math.sqrt(1 - 0.95 ** 2)) * Math.sqrt(7e-6), 1e-12);
  close(r.p_upper, 0.5 - Math.sqrt(7) / 6, 1e-10);
  close(r.p_lower, 0.5 - 13 / (2 * Math.sqrt(183)), 1e-10);
  close(r.p, 0.0590414, 1e-7);
  assert.equal(r.verdict, 'inconclusive');
});

test('tost: the same differences are equivalent within ±0.02 (hand-computed)', () => {
  // p_upper = F(−.017/√7e-6), t² = 289/7 ⇒ ½ − 17/(2√303) = .0116880; p_lower: t² = 529/7 ⇒ ½ − 23/(2√543) = .0064892.
  const r = tost([0.004, -0.002, 0.007], [9e-6, 9e-6, 9e-6], 0.02);
  close(r.p_upper, 0.5 - 17 / (2 * Math.sqrt(303)), 1e-10);
  close(r.p_lower, 0.5 - 23 / (2 * Math.sqrt(543)), 1e-10);
  close(r.p, 0.011688, 1e-6);
  assert.ok(r.ci90[0] > -0.02 && r.ci90[1] < 0.02);
  assert.equal(r.verdict, 'equivalent');
});

test('tost: a clear shift is different (hand-computed)', () => {
  // d = (.03, .04, .05): d̄ = .04, s² = 1e-4 > 1e-5 ⇒ se² = 1e-4/3, df 2. ci95 = .04 ± 4.302653·.0057735 = [.01516, .06484].
  // p_upper = F(.03/se), t² = 27 ⇒ ½ + √27/(2√29) = .982451; p_lower = 1 − F(.05/se), t² = 75 ⇒ ½ − √75/(2√77) = .006537.
  const r = tost([0.03, 0.04, 0.05], [1e-5, 1e-5, 1e-5], 0.01);
  close(r.ci95[0], 0.01516, 1e-5);
  close(r.p_upper, 0.5 + Math.sqrt(27) / (2 * Math.sqrt(29)), 1e-10);
  close(r.p_lower, 0.5 - Math.sqrt(75) / (2 * Math.sqrt(77)), 1e-10);
  assert.equal(r.verdict, 'different');
});

test('tost: seeds that agree exactly still carry their test-set noise into the interval', () => {
  // Three identical differences of .003 with DeLong variance 4e-5 each on separate test sets: s² = 0, but the unshared
  // test noise floors the seed part at 4e-5/3 (df ∞): se = .00365, ci90 = .003 ± 1.645·.00365 = [−.003, .009] — within
  // ±.01, so equivalent; at ±.005 it is not.
  const r = tost([0.003, 0.003, 0.003], [4e-5, 4e-5, 4e-5], 0.01);
  close(r.se, Math.sqrt(4e-5 / 3), 1e-15);
  assert.equal(r.df_seed, Infinity);
  close(r.ci90[1], 0.003 + normalQuantile(0.95) * Math.sqrt(4e-5 / 3), 1e-12);
  assert.equal(r.verdict, 'equivalent');
  assert.equal(tost([0.003, 0.003, 0.003], [4e-5, 4e-5, 4e-5], 0.005).verdict, 'inconclusive');
  assert.throws(() => tost([0.01], [1e-4], 0), /margin/);
  const undefinedDifference = tost([0.01, NaN], [1e-4, 1e-4], 0.01);
  assert.ok(Number.isNaN(undefinedDifference.p));
  assert.equal(undefinedDifference.verdict, 'inconclusive');
});

test('seedTestPValues inverts the interval: at level 1 − 2p the bound sits on the tested value (shared test set)', () => {
  const c = [
    [9e-5, 6e-5, 6e-5],
    [6e-5, 9e-5, 6e-5],
    [6e-5, 6e-5, 9e-5],
  ];
  const d = [0.004, -0.002, 0.007];
  const { below } = seedTestPValues(d, c, 0.02, 40);
  const { above } = seedTestPValues(d, c, -0.02, 40);
  close(seedTestInterval(d, c, { level: 1 - 2 * below, testSetDf: 40 }).ci[1], 0.02, 1e-10);
  close(seedTestInterval(d, c, { level: 1 - 2 * above, testSetDf: 40 }).ci[0], -0.02, 1e-10);
  const r = tost(d, c, 0.02, 40);
  close(r.p_upper, below, 0);
  close(r.p, Math.max(above, below), 0);
  assert.equal(r.verdict, r.p < 0.05 ? 'equivalent' : r.ci95[0] > 0 || r.ci95[1] < 0 ? 'different' : 'inconclusive');
});

test('pairedAurocDifferences: the shared-test-set matrix agrees with per-seed DeLong tests on its diagonal', () => {
  const rng = deriveRng('paired');
  const n = 250;
  const labels = Uint8Array.from({ length: n }, () => (rng.bernoulli(0.2) ? 1 : 0));
  const z = Float64Array.from(labels, (y) => rng.normal() + y);
  const seeds = [0, 1, 2].map(() => ({
    labels,
    clean: Float64Array.from(z, (v) => v + rng.normal(0, 0.4)),
    poisoned: Float64Array.from(z, (v) => v + rng.normal(0, 0.6)),
  }));
  const shared = pairedAurocDifferences(seeds, { sharedTestSet: true });
  const separate = pairedAurocDifferences(seeds, { sharedTestSet: false });
  for (let s = 0; s < 3; s++) {
    const t = delongTest(labels, seeds[s]!.poisoned, seeds[s]!.clean);
    close(shared.differences[s]!, t.difference, 1e-14);
    close(shared.covariance[s]![s]!, t.se ** 2, 1e-14);
    close(separate.covariance[s]![s]!, t.se ** 2, 1e-14);
    for (let u = 0; u < 3; u++) if (u !== s) assert.equal(separate.covariance[s]![u], 0);
  }
  // Models that share patients have positively correlated differences.
  assert.ok(shared.covariance[0]![1]! > 0);
  assert.ok(shared.test_set_df > 10 && Number.isFinite(shared.test_set_df));
  const r = aurocEquivalence(seeds, { sharedTestSet: true, margin: 0.01 });
  assert.equal(r.margin, 0.01);
  assert.ok(r.ci90[0] < r.estimate && r.estimate < r.ci90[1]);
  assert.throws(() => pairedAurocDifferences([seeds[0]!, { ...seeds[1]!, labels: labels.map((y) => 1 - y) }], { sharedTestSet: true }), /not scored on seed 0's test rows/);
});
