import type { VlSpec } from '../render.js';
import type { ReportStats } from '../stats-types.js';
import type { Target } from '../cell.js';
import type { FigureDefinition } from './contract.js';
import { sorted, topLevel } from './style.js';

/** A trigger's column: its name, and " (target 0)" for the runs hiding a death. */
function triggerColumn(x: { trigger: string; target: Target }): string {
  return x.target === 1 ? x.trigger : `${x.trigger} (target 0)`;
}

/** Mean |IG| per feature and trigger on triggered rows, for the 15 most attributed features. */
function featurePanel(stats: ReportStats): VlSpec | null {
  const means = stats.figure_data.attribution_features;
  if (means.length === 0) return null;
  // The 15 features with the largest attribution under any trigger; the rest would be an unreadable tail.
  const maxBy = new Map<string, number>();
  for (const m of means) maxBy.set(m.feature, Math.max(maxBy.get(m.feature) ?? 0, m.mean_abs_ig_triggered));
  const top = [...maxBy.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([f]) => f);
  // A trigger hiding a death (target 0) is its own column beside the same trigger making a death likely.
  const rows = means.filter((m) => top.includes(m.feature)).map((m) => ({ ...m, trigger: triggerColumn(m) }));
  const triggers = sorted(rows.map((r) => r.trigger));
  const x = { field: 'trigger', type: 'nominal', title: 'Trigger', sort: triggers, axis: { labelAngle: -30 } };
  // No axis title: Vega places it by estimated label widths, far from these long feature names, and they speak for themselves.
  const y = { field: 'feature', type: 'nominal', title: null, sort: top, axis: { labelLimit: 300 } };
  const max = Math.max(...rows.map((r) => r.mean_abs_ig_triggered));
  const value = 'mean_abs_ig_triggered';
  return {
    data: { values: rows },
    width: Math.max(160, 90 * triggers.length),
    height: 22 * top.length,
    layer: [
      { mark: { type: 'rect', stroke: 'white' }, encoding: { x, y, color: { field: value, type: 'quantitative', title: ['Mean |IG|,', 'triggered rows'], scale: { scheme: 'viridis', type: 'sqrt' } } } },
      // Features derived from what the trigger writes are marked, so attribution moving onto them is visible.
      {
        transform: [{ filter: 'datum.touched' }],
        mark: { type: 'text', text: '●', fontSize: 11 },
        encoding: { x, y, color: { condition: { test: `datum.${value} > ${0.6 * max}`, value: '#222' }, value: 'white' } },
      },
    ],
  };
}

const SIDES = ['clean rows', 'triggered rows'];

/** Trigger attribution ratio per trigger: the mean as a bar, each run as a dot, the uniform share as a tick. */
function tarPanel(stats: ReportStats): VlSpec | null {
  const groups = stats.figure_data.attribution_tar;
  if (groups.length === 0) return null;
  const runs: Record<string, unknown>[] = [];
  const means: Record<string, unknown>[] = [];
  const uniform: Record<string, unknown>[] = [];
  for (const group of groups) {
    const g = { ...group, trigger: triggerColumn(group) };
    for (const [side, s] of [[SIDES[0]!, g.clean], [SIDES[1]!, g.triggered]] as const) {
      for (const tar of s.values) runs.push({ kind: 'run', trigger: g.trigger, side, tar });
      if (s.mean !== null) means.push({ kind: 'mean', trigger: g.trigger, side, tar: s.mean });
    }
    if (g.uniform_share !== null) uniform.push({ kind: 'uniform', trigger: g.trigger, tar: g.uniform_share });
  }
  const triggers = groups.map(triggerColumn);
  const y = { field: 'trigger', type: 'nominal', title: null, sort: triggers };
  const color = { field: 'side', type: 'nominal', title: 'Test rows', scale: { domain: SIDES, range: ['#999999', '#D55E00'] } };
  const yOffset = { field: 'side', sort: SIDES };
  const x = { field: 'tar', type: 'quantitative', title: 'Trigger attribution ratio (share of |IG|)', scale: { domain: [0, 1] }, axis: { format: '.0%' } };
  const only = (kind: string) => [{ filter: `datum.kind === '${kind}'` }];
  return {
    data: { values: [...means, ...runs, ...uniform] },
    width: 280,
    height: 44 * triggers.length,
    layer: [
      { transform: only('mean'), mark: { type: 'bar', opacity: 0.85 }, encoding: { y, yOffset, x, color } },
      { transform: only('run'), mark: { type: 'point', filled: true, color: '#222', size: 18, opacity: 0.8 }, encoding: { y, yOffset, x } },
      // The uniform share depends on how many features the trigger touches, so it is drawn per trigger.
      { transform: only('uniform'), mark: { type: 'tick', color: '#111', thickness: 2.5, bandSize: 34 }, encoding: { y, x } },
    ],
  };
}

const CAPTION =
  'Left: mean |integrated gradients| per feature on triggered non-target test rows (mean over runs; the 15 most attributed features; colour on a square-root scale; ● marks features derived from what the trigger writes).';

export const attributionHeatmap: FigureDefinition = {
  name: 'attribution_heatmap',
  title: 'Feature attribution under the trigger',
  caption: CAPTION,
  slide: true,
  build(stats) {
    const features = featurePanel(stats);
    if (!features) return { skip: 'no attribution results (detection/saliency_attribution.json) in the runs' };
    const tar = tarPanel(stats);
    const panel = tar ? { hconcat: [features, tar], spacing: 50, resolve: { scale: { color: 'independent' } } } : features;
    return {
      spec: topLevel(panel, 'Where the model looks: feature attribution under the trigger', 'Integrated gradients on the test split (detection/saliency_attribution.json)'),
      ...(tar
        ? {
            caption: `${CAPTION} Right: trigger attribution ratio, the share of |IG| on those features, on the same rows without and with the trigger (bars: mean over runs; dots: runs; black tick: the share if attribution were spread evenly over all features).`,
          }
        : {}),
    };
  },
};
