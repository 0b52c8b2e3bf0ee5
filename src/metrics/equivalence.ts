import { checkBinary, checkSameLength } from './classification.js';
import { delongCovariance, delongVarianceParts, satterthwaiteDf } from './delong.js';
import { seedTestInterval, seedTestPValues } from './intervals.js';

/**
 * Equivalence of a paired clean-vs-poisoned difference (e.g. clean AUROC of the poisoned model minus that of the clean
 * model, per seed) within a declared margin ±m, by the two one-sided tests procedure (Schuirmann 1987, J.
 * Pharmacokinetics and Biopharmaceutics 15:657): reject H01: δ ≤ −m and H02: δ ≥ m, each at level α.
 *
 * The mean difference and its intervals are those of seedTestInterval (intervals.ts): their width holds the
 * between-seed variance AND the test-set variance of each difference (DeLong for AUROC), so a difference measured on a
 * small test set cannot look equivalent only because three seeds happened to agree. The one-sided p-values invert that
 * interval (seedTestPValues): p_lower tests H01: δ ≤ −m, p_upper tests H02: δ ≥ m, p = max. Without a shared test set
 * they are the t-test's: p_lower = 1 − F_t((d̄ + m)/se; df), p_upper = F_t((d̄ − m)/se; df).
 *
 * Verdict, with α = 0.05:
 *   'equivalent'   the 90% (1 − 2α) interval lies strictly inside (−m, m), which is p < α;
 *   'different'    not equivalent, and the 95% interval excludes 0;
 *   'inconclusive' otherwise: the data can tell neither.
 * A difference can be both statistically non-zero and within the margin; it is then 'equivalent' — the margin says
 * what size of change matters.
 *
 * Measured on simulated sweeps (3 seeds sharing one test split of 300 stays / ~40 events, clean AUROC 0.80, 1,000
 * sweeps; tests/metrics-intervals.test.ts): with margin 0.03 a true difference on the margin is called equivalent in
 * ~1% of sweeps (≤ α as TOST promises) and a true difference of 0 in only ~4–11%. At the default ±0.01 equivalence is
 * practically out of reach at this size: expect 'inconclusive', which is the honest answer.
 */

export const EQUIVALENCE_ALPHA = 0.05;
/** The default margin for clean AUROC, in AUROC units (issue 10: ±0.01, configurable). */
export const DEFAULT_AUROC_MARGIN = 0.01;

export type EquivalenceVerdict = 'equivalent' | 'different' | 'inconclusive';

export interface TostResult {
  n_seeds: number;
  margin: number;
  estimate: number;
  se: number;
  df_seed: number;
  df_test: number;
  between_seed_variance: number;
  test_set_variance: number;
  /** The 1 − 2α = 90% interval: equivalence holds when it lies inside ±margin. */
  ci90: [number, number];
  ci95: [number, number];
  p_lower: number;
  p_upper: number;
  /** max(p_lower, p_upper): the TOST p-value for equivalence. */
  p: number;
  verdict: EquivalenceVerdict;
}

/**
 * TOST on per-seed differences with their test-set covariance matrix (or per-seed variances for independent test
 * sets) and its degrees of freedom (default ∞), as in seedTestInterval.
 */
export function tost(
  differences: readonly number[],
  within: readonly number[] | readonly (readonly number[])[],
  margin = DEFAULT_AUROC_MARGIN,
  testSetDf = Infinity,
): TostResult {
  if (!(margin > 0 && Number.isFinite(margin))) throw new Error(`tost: margin must be a positive number, got ${margin}`);
  const i90 = seedTestInterval(differences, within, { level: 1 - 2 * EQUIVALENCE_ALPHA, testSetDf });
  const i95 = seedTestInterval(differences, within, { level: 1 - EQUIVALENCE_ALPHA, testSetDf });
  const pLower = seedTestPValues(differences, within, -margin, testSetDf).above;
  const pUpper = seedTestPValues(differences, within, margin, testSetDf).below;
  const equivalent = i90.ci[0] > -margin && i90.ci[1] < margin;
  const different = i95.ci[0] > 0 || i95.ci[1] < 0;
  return {
    n_seeds: differences.length,
    margin,
    estimate: i90.estimate,
    se: i90.se,
    df_seed: i90.df_seed,
    df_test: i90.df_test,
    between_seed_variance: i90.between_seed_variance,
    test_set_variance: i90.test_set_variance,
    ci90: i90.ci,
    ci95: i95.ci,
    p_lower: pLower,
    p_upper: pUpper,
    p: Math.max(pLower, pUpper),
    verdict: equivalent ? 'equivalent' : different ? 'different' : 'inconclusive',
  };
}

