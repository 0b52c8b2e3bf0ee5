import type { VlSpec } from '../render.js';
import type { ReportStats } from '../stats-types.js';
import type { FigureDefinition } from './contract.js';
import { ci, sorted, topLevel } from './style.js';

/** Mean detection AUROC per detector and trigger (also on the dashboard). */
export function detectionPanel(stats: ReportStats): VlSpec | null {
  const rows = stats.detectors
    .filter((d) => d.detection_auroc.mean !== null)
    .map((d) => ({ trigger: d.trigger, method: d.method, ...ci(d.detection_auroc), label: `${d.detection_auroc.mean!.toFixed(2)} (n=${d.detection_auroc.n})` }));
  if (rows.length === 0) return null;
  const triggers = sorted(rows.map((r) => r.trigger));
  const methods = sorted(rows.map((r) => r.method));
  return {
    data: { values: rows },
    width: Math.max(200, 95 * triggers.length),
    height: Math.max(120, 38 * methods.length),
    layer: [
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 1.5 },
        encoding: {
          x: { field: 'trigger', type: 'nominal', title: 'Trigger', sort: triggers, axis: { labelAngle: -30 } },
          y: { field: 'method', type: 'nominal', title: 'Detector', sort: methods, axis: { labelLimit: 400 } },
          // Diverging around 0.5 (chance): blue = detects, orange = ranks poisoned rows as less suspicious than clean ones.
          color: { field: 'mean', type: 'quantitative', title: 'Detection AUROC', scale: { scheme: 'blueorange', domain: [0, 1], domainMid: 0.5, reverse: true }, legend: { format: '.1f', gradientLength: 140 } },
        },
      },
      {
        mark: { type: 'text', fontSize: 12 },
        encoding: {
          x: { field: 'trigger', type: 'nominal', sort: triggers },
          y: { field: 'method', type: 'nominal', sort: methods },
          text: { field: 'label' },
          color: { condition: { test: 'abs(datum.mean - 0.5) > 0.3', value: 'white' }, value: '#111' },
        },
      },
    ],
  };
}

export const detectorHeatmap: FigureDefinition = {
  name: 'detector_heatmap',
  title: 'Detector effectiveness',
  caption: 'Mean detection AUROC of each detector against the true poisoned rows, per trigger (pooled over models, poison rates and seeds; n runs in brackets). 0.5 is chance.',
  slide: true,
  build(stats) {
    const panel = detectionPanel(stats);
    if (!panel) return { skip: 'no detection results (detection/<method>.json) in the runs' };
    return { spec: topLevel(panel, 'Detector effectiveness: detection AUROC', 'Mean over runs (n in brackets); 0.5 = chance') };
  },
};
