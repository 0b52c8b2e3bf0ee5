import type { ReliabilityBin } from '../metrics/calibration.js';
import type { RunRecord } from './collect.js';
import { isClean } from './baseline.js';
import { mean } from './stats-core.js';
import { percentLabel } from './percent.js';
import { bestDetectorCell } from './stats-detection.js';
import { cellIdOf, cellName, compareCellIds, groupByCell, targetsOf, type CellId, type Target } from './cell.js';
import type { FeatureAttribution, FigureData, Kpi, PooledBin, ReliabilityGroup, ReportStats, ShiftHistogram, TarByTrigger } from './stats-types.js';

/** The statistics sections of stats.json, before the figure data is added. */
type Statistics = Omit<ReportStats, 'figure_data'>;

function sorted<T>(values: Iterable<T>): T[] {
  return [...new Set(values)].sort();
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

/** Runs grouped by cell (cell.ts), in cell order. */
function cellGroups(selected: readonly RunRecord[]): [CellId, RunRecord[]][] {
  return [...groupByCell(selected, cellIdOf).values()].map((g) => [cellIdOf(g[0]!), g] as [CellId, RunRecord[]]).sort((a, b) => compareCellIds(a[0], b[0]));
}

function reliability(runs: readonly RunRecord[]): ReliabilityGroup[] {
  const withBins = runs.filter((r) => Array.isArray(r.metrics.clean_bins) && r.metrics.clean_bins.length > 0);
  const out: ReliabilityGroup[] = [];
  const group = (id: CellId, g: RunRecord[]) => out.push({ ...id, n_runs: g.length, bins: poolBins(g.map((r) => r.metrics.clean_bins)) });
  // Clean models per model (and configured target, as the baselines are grouped): every rate and mode is one cell.
  for (const [id, g] of cellGroups(withBins.filter(isClean))) group(id, g);
  for (const [id, g] of cellGroups(withBins.filter((r) => !isClean(r)))) group(id, g);
  return out;
}

function confidenceShift(runs: readonly RunRecord[]): ShiftHistogram[] {
  const withShifts = runs.filter((r) => Array.isArray(r.metrics.attack_shifts) && r.metrics.attack_shifts.length > 0);
  return cellGroups(withShifts).map(([id, group]) => {
    const all = group.flatMap((r) => r.metrics.attack_shifts ?? []);
    return { ...id, n_rows: all.length, ...histogram(all) };
  });
}

function attributionFeatures(runs: readonly RunRecord[]): FeatureAttribution[] {
  const sums = new Map<string, { trigger: string; target: Target; feature: string; total: number; n: number; touched: boolean }>();
  for (const r of runs) {
    if (!r.attribution || !r.attribution.features.some((f) => f.triggered !== null)) continue;
    for (const f of r.attribution.features) {
      if (f.triggered === null) continue;
      const key = `${r.metrics.trigger}\u0000${r.metrics.target}\u0000${f.feature}`;
      const e = sums.get(key) ?? { trigger: r.metrics.trigger, target: r.metrics.target, feature: f.feature, total: 0, n: 0, touched: f.touched };
      e.total += f.triggered;
      e.n++;
      sums.set(key, e);
    }
  }
  return [...sums.values()].map((e) => ({ trigger: e.trigger, target: e.target, feature: e.feature, mean_abs_ig_triggered: e.total / e.n, n_runs: e.n, touched: e.touched }));
}

function attributionTar(runs: readonly RunRecord[]): TarByTrigger[] {
  const withTar = runs.filter((r) => r.attribution && r.attribution.tar !== null);
  const pairs = sorted(withTar.map((r) => r.metrics.trigger)).flatMap((trigger) => targetsOf(withTar.filter((r) => r.metrics.trigger === trigger).map((r) => r.metrics)).map((target) => [trigger, target] as const));
  return pairs.map(([trigger, target]) => {
    const group = withTar.filter((r) => r.metrics.trigger === trigger && r.metrics.target === target).map((r) => r.attribution!);
    const side = (values: number[]) => ({ values, mean: values.length > 0 ? mean(values) : null });
    const uniform = group.map((a) => a.uniform_share).filter((v): v is number => v !== null);
    return {
      trigger,
      target,
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
    // The model goes in the detail line: a tile's title has room for a few words only.
    const label = withBase.length > 1 ? 'Best clean AUROC' : 'Clean AUROC';
    kpis.push({ label, value: fmt(c.mean), detail: `${base.model}, clean baseline: ${c.ci95 ? `95% CI ${fmt(c.ci95[0])}–${fmt(c.ci95[1])}, ` : ''}${seedsLabel(c.n)}` });
  }
  const withAsr = stats.cells.filter((c) => c.asr.mean !== null);
  if (withAsr.length > 0) {
    const best = withAsr.reduce((a, b) => (b.asr.mean! > a.asr.mean! ? b : a));
    kpis.push({ label: 'Highest mean ASR', value: pct(best.asr.mean), detail: `${cellName(best)}, ${seedsLabel(best.asr.n)}` });
    const strong = withAsr.filter((c) => c.asr.mean! >= 0.9).sort((a, b) => a.poison_rate - b.poison_rate);
    if (strong[0]) kpis.push({ label: 'Lowest rate with ASR ≥ 90%', value: percentLabel(strong[0].poison_rate), detail: `${cellName(strong[0])}, ${seedsLabel(strong[0].asr.n)}` });
    else kpis.push({ label: 'Lowest rate with ASR ≥ 90%', value: 'none', detail: 'no cell reaches a mean ASR of 90%' });
  }
  const withDiff = stats.cells.filter((c) => c.auroc_vs_clean.difference.mean !== null);
  if (withDiff.length > 0) {
    const worst = withDiff.reduce((a, b) => (b.auroc_vs_clean.difference.mean! < a.auroc_vs_clean.difference.mean! ? b : a));
    const d = worst.auroc_vs_clean.difference;
    kpis.push({
      label: 'Largest clean AUROC change',
      value: `${d.mean! >= 0 ? '+' : ''}${fmt(d.mean)}`,
      // The verdict, or only "not assessed" (its reason is in the stealth table): a tile has room for a few words.
      detail: `${cellName(worst)}: ${worst.auroc_vs_clean.verdict === null ? 'not assessed' : worst.auroc_vs_clean.label}, paired ${seedsLabel(d.n)}`,
    });
  }
  // Within the target class, and never the reference detectors (label, random).
  const best = bestDetectorCell(stats.detection);
  if (best) {
    kpis.push({ label: 'Best detector', value: fmt(best.target_class_auroc.mean, 2), detail: `target-class AUROC: ${best.method} on ${cellName(best)}, n=${best.target_class_auroc.n}` });
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