export interface PairedScores {
  /** 0/1 labels of the clean test rows this seed was scored on. */
  labels: ArrayLike<number>;
  /** Scores of the clean-trained model of this seed. */
  clean: ArrayLike<number>;
  /** Scores of the poisoned model of the same seed, same rows. */
  poisoned: ArrayLike<number>;
}

/**
 * Per-seed AUROC differences (poisoned − clean) on clean test rows and their DeLong covariance matrix. On a shared test
 * set one DeLong matrix over all 2k score vectors gives every covariance, Cov(d_s, d_t) = Σ[p_s,p_t] − Σ[p_s,c_t] −
 * Σ[c_s,p_t] + Σ[c_s,c_t]; with separate test sets each seed's difference has its own DeLong variance and C is diagonal.
 */
export function pairedAurocDifferences(
  seeds: readonly PairedScores[],
  options: { sharedTestSet: boolean },
): { differences: number[]; covariance: number[][]; test_set_df: number } {
  if (seeds.length === 0) throw new Error('pairedAurocDifferences: no seed given');
  for (const [s, p] of seeds.entries()) {
    checkSameLength(`pairedAurocDifferences (seed ${s} labels vs clean)`, p.labels, p.clean);
    checkSameLength(`pairedAurocDifferences (seed ${s} labels vs poisoned)`, p.labels, p.poisoned);
    checkBinary(`pairedAurocDifferences (seed ${s})`, p.labels);
  }
  const k = seeds.length;
  if (options.sharedTestSet) {
    const labels = seeds[0]!.labels;
    for (const [s, p] of seeds.entries()) {
      const same = p.labels.length === labels.length && Array.prototype.every.call(labels, (y: number, i: number) => p.labels[i] === y);
      if (!same) throw new Error(`pairedAurocDifferences: seed ${s} was not scored on seed 0's test rows; a shared test set needs the same rows in the same order`);
    }
    // Vectors 0..k−1 are the poisoned models, k..2k−1 the clean ones.
    const c = delongCovariance(labels, [...seeds.map((s) => s.poisoned), ...seeds.map((s) => s.clean)]);
    const differences = seeds.map((_, s) => c.auroc[s]! - c.auroc[k + s]!);
    const cov = c.covariance;
    const covariance = seeds.map((_, s) => seeds.map((__, t) => cov[s]![t]! - cov[s]![k + t]! - cov[k + s]![t]! + cov[k + s]![k + t]!));
    const meanDifference = [...seeds.map(() => 1 / k), ...seeds.map(() => -1 / k)];
    return { differences, covariance, test_set_df: satterthwaiteDf(delongVarianceParts(c, meanDifference)) };
  }
  const differences: number[] = [];
  const covariance: number[][] = seeds.map(() => new Array<number>(k).fill(0));
  const parts: { variance: number; df: number }[] = [];
  for (const [s, p] of seeds.entries()) {
    const c = delongCovariance(p.labels, [p.poisoned, p.clean]);
    differences.push(c.auroc[0]! - c.auroc[1]!);
    covariance[s]![s] = c.covariance[0]![0]! + c.covariance[1]![1]! - 2 * c.covariance[0]![1]!;
    parts.push(...delongVarianceParts(c, [1 / k, -1 / k]));
  }
  return { differences, covariance, test_set_df: satterthwaiteDf(parts) };
}

/** TOST of clean AUROC, poisoned vs clean model per seed, within ±margin. */
export function aurocEquivalence(seeds: readonly PairedScores[], options: { sharedTestSet: boolean; margin?: number }): TostResult {
  const { differences, covariance, test_set_df } = pairedAurocDifferences(seeds, options);
  return tost(differences, covariance, options.margin ?? DEFAULT_AUROC_MARGIN, test_set_df);
}
