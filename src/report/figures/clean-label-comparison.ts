import type { VlSpec } from '../render.js';
import type { CellStats, ReportStats } from '../stats-types.js';
import { DEFAULT_MODE, TARGET_ORDER } from '../cell.js';
import { percentLabel } from '../percent.js';
import type { FigureDefinition } from './contract.js';
import { ci, intervalNote, modelColor, modelsOf, modesOf, topLevel } from './style.js';

/**
 * The clean-label attacks side by side: at each trigger, direction and rate where a clean-label mode was run, the ASR
 * of the naive clean-label poison, of label_consistent (Turner et al. 2019) and of dirty poison where it was run at the
 * same rate, against the matching clean models' false-trigger rate (the level a never-poisoned model reaches).
 */
export interface CleanLabelGroup {
  title: string;
  cells: CellStats[];
}

/** Cells grouped by trigger, target and rate, where any of them is in another mode than dirty; in cell order. */
export function cleanLabelGroups(stats: ReportStats): CleanLabelGroup[] {
  const keyOf = (c: CellStats) => JSON.stringify([c.trigger, c.target, c.poison_rate]);
  const wanted = new Set(stats.cells.filter((c) => c.mode !== DEFAULT_MODE).map(keyOf));
  const groups = new Map<string, CleanLabelGroup>();
  const ordered = [...stats.cells].sort((a, b) => (a.trigger < b.trigger ? -1 : a.trigger > b.trigger ? 1 : 0) || TARGET_ORDER.indexOf(a.target) - TARGET_ORDER.indexOf(b.target) || a.poison_rate - b.poison_rate);
  for (const c of ordered) {
    const key = keyOf(c);
    if (!wanted.has(key)) continue;
    const group = groups.get(key) ?? { title: `${c.trigger} at ${percentLabel(c.poison_rate)}, target ${c.target}`, cells: [] };
    group.cells.push(c);
    groups.set(key, group);
  }
  return [...groups.values()];
}

function panel(stats: ReportStats, groups: CleanLabelGroup[]): VlSpec {
  const rows: Record<string, unknown>[] = [];
  for (const g of groups) {
    for (const c of g.cells) if (c.asr.mean !== null) rows.push({ kind: 'cell', panel: g.title, model: c.model, mode: c.mode, ...ci(c.asr) });
    // The matched clean models' false-trigger rate, once per model (the first cell that found its clean runs).
    for (const model of modelsOf(stats)) {
      const ft = g.cells.find((c) => c.model === model && c.false_trigger_asr.mean !== null);
      if (ft) rows.push({ kind: 'ft', panel: g.title, model, ...ci(ft.false_trigger_asr) });
    }
  }
  const models = modelsOf(stats);
  const color = modelColor(models);
  const modes = modesOf(stats);
  const x = { field: 'mode', type: 'nominal', title: 'Poisoning mode', sort: modes, axis: { labelAngle: -25 } };
  const y = { field: 'mean', type: 'quantitative', title: 'Attack success rate', scale: { domain: [0, 1] }, axis: { format: '.0%' } };
  const only = (kind: string) => [{ filter: `datum.kind === '${kind}'` }];
  return {
    data: { values: rows },
    facet: { field: 'panel', type: 'nominal', title: null, sort: groups.map((g) => g.title), header: { labelFontSize: 13 } },
    columns: Math.min(groups.length, 3),
    spec: {
      // Wide enough for the panel title, which would otherwise widen the cell and push the axis away from the bars.
      width: Math.max(240, 55 * modes.length * Math.max(1, models.length)),
      height: 200,
      layer: [
        { transform: only('cell'), mark: { type: 'bar', opacity: 0.85 }, encoding: { x, xOffset: { field: 'model', sort: models }, y, color } },
        { transform: only('cell'), mark: { type: 'rule', strokeWidth: 1.6, color: '#222' }, encoding: { x, xOffset: { field: 'model', sort: models }, y: { ...y, field: 'lo' }, y2: { field: 'hi' } } },
        { transform: only('ft'), mark: { type: 'rule', strokeWidth: 1.8, strokeDash: [7, 4] }, encoding: { y, color } },
      ],
    },
  };
}

export const cleanLabelComparison: FigureDefinition = {
  name: 'clean_label_comparison',
  title: 'Clean-label attacks: naive clean-label vs label_consistent at the same rate',
  caption:
    'Attack success rate of the naive clean-label poison (mode clean: the trigger stamped on target-class rows) and of label_consistent (Turner et al. 2019: the rows first hardened against a surrogate model within plausible ranges), beside dirty poison where it ran at the same rate; bars are means over seeds with their 95% CI. The dashed line is the matching clean models\' false-trigger rate with the same trigger and direction. Target 1 makes a death likely, target 0 hides one.',
  slide: true,
  build(stats) {
    const groups = cleanLabelGroups(stats);
    if (groups.length === 0) return { skip: 'no clean-label runs (poison mode clean or label_consistent)' };
    const note = intervalNote(groups.flatMap((g) => g.cells.map((c) => c.asr)).filter((s) => s.mean !== null));
    return { spec: topLevel(panel(stats, groups), 'Clean-label attacks at the same poison rate', `Mean over seeds; ${note}; dashed: clean-model false-trigger rate`) };
  },
};
