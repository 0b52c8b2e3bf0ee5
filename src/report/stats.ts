import type { RunRecord } from './collect.js';
import { detectionMethods } from './collect.js';
import { isClean } from './baseline.js';
import { holm, N_TOO_SMALL, pairedTTest, summarize, wilcoxonSignedRank, type Summary } from './stats-core.js';
import { figureData } from './stats-figure-data.js';
import { detectionStats } from './stats-detection.js';
import type { AttributionStats, BaselineStats, CellStats, DefenceStats, DetectorStats, ReportStats } from './stats-types.js';

const BOOTSTRAP_RESAMPLES = 2000;
const BOOTSTRAP_SEED = 0;


function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    const list = out.get(k);
    if (list) list.push(it);
    else out.set(k, [it]);
  }
  return out;
}

export function computeStats(runs: readonly RunRecord[], options: { resamples?: number; seed?: number } = {}): ReportStats {
  const resamples = options.resamples ?? BOOTSTRAP_RESAMPLES;
  const seed = options.seed ?? BOOTSTRAP_SEED;
  // Each statistic gets its own bootstrap stream named after what it summarizes, so adding a cell or a metric does
  // not change any other interval.
  const sum = (values: number[], ...purpose: (string | number)[]) => summarize(values, { resamples, seed, purpose });
  const notes: string[] = [];

  const cleanRuns = runs.filter(isClean);
  const cleanBySeed = new Map<string, RunRecord>();
  for (const r of cleanRuns) cleanBySeed.set(`${r.metrics.model}\u0000${r.metrics.seed}`, r);

  const baselines: BaselineStats[] = [];
  for (const [model, group] of groupBy(cleanRuns, (r) => r.metrics.model)) {
    const triggers = [...new Set(group.flatMap((r) => Object.keys(r.metrics.false_trigger ?? {})))].sort();
    const ft: Record<string, Summary> = {};
    for (const t of triggers) {
      ft[t] = sum(group.map((r) => r.metrics.false_trigger?.[t]?.asr).filter((v): v is number => typeof v === 'number'), 'baseline', model, 'false_trigger', t);
    }
    baselines.push({
      model,
      n_runs: group.length,
      seeds: group.map((r) => r.metrics.seed),
      clean_auroc: sum(group.map((r) => r.metrics.clean.auroc), 'baseline', model, 'auroc'),
      clean_auprc: sum(group.map((r) => r.metrics.clean.auprc), 'baseline', model, 'auprc'),
      ece: sum(group.map((r) => r.metrics.clean.ece), 'baseline', model, 'ece'),
      brier: sum(group.map((r) => r.metrics.clean.brier), 'baseline', model, 'brier'),
      false_trigger_asr: ft,
    });
  }

  const methods = detectionMethods(runs);
  const cells: CellStats[] = [];
  const poisonedRuns = runs.filter((r) => !isClean(r));
  const cellKey = (r: RunRecord) => [r.metrics.model, r.metrics.trigger, r.metrics.poison_rate].join('\u0000');
  for (const group of groupBy(poisonedRuns, cellKey).values()) {
    const { model, trigger, poison_rate } = group[0]!.metrics;
    const key = [model, trigger, poison_rate];
    const asrNet: number[] = [];
    const ftPaired: number[] = [];
    const aurocDiff: number[] = [];
    const pairedSeeds: number[] = [];
    for (const r of group) {
      const clean = cleanBySeed.get(`${model}\u0000${r.metrics.seed}`);
      if (!clean) continue;
      pairedSeeds.push(r.metrics.seed);
      aurocDiff.push(r.metrics.clean.auroc - clean.metrics.clean.auroc);
      const ft = clean.metrics.false_trigger?.[trigger]?.asr;
      if (r.metrics.attack && typeof ft === 'number') {
        asrNet.push(r.metrics.attack.asr - ft);
        ftPaired.push(ft);
      }
    }
    const detection: Record<string, Summary> = {};
    for (const m of methods) {
      const values = group.map((r) => r.detection.find((d) => d.method === m)?.auroc).filter((v): v is number => typeof v === 'number');
      if (values.length > 0) detection[m] = sum(values, ...key, 'detection', m);
    }
    const modes = [...new Set(group.map((r) => r.metrics.poison_mode))];
    cells.push({
      model,
      trigger,
      poison_rate,
      poison_mode: modes.join(','),
      n_runs: group.length,
      seeds: group.map((r) => r.metrics.seed),
      asr: sum(group.flatMap((r) => (r.metrics.attack ? [r.metrics.attack.asr] : [])), ...key, 'asr'),
      asr_net: sum(asrNet, ...key, 'asr_net'),
      false_trigger_asr: sum(ftPaired, ...key, 'false_trigger'),
      confidence_shift: sum(group.flatMap((r) => (r.metrics.attack ? [r.metrics.attack.confidence_shift] : [])), ...key, 'confidence_shift'),
      clean_auroc: sum(group.map((r) => r.metrics.clean.auroc), ...key, 'auroc'),
      clean_auprc: sum(group.map((r) => r.metrics.clean.auprc), ...key, 'auprc'),
      ece: sum(group.map((r) => r.metrics.clean.ece), ...key, 'ece'),
      auroc_vs_clean: {
        seeds: pairedSeeds,
        difference: sum(aurocDiff, ...key, 'auroc_diff'),
        t_test: pairedTTest(aurocDiff),
        wilcoxon: wilcoxonSignedRank(aurocDiff),
      },
      detection_auroc: detection,
    });
    if (pairedSeeds.length < group.length) {
      notes.push(`${model}/${trigger}/${poison_rate}: ${group.length - pairedSeeds.length} of ${group.length} seeds have no same-seed clean run; they are left out of the paired statistics`);
    }
  }
  cells.sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : 0) || (a.trigger < b.trigger ? -1 : a.trigger > b.trigger ? 1 : 0) || a.poison_rate - b.poison_rate);

  // Holm across all cells: one family for the t-tests, one for the Wilcoxon tests.
  const tHolm = holm(cells.map((c) => c.auroc_vs_clean.t_test.p));
  const wHolm = holm(cells.map((c) => c.auroc_vs_clean.wilcoxon.p));
  cells.forEach((c, i) => {
    c.auroc_vs_clean.t_test.p_holm = tHolm[i]!;
    c.auroc_vs_clean.wilcoxon.p_holm = wHolm[i]!;
  });

  const detectors: DetectorStats[] = [];
  const triggers = [...new Set(poisonedRuns.map((r) => r.metrics.trigger))].sort();
  for (const trigger of triggers) {
    const group = poisonedRuns.filter((r) => r.metrics.trigger === trigger);
    for (const m of methods) {
      const results = group.flatMap((r) => r.detection.filter((d) => d.method === m));
      if (results.length === 0) continue;
      const applicable = results.filter((d) => d.applicable);
      detectors.push({
        trigger,
        method: m,
        n_runs: applicable.length,
        n_not_applicable: results.length - applicable.length,
        detection_auroc: sum(applicable.map((d) => d.auroc).filter((v): v is number => v !== null), 'detector', trigger, m, 'auroc'),
        tpr_at_fpr_5pct: sum(applicable.map((d) => d.tpr_at_fpr_5pct).filter((v): v is number => v !== null), 'detector', trigger, m, 'tpr5'),
      });
    }
  }

  const defences: DefenceStats[] = [];
  const defenceMethods = [...new Set(runs.flatMap((r) => r.defences.map((d) => d.method)))].sort();
  for (const trigger of triggers) {
    const group = poisonedRuns.filter((r) => r.metrics.trigger === trigger);
    for (const m of defenceMethods) {
      const results = group.flatMap((r) => r.defences.filter((d) => d.method === m));
      if (results.length === 0) continue;
      const values = (pick: (d: (typeof results)[number]) => number | null) => results.map(pick).filter((v): v is number => v !== null);
      defences.push({
        trigger,
        method: m,
        n_runs: results.length,
        der: sum(values((d) => d.der), 'defence', trigger, m, 'der'),
        asr_drop: sum(values((d) => d.asr_drop), 'defence', trigger, m, 'asr_drop'),
        clean_auroc_change: sum(values((d) => d.clean_auroc_change), 'defence', trigger, m, 'auroc_change'),
      });
    }
  }

  const attribution: AttributionStats[] = [];
  for (const trigger of triggers) {
    const withAttr = poisonedRuns.filter((r) => r.metrics.trigger === trigger && r.attribution);
    if (withAttr.length === 0) continue;
    const tar = withAttr.map((r) => r.attribution!.tar).filter((v): v is number => v !== null);
    const tarClean = withAttr.map((r) => r.attribution!.tar_clean).filter((v): v is number => v !== null);
    const uniform = withAttr.map((r) => r.attribution!.uniform_share).find((v): v is number => v !== null) ?? null;
    attribution.push({
      trigger,
      n_runs: withAttr.length,
      tar_triggered: sum(tar, 'attribution', trigger, 'tar'),
      tar_clean: sum(tarClean, 'attribution', trigger, 'tar_clean'),
      uniform_share: uniform,
    });
  }

  if (cleanRuns.length === 0) notes.push('no clean runs (trigger none, rate 0): ASR net of the false-trigger rate and the paired AUROC differences are not available');
  if (methods.length === 0) notes.push('no detection results (detection/<method>.json) in any run: detection statistics are omitted');
  const skippedTests = cells.filter((c) => c.auroc_vs_clean.t_test.p === null).length;
  if (skippedTests > 0) notes.push(`${skippedTests} of ${cells.length} cells have no paired t-test (${N_TOO_SMALL} or zero variance) and are not part of the Holm family`);

  const statistics = {
    settings: {
      bootstrap: 'percentile bootstrap of the mean over seeds',
      bootstrap_resamples: resamples,
      bootstrap_seed: seed,
      ci_level: 0.95,
      sd: 'sample standard deviation (n − 1)',
      pairing: 'each poisoned run is paired with the clean run (trigger none, rate 0) of the same model and seed',
      tests: ['paired t-test, two-sided, poisoned − clean AUROC (needs n ≥ 3)', 'Wilcoxon signed-rank, exact, two-sided'],
      multiple_comparisons: 'Holm (1979) across all cells, separately for each test',
      n_too_small: `"${N_TOO_SMALL}" marks statistics with too few values: SD and CI need n ≥ 2, the t-test n ≥ 3`,
    },
    n_runs: runs.length,
    baselines,
    cells,
    detectors,
    defences,
    attribution,
    detection: detectionStats(runs, { resamples, seed }),
    notes,
  };
  return { ...statistics, figure_data: figureData(runs, statistics) };
}
