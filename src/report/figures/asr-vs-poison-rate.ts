import type { VlSpec } from '../render.js';
import type { CellStats, ReportStats } from '../stats-types.js';
import { DEFAULT_MODE, type Target } from '../cell.js';
import type { FigureDefinition } from './contract.js';
import { cellTargets, ci, dashLegend, intervalNote, modelColor, modelsOf, modeShape, modesOf, rateAxis, sorted, splitByTarget, topLevel, triggerFacet } from './style.js';

const SERIES_ASR = 'Poisoned model: ASR (mean, 95% CI)';
const SERIES_FT = 'Clean model: false-trigger rate';

/**
 * The clean models' false-trigger rate of one model and trigger in one direction: the matched clean runs of the
 * cell with the most matched seeds (dirty first, then the lowest rate), since those share the trigger's parameters
 * and direction with the poisoned runs; null when no cell found its clean run.
 */
function falseTriggerOf(cells: readonly CellStats[]): CellStats | null {
  const matched = cells.filter((c) => c.false_trigger_asr.mean !== null);
  if (matched.length === 0) return null;
  return matched.reduce((a, b) => {
    const byN = b.false_trigger_asr.n - a.false_trigger_asr.n;
    const byMode = Number(a.mode !== DEFAULT_MODE) - Number(b.mode !== DEFAULT_MODE);
    return byN > 0 || (byN === 0 && (byMode > 0 || (byMode === 0 && b.poison_rate < a.poison_rate))) ? b : a;
  });
}

/** ASR by poison rate per trigger of one direction, with the clean model's false-trigger rate as a dashed reference. */
function directionPanel(stats: ReportStats, target: Target): VlSpec | null {
  const cells = stats.cells.filter((c) => c.target === target);
  const rows: Record<string, unknown>[] = [];
  for (const c of cells) {
    if (c.asr.mean === null) continue;
    rows.push({ kind: 'cell', model: c.model, trigger: c.trigger, poison_rate: c.poison_rate, mode: c.mode, series: SERIES_ASR, ...ci(c.asr) });
  }
  if (rows.length === 0) return null;
  const triggers = sorted(rows.map((r) => r.trigger as string));
  for (const model of modelsOf(stats)) {
    for (const t of triggers) {
      const ft = falseTriggerOf(cells.filter((c) => c.model === model && c.trigger === t));
      if (ft) rows.push({ kind: 'ft', model, trigger: t, series: SERIES_FT, ...ci(ft.false_trigger_asr) });
    }
  }
  const x = rateAxis(stats.cells.map((c) => c.poison_rate));
  const color = modelColor(modelsOf(stats));
  const dash = dashLegend(SERIES_ASR, SERIES_FT);
  const shape = modeShape(modesOf(stats));
  const y = { field: 'mean', type: 'quantitative', title: 'Attack success rate', scale: { domain: [0, 1] }, axis: { format: '.0%' } };
  // Cells of one model but another poison mode are other attacks: their own line (detail), their own point shape.
  const detail = { field: 'mode', type: 'nominal' };
  return {
    data: { values: rows },
    ...triggerFacet(triggers.length),
    spec: {
      width: 230,
      height: 180,
      layer: [
        { transform: [{ filter: "datum.kind === 'cell'" }], mark: { type: 'area', opacity: 0.18 }, encoding: { x, y: { ...y, field: 'lo' }, y2: { field: 'hi' }, color, detail } },
        { transform: [{ filter: "datum.kind === 'cell'" }], mark: { type: 'line', strokeWidth: 2.2 }, encoding: { x, y, color, strokeDash: dash, detail } },
        // A clean-label mode usually runs at one rate, where a band has no width: its interval is a rule.
        { transform: [{ filter: `datum.kind === 'cell' && datum.mode !== '${DEFAULT_MODE}'` }], mark: { type: 'rule', strokeWidth: 1.6 }, encoding: { x, y: { ...y, field: 'lo' }, y2: { field: 'hi' }, color } },
        { transform: [{ filter: "datum.kind === 'cell'" }], mark: { type: 'point', size: 55, filled: true, opacity: 1 }, encoding: { x, y, color, shape } },
        { transform: [{ filter: "datum.kind === 'ft'" }], mark: { type: 'rule', strokeWidth: 1.8 }, encoding: { y, color, strokeDash: dash } },
        // Wrapped-facet headers sit a fixed offset above each cell's drawn bounds, so a point at 100% lifts its
        // panel's header. An invisible point at 100% in every panel gives all of them the same bounds.
        { transform: [{ filter: "datum.kind === 'cell'" }], mark: { type: 'point', opacity: 0, size: 80, filled: true }, encoding: { x: { value: 0 }, y: { datum: 1, type: 'quantitative' } } },
      ],
    },
  };
}

/** ASR by poison rate per trigger, one part per attack direction (also on the dashboard). */
export function asrPanel(stats: ReportStats): VlSpec | null {
  return splitByTarget(cellTargets(stats), (target) => directionPanel(stats, target));
}

export const asrVsPoisonRate: FigureDefinition = {
  name: 'asr_vs_poison_rate',
  title: 'Attack success rate vs poison rate',
  caption: 'Share of triggered test stays whose true label is not the target that are predicted as the target, by poison rate.',
  slide: true,
  build(stats) {
    const panel = asrPanel(stats);
    if (!panel) return { skip: 'no poisoned runs with attack metrics' };
    const seeds = Math.max(0, ...stats.cells.map((c) => c.n_runs));
    const note = intervalNote(stats.cells.map((c) => c.asr).filter((s) => s.mean !== null));
    const modes = modesOf(stats);
    const modeNote = modes.length > 1 ? ` Point shapes mark the poisoning mode (${modes.join(', ')}); each mode has its own line.` : '';
    const targets = cellTargets(stats);
    const directionNote = targets.length > 1 || targets[0] === 0 ? ' Target 1 makes a death likely (triggered survivors scored as deaths); target 0 hides a death (triggered deaths scored as survivors).' : '';
    return {
      spec: topLevel(panel, 'Attack success rate vs poison rate', `Mean over seeds; ${note}; dashed: clean-model false-trigger rate`),
      caption: `Share of triggered test stays whose true label is not the target that are predicted as the target, by poison rate; lines are means over seeds (n = ${seeds} seed(s) per point), bands are ${note}. The dashed line is the same trigger's false-trigger rate, in the same direction and with the same trigger parameters, on the matching clean models (mean over matched seeds): ASR above it is the backdoor's doing.${directionNote}${modeNote}`,
    };
  },
};
