import type { VlSpec } from '../render.js';
import { compareCellIds, targetsOf, triggerAtRate, type CellId } from '../cell.js';
import type { ReportStats } from '../stats-types.js';
import type { FigureDefinition } from './contract.js';
import { sorted, TARGET_SHORT, topLevel } from './style.js';

/**
 * Mean target-class detection AUROC per detector and cell (trigger at one poison rate and mode), one panel per model
 * and attack direction (also on the dashboard). Each cell is averaged over its own seeds only and prints its n, so cells over different sets of
 * runs never pass for one another; poison rates are never pooled. The reference detectors label and random sit
 * at the bottom of each panel.
 */
export function detectionPanel(stats: ReportStats): VlSpec | null {
  const cells = (stats.detection?.detectors ?? []).filter((d) => d.target_class_auroc.mean !== null);
  if (cells.length === 0) return null;
  const rowOf = (method: string, reference: boolean) => (reference ? `${method} (reference)` : method);
  // One panel per model and, where the report holds target 0, per direction: a column is one cell's trigger at its rate (and mode).
  const targets = targetsOf(cells);
  const panelOf = (d: CellId) => `Model: ${d.model}${targets.length > 1 || targets[0] === 0 ? ` · ${TARGET_SHORT[d.target]}` : ''}`;
  const rows = cells.map((d) => ({
    model: d.model,
    panel: panelOf(d),
    cell: triggerAtRate(d),
    method: rowOf(d.method, d.reference),
    mean: d.target_class_auroc.mean,
    n: d.target_class_auroc.n,
    label: `${d.target_class_auroc.mean!.toFixed(2)} (n=${d.target_class_auroc.n})`,
  }));
  // Cells arrive sorted by compareCellIds: their first appearance orders the columns and the panels.
  const columnOrder = [...new Set([...cells].sort((a, b) => compareCellIds({ ...a, model: '', target: 1 }, { ...b, model: '', target: 1 })).map(triggerAtRate))];
  const panelOrder = [...new Set(cells.map(panelOf))];
  const methodOrder = [...sorted(cells.filter((d) => !d.reference).map((d) => rowOf(d.method, false))), ...sorted(cells.filter((d) => d.reference).map((d) => rowOf(d.method, true)))];
  const x = { field: 'cell', type: 'nominal', title: 'Trigger at poison rate', sort: columnOrder, axis: { labelAngle: -30, labelLimit: 200 } };
  const y = { field: 'method', type: 'nominal', title: 'Detector', sort: methodOrder, axis: { labelLimit: 400 } };
  return {
    data: { values: rows },
    // Panel titles above their panel, horizontal: rotated beside a short panel, a long one ran into the next.
    facet: { row: { field: 'panel', type: 'nominal', title: null, sort: panelOrder, header: { labelFontSize: 13, labelAngle: 0, labelOrient: 'top', labelAnchor: 'start', labelAlign: 'left' } } },
    spec: {
      width: Math.max(200, 110 * columnOrder.length),
      height: Math.max(120, 34 * methodOrder.length),
      layer: [
        {
          mark: { type: 'rect', stroke: 'white', strokeWidth: 1.5 },
          encoding: {
            x,
            y,
            // Diverging around 0.5 (chance): blue = detects, orange = ranks poisoned rows as less suspicious than clean ones.
            color: {
              field: 'mean',
              type: 'quantitative',
              title: 'Target-class AUROC',
              scale: { scheme: 'blueorange', domain: [0, 1], domainMid: 0.5, reverse: true },
              legend: { format: '.1f', gradientLength: 140 },
            },
          },
        },
        {
          mark: { type: 'text', fontSize: 11.5 },
          encoding: { x, y, text: { field: 'label' }, color: { condition: { test: 'abs(datum.mean - 0.5) > 0.3', value: 'white' }, value: '#111' } },
        },
      ],
    },
    // Each model panel lists only the detectors run on it (saliency may run on one model only): no empty rows.
    resolve: { scale: { x: 'independent', y: 'independent' } },
  };
}

export const detectorHeatmap: FigureDefinition = {
  name: 'detector_heatmap',
  title: 'Detector effectiveness within the target class',
  caption:
    'Mean detection AUROC of each detector among the training rows carrying the target label (poisoned vs clean rows of that class, what a defender inspecting the class faces), ' +
    'one panel per model (and attack direction, where the runs hold target 0), one column per trigger and poison rate (rates and modes are not pooled), averaged over the seeds of that cell only (n in each cell). ' +
    'label (the observed label as score) and random (seeded uniform scores) are reference detectors: both sit at 0.5 within the target class. 0.5 is chance.',
  slide: true,
  build(stats) {
    const panel = detectionPanel(stats);
    if (!panel) return { skip: 'no target-class detection results (detection/<method>.json with metrics.target_class) in the runs' };
    return { spec: topLevel(panel, 'Detector effectiveness: target-class AUROC', 'Per model, trigger and poison rate; mean over the cell\'s seeds (n in brackets); 0.5 = chance') };
  },
};
