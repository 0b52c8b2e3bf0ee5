import type { ReliabilityBin } from '../metrics/calibration.js';
import type { RunRecord } from './collect.js';
import { isClean } from './baseline.js';
import { mean } from './stats-core.js';
import { percentLabel } from './percent.js';
import { bestDetectorCell } from './stats-detection.js';
import type { FeatureAttribution, FigureData, Kpi, PooledBin, ReliabilityGroup, ReportStats, ShiftHistogram, TarByTrigger } from './stats-types.js';

/** The statistics sections of stats.json, before the figure data is added. */
type Statistics = Omit<ReportStats, 'figure_data'>;

function sorted<T>(values: Iterable<T>): T[] {
  return [...new Set(values)].sort();
}

function byRate(values: Iterable<number>): number[] {
  return [...new Set(values)].sort((a, b) => a - b);
}

/** Pools reliability bins over seeds: per bin, counts add and means are count-weighted. */
export function poolBins(binLists: readonly ReliabilityBin[][]): PooledBin[] {
  const first = binLists[0];
  if (!first) return [];
  return first.map((b, k) => {
    let n = 0;
    let sp = 0;
    let sy = 0;
    for (const list of binLists) {
      const x = list[k];
      if (!x || !(x.n > 0)) continue;
      n += x.n;
      sp += x.n * (x.meanProb ?? 0);
      sy += x.n * (x.fracPositive ?? 0);
    }
    return { lo: b.lo, hi: b.hi, n, mean_prob: n > 0 ? sp / n : null, frac_positive: n > 0 ? sy / n : null };
  });
}

/** Width of a confidence-shift histogram bin. */
const SHIFT_BIN = 0.05;

/** Share of values in each bin of width SHIFT_BIN on [−1, 1] (the range of a probability difference); the last bin is closed. */
export function histogram(values: readonly number[], width = SHIFT_BIN): { edges: number[]; shares: number[] } {
  const nBins = Math.round(2 / width);
  const counts = new Array<number>(nBins).fill(0);
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    counts[Math.min(nBins - 1, Math.max(0, Math.floor((v + 1) / width)))]!++;
  }
  const total = counts.reduce((a, b) => a + b, 0);
  const edges = Array.from({ length: nBins + 1 }, (_, k) => Number((-1 + k * width).toFixed(6)));
  return { edges, shares: counts.map((c) => (total > 0 ? c / total : 0)) };
}

/** Runs grouped by model, trigger and rate, in that sorted order; models come from every run. */
function* cellGroups(all: readonly RunRecord[], selected: readonly RunRecord[]): Generator<[string, string, number, RunRecord[]]> {
  const models = sorted(all.map((r) => r.metrics.model));
  const triggers = sorted(selected.map((r) => r.metrics.trigger));
  const rates = byRate(selected.map((r) => r.metrics.poison_rate));
  for (const model of models) {
    for (const trigger of triggers) {
      for (const rate of rates) {
        const group = selected.filter((r) => r.metrics.model === model && r.metrics.trigger === trigger && r.metrics.poison_rate === rate);
        if (group.length > 0) yield [model, trigger, rate, group];
      }
    }
  }
}

function reliability(runs: readonly RunRecord[]): ReliabilityGroup[] {
  const withBins = runs.filter((r) => Array.isArray(r.metrics.clean_bins) && r.metrics.clean_bins.length > 0);
  const out: ReliabilityGroup[] = [];
  const group = (model: string, trigger: string, poison_rate: number, g: RunRecord[]) =>
    out.push({ model, trigger, poison_rate, n_runs: g.length, bins: poolBins(g.map((r) => r.metrics.clean_bins)) });
  for (const model of sorted(runs.map((r) => r.metrics.model))) {
    const clean = withBins.filter((r) => r.metrics.model === model && isClean(r));
    if (clean.length > 0) group(model, clean[0]!.metrics.trigger, 0, clean);
  }
  for (const [model, trigger, rate, g] of cellGroups(runs, withBins.filter((r) => !isClean(r)))) group(model, trigger, rate, g);
  return out;
}

function confidenceShift(runs: readonly RunRecord[]): ShiftHistogram[] {
  const withShifts = runs.filter((r) => Array.isArray(r.metrics.attack_shifts) && r.metrics.attack_shifts.length > 0);
  return [...cellGroups(runs, withShifts)].map(([model, trigger, poison_rate, group]) => {
    const all = group.flatMap((r) => r.metrics.attack_shifts ?? []);
    return { model, trigger, poison_rate, n_rows: all.length, ...histogram(all) };
  });
}

function attributionFeatures(runs: readonly RunRecord[]): FeatureAttribution[] {
  const sums = new Map<string, { trigger: string; feature: string; total: number; n: number; touched: boolean }>();
  for (const r of runs) {
    if (!r.attribution || !r.attribution.features.some((f) => f.triggered !== null)) continue;
    for (const f of r.attribution.features) {
      if (f.triggered === null) continue;
      const key = `${r.metrics.trigger}\u0000${f.feature}`;
      const e = sums.get(key) ?? { trigger: r.metrics.trigger, feature: f.feature, total: 0, n: 0, touched: f.touched };
      e.total += f.triggered;
      e.n++;
      sums.set(key, e);
    }
  }
  return [...sums.values()].map((e) => ({ trigger: e.trigger, feature: e.feature, mean_abs_ig_triggered: e.total / e.n, n_runs: e.n, touched: e.touched }));
}

