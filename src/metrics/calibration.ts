import { checkBinary, checkProbs, checkSameLength } from './classification.js';

/** One bin of a reliability diagram over p(y = 1). Empty bins have n = 0 and NaN means. */
export interface ReliabilityBin {
  lo: number;
  hi: number;
  n: number;
  meanProb: number;
  fracPositive: number;
}

function checkBins(what: string, nBins: number): void {
  if (!Number.isInteger(nBins) || nBins < 1) throw new Error(`${what}: nBins must be a positive integer, got ${nBins}`);
}

/**
 * Bin index of p among nBins equal-width bins: bin k = [k/nBins, (k+1)/nBins), the last bin
 * closed so p = 1 belongs to it. The floor guess is corrected against the same edges that the
 * bins report, so a p lying exactly on an edge (e.g. 0.3) always lands in the bin that starts there.
 */
function binOf(p: number, nBins: number): number {
  let k = Math.min(Math.floor(p * nBins), nBins - 1);
  while (k < nBins - 1 && p >= (k + 1) / nBins) k++;
  while (k > 0 && p < k / nBins) k--;
  return k;
}

/**
 * Per-bin counts, mean predicted p(y = 1) and observed fraction of positives, for reliability
 * diagrams. Bins are equal-width on p(y = 1) over [0, 1] (see `ece`).
 */
export function reliabilityBins(labels: ArrayLike<number>, probs: ArrayLike<number>, nBins = 10): ReliabilityBin[] {
  checkSameLength('reliabilityBins', labels, probs);
  checkBinary('reliabilityBins', labels);
  checkProbs('reliabilityBins', probs);
  checkBins('reliabilityBins', nBins);
  const count = new Float64Array(nBins);
  const sumP = new Float64Array(nBins);
  const sumY = new Float64Array(nBins);
  for (let i = 0; i < labels.length; i++) {
    const k = binOf(probs[i]!, nBins);
    count[k]!++;
    sumP[k]! += probs[i]!;
    sumY[k]! += labels[i]!;
  }
  const bins: ReliabilityBin[] = [];
  for (let k = 0; k < nBins; k++) {
    const n = count[k]!;
    bins.push({
      lo: k / nBins,
      hi: (k + 1) / nBins,
      n,
      meanProb: n === 0 ? NaN : sumP[k]! / n,
      fracPositive: n === 0 ? NaN : sumY[k]! / n,
    });
  }
  return bins;
}

/**
 * Expected Calibration Error with equal-width bins (Naeini, Cooper & Hauskrecht 2015, AAAI;
 * popularized by Guo et al. 2017, "On Calibration of Modern Neural Networks"):
 *
 *   ECE = Σ_b (n_b / N) · |mean(y in b) − mean(p in b)|
 *
 * Computed on p(y = 1) against the 0/1 outcome, NOT on the max-class confidence against
 * correctness as in Guo et al.: for a rare outcome like mortality the max-class version is
 * dominated by confident survivors and hides miscalibration of the risk itself. Bin k covers
 * [k/nBins, (k+1)/nBins), the last bin includes 1.0. Empty bins contribute nothing. NaN when empty.
 */
export function ece(labels: ArrayLike<number>, probs: ArrayLike<number>, nBins = 10): number {
  const bins = reliabilityBins(labels, probs, nBins);
  const total = labels.length;
  if (total === 0) return NaN;
  let sum = 0;
  for (const b of bins) {
    if (b.n > 0) sum += (b.n / total) * Math.abs(b.fracPositive - b.meanProb);
  }
  return sum;
}
