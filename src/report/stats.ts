import type { RunRecord } from './collect.js';
import { detectionMethods } from './collect.js';
import { isClean } from './baseline.js';
import { N_TOO_SMALL, summarize } from './stats-core.js';
import { cellStatistics } from './stats-cells.js';
import { FEW_SEEDS } from './stats-intervals.js';
import { DEFAULT_AUROC_MARGIN } from '../metrics/equivalence.js';
import { figureData } from './stats-figure-data.js';
import { detectionStats } from './stats-detection.js';
import type { AttributionStats, ReportStats } from './stats-types.js';
import { TARGET_ORDER } from './cell.js';

const BOOTSTRAP_RESAMPLES = 2000;
const BOOTSTRAP_SEED = 0;


export interface StatsOptions {
  resamples?: number;
  seed?: number;
  /** Equivalence margin of the clean-AUROC (stealth) comparison; default ±0.01. */
  aurocMargin?: number;
}

export function computeStats(runs: readonly RunRecord[], options: StatsOptions = {}): ReportStats {
  const resamples = options.resamples ?? BOOTSTRAP_RESAMPLES;
  const seed = options.seed ?? BOOTSTRAP_SEED;
  // Each statistic gets its own bootstrap stream named after what it summarizes, so adding a cell or a metric does
  // not change any other interval.
  const aurocMargin = options.aurocMargin ?? DEFAULT_AUROC_MARGIN;
  const sum = (values: number[], ...purpose: (string | number)[]) => summarize(values, { resamples, seed, purpose });

  const { baselines, cells, notes } = cellStatistics(runs, { aurocMargin: options.aurocMargin });
  const methods = detectionMethods(runs);
  const poisonedRuns = runs.filter((r) => !isClean(r));

  // Saliency attribution per trigger and direction: a trigger hiding a death is another attack than one making it likely.
  const attribution: AttributionStats[] = [];
  const triggers = [...new Set(poisonedRuns.map((r) => r.metrics.trigger))].sort();
  for (const [trigger, target] of triggers.flatMap((t) => TARGET_ORDER.map((target) => [t, target] as const))) {
    const withAttr = poisonedRuns.filter((r) => r.metrics.trigger === trigger && r.metrics.target === target && r.attribution);
    if (withAttr.length === 0) continue;
    const purpose = target === 1 ? ['attribution', trigger] : ['attribution', trigger, 'target0'];
    const tar = withAttr.map((r) => r.attribution!.tar).filter((v): v is number => v !== null);
    const tarClean = withAttr.map((r) => r.attribution!.tar_clean).filter((v): v is number => v !== null);
    const uniform = withAttr.map((r) => r.attribution!.uniform_share).find((v): v is number => v !== null) ?? null;
    attribution.push({
      trigger,
      target,
      n_runs: withAttr.length,
      tar_triggered: sum(tar, ...purpose, 'tar'),
      tar_clean: sum(tarClean, ...purpose, 'tar_clean'),
      uniform_share: uniform,
    });
  }

  if (methods.length === 0) notes.push('no detection results (detection/<method>.json) in any run: detection statistics are omitted');

  const statistics = {
    settings: {
      intervals:
        'cells and baselines: seed-and-test interval (src/metrics/intervals.ts seedTestInterval; each summary names its ci_method): between-seed variation plus the shared test split\'s sampling error, by DeLong for AUROC and a stratified bootstrap of test stays for rates',
      bootstrap: 'detector, defence and attribution summaries: percentile bootstrap of the mean over runs (seeds only)',
      bootstrap_resamples: resamples,
      bootstrap_seed: seed,
      ci_level: 0.95,
      few_seeds: `intervals from fewer than ${FEW_SEEDS} seeds are marked few_seeds (they rest on little seed information)`,
      sd: 'sample standard deviation (n − 1)',
      pairing:
        'each poisoned run is paired with the clean run (trigger none, rate 0) that matches it on model and training config, threshold rule, data and splits hashes and seed; for net ASR also on target and resolved trigger parameters (else "no matching clean run")',
      stealth: `TOST of clean AUROC, poisoned − clean, within ±${aurocMargin} (α = 0.05, 90% interval inside the margin), on paired differences with their DeLong test-set covariance; verdict "equivalent within ±m", "different" (95% interval excludes 0) or "inconclusive"`,
      auroc_margin: aurocMargin,
      tests: ['TOST equivalence of clean AUROC within ±margin (metrics/equivalence.ts)', "DeLong's test of poisoned vs clean AUROC per seed on the shared test split (DeLong et al. 1988)"],
      n_too_small: `"${N_TOO_SMALL}" marks statistics with too few values: SD needs n ≥ 2`,
    },
    n_runs: runs.length,
    baselines,
    cells,
    attribution,
    detection: detectionStats(runs, { resamples, seed }),
    notes,
  };
  return { ...statistics, figure_data: figureData(runs, statistics) };
}
