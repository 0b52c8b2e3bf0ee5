import { FONT_FAMILY, type VlSpec } from '../render.js';
import { percentLabel } from '../percent.js';
import type { ReportStats } from '../stats-types.js';
import type { Summary } from '../stats-core.js';

/** Okabe & Ito (2008) colour-blind-safe palette, reordered so the first colours are the most distinct on white. */
const OKABE_ITO = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'];

const VL_SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

const BASE_CONFIG = {
  font: FONT_FAMILY,
  background: 'white',
  padding: 12,
  view: { stroke: '#b0b0b0' },
  axis: { labelFontSize: 12, titleFontSize: 13, titleFontWeight: 'bold', titleColor: '#222', labelColor: '#333', gridColor: '#e8e8e8', domainColor: '#777', tickColor: '#777' },
  legend: { labelFontSize: 12, titleFontSize: 12, titleFontWeight: 'bold', symbolStrokeWidth: 2, labelLimit: 320 },
  header: { labelFontSize: 13, labelFontWeight: 'bold', titleFontSize: 13, titleFontWeight: 'bold', labelColor: '#222' },
  title: { fontSize: 17, fontWeight: 'bold', anchor: 'start', subtitleFontSize: 12, subtitleColor: '#555', offset: 10 },
  range: { category: OKABE_ITO },
} as const;

/** A complete spec: schema, title and the report's shared styling around a panel. */
export function topLevel(spec: VlSpec, title: string, subtitle?: string): VlSpec {
  return { $schema: VL_SCHEMA, title: { text: title, ...(subtitle ? { subtitle } : {}) }, ...spec, config: BASE_CONFIG };
}

/** A summary as plot fields: mean and its 95% CI, with n. */
export function ci(s: Summary): { mean: number | null; lo: number | null; hi: number | null; n: number } {
  return { mean: s.mean, lo: s.ci95?.[0] ?? null, hi: s.ci95?.[1] ?? null, n: s.n };
}

export function sorted<T>(values: Iterable<T>): T[] {
  return [...new Set(values)].sort();
}

export function byRate(values: Iterable<number>): number[] {
  return [...new Set(values)].sort((a, b) => a - b);
}

/** Every model of the runs: each run is a clean baseline or part of a poisoned cell. */
export function modelsOf(stats: ReportStats): string[] {
  return sorted([...stats.baselines.map((b) => b.model), ...stats.cells.map((c) => c.model)]);
}

/** Colour by model; with a single model the legend says nothing the subtitle does not, so it is dropped. */
export function modelColor(models: string[]) {
  const legend = models.length > 1 ? { symbolType: 'stroke', symbolStrokeWidth: 3, symbolOpacity: 1 } : null;
  return { field: 'model', type: 'nominal', title: 'Model', scale: { domain: models, range: OKABE_ITO }, legend };
}

/** Line-style legend (solid vs dashed) drawn in a neutral colour, since the colour channel encodes the model. */
export function dashLegend(solid: string, dashed: string) {
  return {
    field: 'series',
    type: 'nominal',
    title: null,
    scale: { domain: [solid, dashed], range: [[1, 0], [7, 4]] },
    // vega-lite leaves the symbols of a strokeDash-only legend without a stroke (invisible); set it explicitly.
    legend: {
      symbolType: 'stroke',
      symbolStrokeWidth: 2,
      symbolSize: 500,
      labelLimit: 400,
      orient: 'bottom',
      direction: 'vertical',
      encode: { symbols: { update: { stroke: { value: '#333' } } } },
    },
  };
}

/** Poison-rate axis on the `poison_rate` field: log when the rates span a decade or more (the default grid 0.5–10%), linear otherwise. */
export function rateAxis(rates: number[]) {
  const values = byRate(rates);
  const lo = values[0] ?? 0.01;
  const hi = values[values.length - 1] ?? 0.01;
  const log = lo > 0 && hi / lo >= 10;
  const scale = log ? { type: 'log', domain: [lo / 1.4, hi * 1.4], nice: false } : { domain: [0, hi * 1.08], nice: false };
  return { field: 'poison_rate', type: 'quantitative', title: log ? 'Poison rate (log scale)' : 'Poison rate', scale, axis: { values, format: '~%' } };
}

