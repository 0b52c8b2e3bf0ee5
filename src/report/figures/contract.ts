import type { ReportStats } from '../stats-types.js';
import type { VlSpec } from '../render.js';

/** A figure drawn, or the reason it is not (its inputs are missing from the runs). */
export type FigureBuild = { spec: VlSpec; title?: string; caption?: string } | { skip: string };

/**
 * One figure of the report: a Vega-Lite spec built from stats.json alone, with its data inlined so the saved
 * .vl.json stands alone. `title` and `caption` head it in report.html; a build may replace them when it falls back
 * to another view of the data. A figure with `slide` also gets a 16:9 slide.
 */
export interface FigureDefinition {
  name: string;
  title: string;
  caption: string;
  slide: boolean;
  build(stats: ReportStats): FigureBuild;
}

export interface Figure {
  name: string;
  title: string;
  caption: string;
  slide: boolean;
  spec: VlSpec;
}

export interface SkippedFigure {
  name: string;
  reason: string;
}
