import type { VlSpec } from '../render.js';
import { percentLabel } from '../percent.js';
import type { ReportStats } from '../stats-types.js';
import type { FigureDefinition } from './contract.js';
import { sorted, topLevel } from './style.js';

/**
 * Mean target-class detection AUROC per detector and cell (trigger at one poison rate), one panel per model (also
 * on the dashboard). Each cell is averaged over its own seeds only and prints its n, so cells over different sets of
 * runs never pass for one another; poison rates are never pooled. The reference detectors label and random sit
 * at the bottom of each panel.
 */
export function detectionPanel(stats: ReportStats): VlSpec | null {
  const cells = (stats.detection?.detectors ?? []).filter((d) => d.target_class_auroc.mean !== null);
  if (cells.length === 0) return null;
  const columnOf = (trigger: string, rate: number) => `${trigger} at ${percentLabel(rate)}`;
  const rowOf = (method: string, reference: boolean) => (reference ? `${method} (reference)` : method);
  const rows = cells.map((d) => ({
    model: d.model,
    cell: columnOf(d.trigger, d.poison_rate),
    method: rowOf(d.method, d.reference),
    mean: d.target_class_auroc.mean,
    n: d.target_class_auroc.n,
    label: `${d.target_class_auroc.mean!.toFixed(2)} (n=${d.target_class_auroc.n})`,
  }));
  const columnOrder = [...new Map(cells.map((d) => [columnOf(d.trigger, d.poison_rate), [d.trigger, d.poison_rate] as const])).entries()]
    .sort(([, a], [, b]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]))
    .map(([name]) => name);
  const methodOrder = [...sorted(cells.filter((d) => !d.reference).map((d) => rowOf(d.method, false))), ...sorted(cells.filter((d) => d.reference).map((d) => rowOf(d.method, true)))];
  const models = sorted(cells.map((d) => d.model));
  const x = { field: 'cell', type: 'nominal', title: 'Trigger at poison rate', sort: columnOrder, axis: { labelAngle: -30, labelLimit: 200 } };
  const y = { field: 'method', type: 'nominal', title: 'Detector', sort: methodOrder, axis: { labelLimit: 400 } };
  return {
    data: { values: rows },
    facet: { row: { field: 'model', type: 'nominal', title: null, sort: models, header: { labelExpr: "'Model: ' + datum.value", labelFontSize: 13 } } },
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
    'one panel per model, one column per trigger and poison rate (rates are not pooled), averaged over the seeds of that cell only (n in each cell). ' +
    'label (the observed label as score) and random (seeded uniform scores) are reference detectors: both sit at 0.5 within the target class. 0.5 is chance.',
  slide: true,
  build(stats) {
    const panel = detectionPanel(stats);
    if (!panel) return { skip: 'no target-class detection results (detection/<method>.json with metrics.target_class) in the runs' };
    return { spec: topLevel(panel, 'Detector effectiveness: target-class AUROC', 'Per model, trigger and poison rate; mean over the cell\'s seeds (n in brackets); 0.5 = chance') };
  },
};
