import { FONT_FAMILY, type VlSpec } from '../render.js';
import { percentLabel } from '../percent.js';
import type { ReportStats } from '../stats-types.js';
import type { Summary } from '../stats-core.js';
import { DEFAULT_MODE, TARGET_ORDER, TARGET_TITLES, targetsOf, type Target } from '../cell.js';

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

/** Modes in the order figures list them: dirty, then the clean-label modes. */
const MODE_ORDER = [DEFAULT_MODE, 'clean', 'label_consistent'];

/** The poison modes of the cells, dirty first. */
export function modesOf(stats: ReportStats): string[] {
  const present = sorted(stats.cells.map((c) => c.mode));
  return [...MODE_ORDER.filter((m) => present.includes(m)), ...present.filter((m) => !MODE_ORDER.includes(m))];
}

const MODE_SHAPES = ['circle', 'triangle-up', 'diamond', 'square', 'cross'];

/** Point shape by poison mode; with dirty alone (every report before issue 11) no legend. */
export function modeShape(modes: string[]) {
  return { field: 'mode', type: 'nominal', title: 'Poisoning mode', scale: { domain: modes, range: MODE_SHAPES.slice(0, modes.length) }, legend: modes.length > 1 ? { symbolFillColor: '#555', symbolStrokeColor: '#555', orient: 'bottom', direction: 'vertical' } : null };
}

/** Short direction names for facet headers. */
export const TARGET_SHORT: Record<Target, string> = { 1: 'target 1 (death made likely)', 0: 'target 0 (death hidden)' };

/** The targets of the poisoned cells, target 1 first. */
export function cellTargets(stats: ReportStats): Target[] {
  return targetsOf(stats.cells);
}

/**
 * One part per attack direction present, built by `part`, stacked: a report of target-1 runs alone gets the part as
 * it always looked; otherwise each part is titled with what its direction does to a patient. A direction without
 * data has no part (never an empty panel).
 */
export function splitByTarget(targets: readonly Target[], part: (target: Target) => VlSpec | null): VlSpec | null {
  const parts = targets.flatMap((t) => {
    const spec = part(t);
    return spec ? [{ target: t, spec }] : [];
  });
  if (parts.length === 0) return null;
  if (parts.length === 1 && parts[0]!.target === 1) return parts[0]!.spec;
  return {
    vconcat: parts.map(({ target, spec }) => ({ ...spec, title: { text: TARGET_TITLES[target], fontSize: 15, anchor: 'start', offset: 8 } })),
    spacing: 36,
    resolve: { scale: { color: 'shared', strokeDash: 'shared', shape: 'shared' } },
  };
}

/** One baseline per model: the clean model does not depend on the target its runs were configured with. */
export function baselinePerModel(stats: ReportStats): ReportStats['baselines'] {
  // Baselines are sorted by model, target 1 first: the first of each model is kept.
  return stats.baselines.filter((b, i) => i === stats.baselines.findIndex((x) => x.model === b.model));
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
  // Every panel its own x axis: with a short last row, a shared column axis would hang below an empty grid position.
  return { facet: { field: 'trigger', type: 'nominal', title: null, header: TRIGGER_HEADER }, columns: Math.min(nTriggers, 4), resolve: { axis: { x: 'independent' } } };
}

const TITLE_SEPARATOR = ' · ';

/** What one small-multiple panel shows: a model's cells of one trigger in one direction. */
export interface PanelKey {
  model: string;
  trigger: string;
  target: Target;
}

/**
 * One panel per (model, trigger, target) that has data, one column per trigger: a row × column grid would leave
 * empty panels where a model was not run with a trigger or in a direction. Rows carry their panel's title in the
 * `panel` field (panelTitle); titles name the trigger and, where the report holds several, the model and target.
 */