const TRIGGER_HEADER = { labelExpr: "'Trigger: ' + datum.value", labelFontSize: 13 };

export function triggerFacet(nTriggers: number) {
  return { facet: { field: 'trigger', type: 'nominal', title: null, header: TRIGGER_HEADER }, columns: Math.min(nTriggers, 4) };
}

/**
 * One panel per (model, trigger) that has data, one column per trigger: a row × column grid would leave empty panels
 * where a model was not run with a trigger. Titles name the trigger and, with several models, the model.
 */
export function facetRowsCols(models: string[], triggers: string[]) {
  const several = models.length > 1;
  const label = (m: string, t: string) => `Trigger: ${t}${several ? ` · Model: ${m}` : ''}`;
  return {
    transform: [{ calculate: several ? "'Trigger: ' + datum.trigger + ' · Model: ' + datum.model" : "'Trigger: ' + datum.trigger", as: 'panel' }],
    facet: { field: 'panel', type: 'nominal', title: null, sort: models.flatMap((m) => triggers.map((t) => label(m, t))), header: { labelFontSize: 13 } },
    columns: Math.min(triggers.length, 4),
    // Every panel its own x axis, so a column's axis does not hang below an empty grid position.
    resolve: { axis: { x: 'independent' } },
  };
}

export const CLEAN_CONDITION = 'Clean model (0%)';

export function poisonedCondition(rate: number): string {
  return `${percentLabel(rate)} poisoned`;
}

/** Colours of the training conditions: the clean model black, then one colour per poison rate. */
export function conditionScale(rates: number[]) {
  const domain = [CLEAN_CONDITION, ...rates.map(poisonedCondition)];
  const range = ['#000000', ...OKABE_ITO.filter((c) => c !== '#000000')];
  return { domain, range: range.slice(0, domain.length) };
}

/** What the plotted intervals account for, and a warning when any rests on fewer than 5 seeds. */
export function intervalNote(summaries: readonly Summary[]): string {
  const methods = new Set(summaries.filter((s) => s.ci95).map((s) => (s.ci_method ?? 'percentile bootstrap over runs').split(':')[0]!));
  const few = summaries.some((s) => s.ci95 && s.few_seeds);
  const n = summaries.length === 0 ? 0 : Math.min(...summaries.map((s) => s.n));
  return `95% CI: ${[...methods].join('; ') || 'none'}${few ? `; intervals from fewer than 5 seeds (n ≥ ${n}): read with care` : ''}`;
}

/** A per-cell mean with its CI by poison rate, one panel per trigger: the fallback when per-row data are missing. */
export function meanByRatePanel(stats: ReportStats, pick: (c: ReportStats['cells'][number]) => Summary, yTitle: string, yFormat?: string): VlSpec | null {
  const rows = stats.cells.filter((c) => pick(c).mean !== null).map((c) => ({ model: c.model, trigger: c.trigger, poison_rate: c.poison_rate, ...ci(pick(c)) }));
  if (rows.length === 0) return null;
  const models = modelsOf(stats);
  const x = rateAxis(stats.cells.map((c) => c.poison_rate));
  const y = { field: 'mean', type: 'quantitative', title: yTitle, ...(yFormat ? { axis: { format: yFormat } } : {}) };
  return {
    data: { values: rows },
    ...triggerFacet(sorted(rows.map((r) => r.trigger)).length),
    spec: {
      width: 230,
      height: 180,
      layer: [
        { mark: { type: 'rule' }, encoding: { x, y: { ...y, field: 'lo' }, y2: { field: 'hi' }, color: modelColor(models) } },
        { mark: { type: 'line', point: true }, encoding: { x, y, color: modelColor(models) } },
      ],
    },
  };
}

/** Words of `text` in lines of at most `maxChars` characters (a longer word gets a line of its own): KPI tiles are narrow. */
export function wrapWords(text: string, maxChars: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line !== '' && line.length + 1 + word.length > maxChars) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}
