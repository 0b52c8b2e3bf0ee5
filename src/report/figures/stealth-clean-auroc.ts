import type { VlSpec } from '../render.js';
import type { ReportStats } from '../stats-types.js';
import type { FigureDefinition } from './contract.js';
import type { Target } from '../cell.js';
import { baselinePerModel, cellTargets, ci, dashLegend, intervalNote, modelColor, modelsOf, modeShape, modesOf, rateAxis, sorted, splitByTarget, topLevel, triggerFacet } from './style.js';

const SERIES_POISONED = 'Poisoned model (mean, 95% CI)';
const SERIES_BASE = 'Clean baseline (mean, 95% CI band)';

/** Clean-test AUROC of the poisoned models of one direction against the clean baseline band, per trigger. */
function directionPanel(stats: ReportStats, target: Target, domain: [number, number]): VlSpec | null {
  const rows: Record<string, unknown>[] = [];
  for (const c of stats.cells) {
    if (c.target === target && c.clean_auroc.mean !== null) rows.push({ kind: 'cell', model: c.model, trigger: c.trigger, poison_rate: c.poison_rate, mode: c.mode, series: SERIES_POISONED, ...ci(c.clean_auroc) });
  }
  if (rows.length === 0) return null;
  const triggers = sorted(rows.map((r) => r.trigger as string));
  // The baseline has no trigger; it is repeated in every trigger's panel so each panel carries its reference band.
  for (const b of baselinePerModel(stats)) for (const t of triggers) if (b.clean_auroc.mean !== null) rows.push({ kind: 'base', model: b.model, trigger: t, series: SERIES_BASE, ...ci(b.clean_auroc) });
  const x = rateAxis(stats.cells.map((c) => c.poison_rate));
  const color = modelColor(modelsOf(stats));
  const shape = modeShape(modesOf(stats));
  const y = { field: 'mean', type: 'quantitative', title: 'Clean-test AUROC', scale: { domain, nice: false }, axis: { format: '.2f' } };
  const dash = dashLegend(SERIES_POISONED, SERIES_BASE);
  const detail = { field: 'mode', type: 'nominal' };
  return {
    data: { values: rows },
    ...triggerFacet(triggers.length),
    spec: {
      width: 230,
      height: 180,
      layer: [
        { transform: [{ filter: "datum.kind === 'base'" }], mark: { type: 'rect', opacity: 0.12 }, encoding: { y: { ...y, field: 'lo' }, y2: { field: 'hi' }, color } },
        { transform: [{ filter: "datum.kind === 'base'" }], mark: { type: 'rule', strokeWidth: 1.6 }, encoding: { y, color, strokeDash: dash } },
        { transform: [{ filter: "datum.kind === 'cell'" }], mark: { type: 'rule', strokeWidth: 1.6 }, encoding: { x, y: { ...y, field: 'lo' }, y2: { field: 'hi' }, color } },
        { transform: [{ filter: "datum.kind === 'cell'" }], mark: { type: 'line', strokeWidth: 2.2 }, encoding: { x, y, color, strokeDash: dash, detail } },
        { transform: [{ filter: "datum.kind === 'cell'" }], mark: { type: 'point', size: 55, filled: true, opacity: 1 }, encoding: { x, y, color, shape } },
      ],
    },
  };
}

/** Clean-test AUROC of poisoned models against the clean baseline band, per trigger and direction (also on the dashboard). */
export function stealthPanel(stats: ReportStats): VlSpec | null {
  const summaries = [...stats.cells.map((c) => c.clean_auroc), ...baselinePerModel(stats).map((b) => b.clean_auroc)].filter((s) => s.mean !== null);
  const values = summaries.flatMap((s) => [s.mean, s.ci95?.[0], s.ci95?.[1]]).filter((v): v is number => typeof v === 'number');
  if (values.length === 0) return null;
  // One y range for both directions, so their panels compare at a glance.
  const lo = Math.floor((Math.min(...values) - 0.01) * 50) / 50;
  const hi = Math.min(1, Math.ceil((Math.max(...values) + 0.01) * 50) / 50);
  return splitByTarget(cellTargets(stats), (target) => directionPanel(stats, target, [lo, hi]));
}

export const stealthCleanAuroc: FigureDefinition = {
  name: 'stealth_clean_auroc',
  title: 'Clean AUROC of poisoned models vs the clean baseline',
  caption:
    'Clean-test AUROC of poisoned models (mean and 95% CI over seeds and test stays) against the clean baseline (dashed line, shaded band: its mean and 95% CI). Overlapping bands do not show equivalence: the stealth verdict is the TOST table (equivalent within ±margin, different, or inconclusive).',
  slide: true,
  build(stats) {
    const panel = stealthPanel(stats);
    if (!panel) return { skip: 'no poisoned runs' };
    const note = intervalNote([...stats.cells.map((c) => c.clean_auroc), ...baselinePerModel(stats).map((b) => b.clean_auroc)].filter((s) => s.mean !== null));
    return { spec: topLevel(panel, 'Clean-test AUROC vs poison rate', `Poisoned models (mean) against the clean baseline band; ${note}`) };
  },
};