function attributionTar(runs: readonly RunRecord[]): TarByTrigger[] {
  const withTar = runs.filter((r) => r.attribution && r.attribution.tar !== null);
  return sorted(withTar.map((r) => r.metrics.trigger)).map((trigger) => {
    const group = withTar.filter((r) => r.metrics.trigger === trigger).map((r) => r.attribution!);
    const side = (values: number[]) => ({ values, mean: values.length > 0 ? mean(values) : null });
    const uniform = group.map((a) => a.uniform_share).filter((v): v is number => v !== null);
    return {
      trigger,
      uniform_share: uniform.length > 0 ? Math.max(...uniform) : null,
      clean: side(group.map((a) => a.tar_clean).filter((v): v is number => v !== null)),
      triggered: side(group.map((a) => a.tar!)),
    };
  });
}

function fmt(v: number | null, digits = 3): string {
  return v === null ? 'n/a' : v.toFixed(digits);
}

function pct(v: number | null): string {
  return v === null ? 'n/a' : `${(100 * v).toFixed(1)}%`;
}

/** "n=3 seeds (< 5)" marks a figure resting on few seeds. */
function seedsLabel(n: number): string {
  return `n=${n}${n < 5 ? ' (< 5 seeds)' : ''}`;
}

function computeKpis(stats: Statistics): Kpi[] {
  const kpis: Kpi[] = [];
  const seeds = sorted([...stats.baselines.flatMap((b) => b.seeds), ...stats.cells.flatMap((c) => c.seeds)]);
  kpis.push({ label: 'Complete runs', value: String(stats.n_runs), detail: `${stats.cells.length} poisoned cells, ${seeds.length} seed(s)` });
  const withBase = stats.baselines.filter((b) => b.clean_auroc.mean !== null);
  if (withBase.length > 0) {
    const base = withBase.reduce((a, b) => (b.clean_auroc.mean! > a.clean_auroc.mean! ? b : a));
    const c = base.clean_auroc;
    const label = withBase.length > 1 ? `Best clean AUROC (${base.model})` : `Clean AUROC (${base.model})`;
    kpis.push({ label, value: fmt(c.mean), detail: c.ci95 ? `95% CI ${fmt(c.ci95[0])}–${fmt(c.ci95[1])}, ${seedsLabel(c.n)}` : seedsLabel(c.n) });
  }
  const withAsr = stats.cells.filter((c) => c.asr.mean !== null);
  if (withAsr.length > 0) {
    const best = withAsr.reduce((a, b) => (b.asr.mean! > a.asr.mean! ? b : a));
    kpis.push({ label: 'Highest mean ASR', value: pct(best.asr.mean), detail: `${best.model}, ${best.trigger} at ${percentLabel(best.poison_rate)}, ${seedsLabel(best.asr.n)}` });
    const strong = withAsr.filter((c) => c.asr.mean! >= 0.9).sort((a, b) => a.poison_rate - b.poison_rate);
    if (strong[0]) kpis.push({ label: 'Lowest rate with ASR ≥ 90%', value: percentLabel(strong[0].poison_rate), detail: `${strong[0].model}, ${strong[0].trigger}, ${seedsLabel(strong[0].asr.n)}` });
    else kpis.push({ label: 'Lowest rate with ASR ≥ 90%', value: 'none', detail: 'no cell reaches a mean ASR of 90%' });
  }
  const withDiff = stats.cells.filter((c) => c.auroc_vs_clean.difference.mean !== null);
  if (withDiff.length > 0) {
    const worst = withDiff.reduce((a, b) => (b.auroc_vs_clean.difference.mean! < a.auroc_vs_clean.difference.mean! ? b : a));
    const d = worst.auroc_vs_clean.difference;
    kpis.push({
      label: 'Largest clean AUROC change',
      value: `${d.mean! >= 0 ? '+' : ''}${fmt(d.mean)}`,
      detail: `${worst.model}, ${worst.trigger} at ${percentLabel(worst.poison_rate)}: ${worst.auroc_vs_clean.label}, paired ${seedsLabel(d.n)}`,
    });
  }
  // Within the target class, and never the reference detectors (label, random).
  const best = bestDetectorCell(stats.detection);
  if (best) {
    const label = 'Best detector (target-class AUROC)';
    kpis.push({ label, value: fmt(best.target_class_auroc.mean, 2), detail: `${best.method}, ${best.model} ${best.trigger} at ${percentLabel(best.poison_rate)}, n=${best.target_class_auroc.n}` });
  }
  return kpis;
}

/** What the figures plot beyond the statistics sections, so that every figure is a function of stats.json alone. */
export function figureData(runs: readonly RunRecord[], statistics: Statistics): FigureData {
  return {
    kpis: computeKpis(statistics),
    reliability: reliability(runs),
    confidence_shift: confidenceShift(runs),
    attribution_features: attributionFeatures(runs),
    attribution_tar: attributionTar(runs),
  };
}
