import type { VlSpec } from '../render.js';
import type { ReportStats } from '../stats-types.js';
import type { FigureDefinition } from './contract.js';
import { ci, dashLegend, intervalNote, modelColor, modelsOf, rateAxis, sorted, topLevel, triggerFacet } from './style.js';

const SERIES_ASR = 'Poisoned model: ASR (mean, 95% CI)';
const SERIES_FT = 'Clean model: false-trigger rate';

/** ASR by poison rate per trigger, with the clean model's false-trigger rate as a dashed reference (also on the dashboard). */
export function asrPanel(stats: ReportStats): VlSpec | null {
  const rows: Record<string, unknown>[] = [];
  for (const c of stats.cells) {
    if (c.asr.mean === null) continue;
    rows.push({ kind: 'cell', model: c.model, trigger: c.trigger, poison_rate: c.poison_rate, series: SERIES_ASR, ...ci(c.asr) });
  }
  if (rows.length === 0) return null;
  const triggers = sorted(rows.map((r) => r.trigger as string));
  for (const b of stats.baselines) {
    for (const t of triggers) {
      const ft = b.false_trigger_asr[t];
      if (ft && ft.mean !== null) rows.push({ kind: 'ft', model: b.model, trigger: t, series: SERIES_FT, ...ci(ft) });
    }
  }
  const x = rateAxis(stats.cells.map((c) => c.poison_rate));
  const color = modelColor(modelsOf(stats));
  const dash = dashLegend(SERIES_ASR, SERIES_FT);
  const y = { field: 'mean', type: 'quantitative', title: 'Attack success rate', scale: { domain: [0, 1] }, axis: { format: '.0%' } };
  return {
    data: { values: rows },
    ...triggerFacet(triggers.length),
    spec: {
      width: 230,
      height: 180,
      layer: [
        { transform: [{ filter: "datum.kind === 'cell'" }], mark: { type: 'area', opacity: 0.18 }, encoding: { x, y: { ...y, field: 'lo' }, y2: { field: 'hi' }, color } },
        { transform: [{ filter: "datum.kind === 'cell'" }], mark: { type: 'line', strokeWidth: 2.2, point: { size: 45, filled: true } }, encoding: { x, y, color, strokeDash: dash } },
        { transform: [{ filter: "datum.kind === 'ft'" }], mark: { type: 'rule', strokeWidth: 1.8 }, encoding: { y, color, strokeDash: dash } },
        // Wrapped-facet headers sit a fixed offset above each cell's drawn bounds, so a point at 100% lifts its
        // panel's header. An invisible point at 100% in every panel gives all of them the same bounds.
        { transform: [{ filter: "datum.kind === 'cell'" }], mark: { type: 'point', opacity: 0, size: 80, filled: true }, encoding: { x: { value: 0 }, y: { datum: 1, type: 'quantitative' } } },
      ],
    },
  };
}

export const asrVsPoisonRate: FigureDefinition = {
  name: 'asr_vs_poison_rate',
  title: 'Attack success rate vs poison rate',
  caption: 'Share of triggered non-target test stays predicted as the target, by poison rate.',
  slide: true,
  build(stats) {
    const panel = asrPanel(stats);
    if (!panel) return { skip: 'no poisoned runs with attack metrics' };
    const seeds = Math.max(0, ...stats.cells.map((c) => c.n_runs));
    const note = intervalNote(stats.cells.map((c) => c.asr).filter((s) => s.mean !== null));
    return {
      spec: topLevel(panel, 'Attack success rate vs poison rate', `Mean over seeds; ${note}; dashed: clean-model false-trigger rate`),
      caption: `Share of triggered non-target test stays predicted as the target, by poison rate; lines are means over seeds (n = ${seeds} seed(s) per point), bands are ${note}. The dashed line is the same trigger's false-trigger rate on the clean model (mean over clean seeds): ASR above it is the backdoor's doing.`,
    };
  },
};
