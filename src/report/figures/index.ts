import type { ReportStats } from '../stats-types.js';
import { asrVsPoisonRate } from './asr-vs-poison-rate.js';
import { attributionHeatmap } from './attribution-heatmap.js';
import { calibrationReliability } from './calibration-reliability.js';
import { cleanLabelComparison } from './clean-label-comparison.js';
import { confidenceShift } from './confidence-shift.js';
import type { Figure, FigureDefinition, SkippedFigure } from './contract.js';
import { dashboard } from './dashboard.js';
import { detectorHeatmap } from './detector-heatmap.js';
import { modelComparison } from './model-comparison.js';
import { stealthCleanAuroc } from './stealth-clean-auroc.js';

export type { Figure, FigureBuild, FigureDefinition, SkippedFigure } from './contract.js';

/** The report's figures, in the order report.html shows them (and the slides follow). A new figure is one file and one line here. */
export const FIGURES: readonly FigureDefinition[] = [
  asrVsPoisonRate,
  cleanLabelComparison,
  stealthCleanAuroc,
  detectorHeatmap,
  modelComparison,
  calibrationReliability,
  attributionHeatmap,
  confidenceShift,
  dashboard,
];

/** The figures stage: every registered figure built from stats.json alone, or skipped with its reason. */
export function buildFigures(stats: ReportStats, registry: readonly FigureDefinition[] = FIGURES): { figures: Figure[]; skipped: SkippedFigure[] } {
  const figures: Figure[] = [];
  const skipped: SkippedFigure[] = [];
  const names = new Set<string>();
  for (const def of registry) {
    if (names.has(def.name)) throw new Error(`two figures are named ${def.name}`);
    names.add(def.name);
    const built = def.build(stats);
    if ('skip' in built) skipped.push({ name: def.name, reason: built.skip });
    else figures.push({ name: def.name, title: built.title ?? def.title, caption: built.caption ?? def.caption, slide: def.slide, spec: built.spec });
  }
  return { figures, skipped };
}