export function facetPanels(keys: readonly PanelKey[]) {
  const triggers = sorted(keys.map((k) => k.trigger));
  const titles = panelTitles(keys);
  const order = sorted(keys.map((k) => k.model)).flatMap((m) => TARGET_ORDER.flatMap((t) => triggers.map((tr) => titles({ model: m, trigger: tr, target: t }))));
  return {
    // One line per part of a title (trigger, model, target): on one line a long title is wider than its panel, which
    // widens the facet cell and pushes the panel away from its axis.
    facet: { field: 'panel', type: 'nominal', title: null, sort: [...new Set(order)], header: { labelFontSize: 13, labelExpr: `split(datum.value, '${TITLE_SEPARATOR}')`, labelLineHeight: 17 } },
    columns: Math.min(triggers.length, 4),
    // Every panel its own x axis, so a column's axis does not hang below an empty grid position.
    resolve: { axis: { x: 'independent' } },
  };
}

/** The panel title of a key: "Trigger: t", then " · Model: m" with several models, " · target 0 (death hidden)" with several targets or target 0 alone. */
export function panelTitles(keys: readonly PanelKey[]): (key: PanelKey) => string {
  const severalModels = new Set(keys.map((k) => k.model)).size > 1;
  const targets = targetsOf(keys);
  const nameTarget = targets.length > 1 || targets[0] === 0;
  return (k) => `Trigger: ${k.trigger}${severalModels ? `${TITLE_SEPARATOR}Model: ${k.model}` : ''}${nameTarget ? `${TITLE_SEPARATOR}${TARGET_SHORT[k.target]}` : ''}`;
}

export const CLEAN_CONDITION = 'Clean model (0%)';

/** A poisoned training condition: "1% poisoned", or "3% poisoned (label_consistent)" in another mode than dirty. */
export function poisonedCondition(rate: number, mode: string = DEFAULT_MODE): string {
  return `${percentLabel(rate)} poisoned${mode === DEFAULT_MODE ? '' : ` (${mode})`}`;
}

/** The poisoned conditions of some cells in order: by rate, dirty before the other modes at one rate. */
export function poisonedConditions(cells: readonly { poison_rate: number; mode: string }[]): string[] {
  const sortedCells = [...cells].sort((a, b) => a.poison_rate - b.poison_rate || Number(a.mode !== DEFAULT_MODE) - Number(b.mode !== DEFAULT_MODE) || (a.mode < b.mode ? -1 : a.mode > b.mode ? 1 : 0));
  return [...new Set(sortedCells.map((c) => poisonedCondition(c.poison_rate, c.mode)))];
}

/** Colours of the training conditions: the clean model black, then one colour per poisoned condition. */
export function conditionScale(conditions: string[]) {
  const domain = [CLEAN_CONDITION, ...conditions];
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

/** A per-cell mean with its CI by poison rate, one panel per trigger and a part per direction: the fallback when per-row data are missing. */
export function meanByRatePanel(stats: ReportStats, pick: (c: ReportStats['cells'][number]) => Summary, yTitle: string, yFormat?: string): VlSpec | null {
  const models = modelsOf(stats);
  const x = rateAxis(stats.cells.map((c) => c.poison_rate));
  const y = { field: 'mean', type: 'quantitative', title: yTitle, ...(yFormat ? { axis: { format: yFormat } } : {}) };
  const shape = modeShape(modesOf(stats));
  return splitByTarget(cellTargets(stats), (target) => {
    const rows = stats.cells.filter((c) => c.target === target && pick(c).mean !== null).map((c) => ({ model: c.model, trigger: c.trigger, poison_rate: c.poison_rate, mode: c.mode, ...ci(pick(c)) }));
    if (rows.length === 0) return null;
    return {
      data: { values: rows },
      ...triggerFacet(sorted(rows.map((r) => r.trigger)).length),
      spec: {
        width: 230,
        height: 180,
        layer: [
          { mark: { type: 'rule' }, encoding: { x, y: { ...y, field: 'lo' }, y2: { field: 'hi' }, color: modelColor(models) } },
          { mark: { type: 'line' }, encoding: { x, y, color: modelColor(models), detail: { field: 'mode', type: 'nominal' } } },
          { mark: { type: 'point', filled: true, opacity: 1 }, encoding: { x, y, color: modelColor(models), shape } },
        ],
      },
    };
  });
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
