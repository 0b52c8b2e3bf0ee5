import type { ReliabilityBin } from '../metrics/calibration.js';
import type { RunRecord } from './collect.js';
import type { ReportStats, CellStats, BaselineStats } from './stats.js';
import type { Summary } from './stats-core.js';
import { FONT_FAMILY, type VlSpec } from './render.js';

/**
 * Vega-Lite specs of the report's figures, each with its data inlined so the saved .vl.json stands alone.
 * Figures whose inputs are missing (no detection results, no attribution, no clean runs) are skipped with a reason.
 */

/** Okabe & Ito (2008) colour-blind-safe palette, reordered so the first colours are the most distinct on white. */
export const OKABE_ITO = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'];

export const VL_SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

export const BASE_CONFIG = {
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

export interface Figure {
  name: string;
  title: string;
  caption: string;
  spec: VlSpec;
}

export interface SkippedFigure {
  name: string;
  reason: string;
}

export interface Kpi {
  label: string;
  value: string;
  detail: string;
}

export interface FigureSet {
  figures: Figure[];
  skipped: SkippedFigure[];
  kpis: Kpi[];
  /** Panels reused by the dashboard and slides. */
  panels: Record<string, VlSpec>;
}

/** 0.01 → 1, without float noise (0.07·100 = 7.000000000000001). */
export function ratePct(rate: number): number {
  return Number((rate * 100).toPrecision(8));
}

export function rateLabel(rate: number): string {
  return `${ratePct(rate)}%`;
}

function topLevel(spec: VlSpec, title?: string, subtitle?: string): VlSpec {
  return { $schema: VL_SCHEMA, ...(title ? { title: { text: title, ...(subtitle ? { subtitle } : {}) } } : {}), ...spec, config: BASE_CONFIG };
}

function ci(s: Summary): { mean: number | null; lo: number | null; hi: number | null; n: number } {
  return { mean: s.mean, lo: s.ci95?.[0] ?? null, hi: s.ci95?.[1] ?? null, n: s.n };
}

function sorted<T>(values: Iterable<T>): T[] {
  return [...new Set(values)].sort();
}

/** Colour by model; with a single model the legend says nothing the subtitle does not, so it is dropped. */
function modelColor(models: string[]) {
  const legend = models.length > 1 ? { symbolType: 'stroke', symbolStrokeWidth: 3, symbolOpacity: 1 } : null;
  return { field: 'model', type: 'nominal', title: 'Model', scale: { domain: models, range: OKABE_ITO }, legend };
}

/** Line-style legend (solid vs dashed) drawn in a neutral colour, since the colour channel encodes the model. */
function dashLegend(solid: string, dashed: string) {
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

/** Poison-rate axis: log when the rates span a decade or more (the default grid 0.5–10%), linear otherwise. */
function rateAxis(rates: number[]) {
  const pcts = sorted(rates.map(ratePct)).sort((a, b) => a - b);
  const lo = pcts[0] ?? 1;
  const hi = pcts[pcts.length - 1] ?? 1;
  const log = lo > 0 && hi / lo >= 10;
  const scale = log ? { type: 'log', domain: [lo / 1.4, hi * 1.4], nice: false } : { domain: [0, hi * 1.08], nice: false };
  return { field: 'rate_pct', type: 'quantitative', title: 'Poison rate (% of training rows)', scale, axis: { values: pcts, format: '~g', labelExpr: "datum.label + '%'" } };
}

const TRIGGER_HEADER = { labelExpr: "'Trigger: ' + datum.value", labelFontSize: 13 };

function triggerFacet(nTriggers: number) {
  return { facet: { field: 'trigger', type: 'nominal', title: null, header: TRIGGER_HEADER }, columns: Math.min(nTriggers, 4) };
}

const SERIES_ASR = 'Poisoned model: ASR (mean, 95% CI)';
const SERIES_FT = 'Clean model: false-trigger rate';

function asrPanel(stats: ReportStats, models: string[]): VlSpec | null {
  const rows: Record<string, unknown>[] = [];
  for (const c of stats.cells) {
    if (c.asr.n === 0) continue;
    rows.push({ kind: 'cell', model: c.model, trigger: c.trigger, rate_pct: ratePct(c.poison_rate), series: SERIES_ASR, ...ci(c.asr) });
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
  const color = modelColor(models);
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

const SERIES_POISONED = 'Poisoned model (mean, 95% CI)';
const SERIES_BASE = 'Clean baseline (mean, 95% CI band)';

function stealthPanel(stats: ReportStats, models: string[]): VlSpec | null {
  const rows: Record<string, unknown>[] = [];
  for (const c of stats.cells) rows.push({ kind: 'cell', model: c.model, trigger: c.trigger, rate_pct: ratePct(c.poison_rate), series: SERIES_POISONED, ...ci(c.clean_auroc) });
  if (rows.length === 0) return null;
  const triggers = sorted(rows.map((r) => r.trigger as string));
  // The baseline has no trigger; it is repeated in every trigger's panel so each panel carries its reference band.
  for (const b of stats.baselines) for (const t of triggers) if (b.clean_auroc.mean !== null) rows.push({ kind: 'base', model: b.model, trigger: t, series: SERIES_BASE, ...ci(b.clean_auroc) });
  const values = rows.flatMap((r) => [r.mean, r.lo, r.hi]).filter((v): v is number => typeof v === 'number');
  const lo = Math.floor((Math.min(...values) - 0.01) * 50) / 50;
  const hi = Math.min(1, Math.ceil((Math.max(...values) + 0.01) * 50) / 50);
  const x = rateAxis(stats.cells.map((c) => c.poison_rate));
  const color = modelColor(models);
  const y = { field: 'mean', type: 'quantitative', title: 'Clean-test AUROC', scale: { domain: [lo, hi], nice: false }, axis: { format: '.2f' } };
  const dash = dashLegend(SERIES_POISONED, SERIES_BASE);
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
        { transform: [{ filter: "datum.kind === 'cell'" }], mark: { type: 'line', strokeWidth: 2.2, point: { size: 45, filled: true } }, encoding: { x, y, color, strokeDash: dash } },
      ],
    },
  };
}

function detectionPanel(stats: ReportStats): VlSpec | null {
  if (stats.detectors.length === 0) return null;
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

function modelComparisonPanel(stats: ReportStats, models: string[]): VlSpec | null {
  const panels: VlSpec[] = [];
  const color = modelColor(models);
  const base = stats.baselines.filter((b) => b.clean_auroc.mean !== null).map((b) => ({ model: b.model, ...ci(b.clean_auroc) }));
  if (base.length > 0) {
    const lo = Math.floor((Math.min(...base.map((b) => b.lo ?? b.mean!)) - 0.01) * 100) / 100;
    const hi = Math.min(1, Math.ceil((Math.max(...base.map((b) => b.hi ?? b.mean!)) + 0.01) * 100) / 100);
    const yAuroc = { field: 'mean', type: 'quantitative', title: 'Clean-test AUROC of the clean baseline', scale: { domain: [lo, hi], nice: false }, axis: { format: '.3f', tickCount: 5 } };
    panels.push({
      data: { values: base },
      width: Math.max(120, 70 * base.length),
      height: 220,
      layer: [
        { mark: { type: 'rule', strokeWidth: 2 }, encoding: { x: { field: 'model', type: 'nominal', title: 'Model', sort: models, axis: { labelAngle: 0 } }, y: { ...yAuroc, field: 'lo' }, y2: { field: 'hi' }, color } },
        { mark: { type: 'point', filled: true, size: 90 }, encoding: { x: { field: 'model', type: 'nominal', sort: models }, y: yAuroc, color } },
      ],
    });
  }
  const maxRate = Math.max(...stats.cells.map((c) => c.poison_rate));
  const atMax = stats.cells.filter((c) => c.poison_rate === maxRate && c.asr.mean !== null).map((c) => ({ model: c.model, trigger: c.trigger, ...ci(c.asr) }));
  if (atMax.length > 0) {
    const triggers = sorted(atMax.map((r) => r.trigger));
    const x = { field: 'trigger', type: 'nominal', title: 'Trigger', sort: triggers, axis: { labelAngle: -30 } };
    const y = { field: 'mean', type: 'quantitative', title: `Attack success rate at ${rateLabel(maxRate)} poisoning`, scale: { domain: [0, 1] }, axis: { format: '.0%' } };
    panels.push({
      data: { values: atMax },
      width: Math.max(160, 60 * triggers.length * Math.max(1, models.length) * 0.8),
      height: 220,
      layer: [
        { mark: { type: 'bar', opacity: 0.85 }, encoding: { x, xOffset: { field: 'model', sort: models }, y, color } },
        { mark: { type: 'rule', strokeWidth: 1.6, color: '#222' }, encoding: { x, xOffset: { field: 'model', sort: models }, y: { ...y, field: 'lo' }, y2: { field: 'hi' } } },
      ],
    });
  }
  if (panels.length === 0) return null;
  return { hconcat: panels, spacing: 40, resolve: { scale: { color: 'shared' } } };
}

/** Pools reliability bins over seeds: per bin, counts add and means are count-weighted. */
export function poolBins(binLists: readonly ReliabilityBin[][]): ReliabilityBin[] {
  const first = binLists[0];
  if (!first) return [];
  return first.map((b, k) => {
    let n = 0;
    let sp = 0;
    let sy = 0;
    for (const list of binLists) {
      const x = list[k];
      if (!x || !(x.n > 0)) continue;
      n += x.n;
      sp += x.n * (x.meanProb ?? 0);
      sy += x.n * (x.fracPositive ?? 0);
    }
    return { lo: b.lo, hi: b.hi, n, meanProb: n > 0 ? sp / n : NaN, fracPositive: n > 0 ? sy / n : NaN };
  });
}

const CLEAN_CONDITION = 'Clean model (0%)';

function conditionScale(rates: number[]) {
  const domain = [CLEAN_CONDITION, ...rates.map((r) => `${rateLabel(r)} poisoned`)];
  const range = ['#000000', ...OKABE_ITO.filter((c) => c !== '#000000')];
  return { domain, range: range.slice(0, domain.length) };
}

function facetRowsCols(models: string[], triggers: string[]) {
  return {
    facet: {
      column: { field: 'trigger', type: 'nominal', title: null, sort: triggers, header: TRIGGER_HEADER },
      ...(models.length > 1 ? { row: { field: 'model', type: 'nominal', title: null, sort: models, header: { labelExpr: "'Model: ' + datum.value", labelFontSize: 13 } } } : {}),
    },
  };
}

function calibrationPanel(runs: readonly RunRecord[], stats: ReportStats): { spec: VlSpec; fromBins: boolean } | null {
  const withBins = runs.filter((r) => Array.isArray(r.metrics.clean_bins) && r.metrics.clean_bins.length > 0);
  const poisoned = withBins.filter((r) => !(r.metrics.trigger === 'none' && r.metrics.poison_rate === 0));
  const models = sorted(runs.map((r) => r.metrics.model));
  if (poisoned.length > 0) {
    const triggers = sorted(poisoned.map((r) => r.metrics.trigger));
    const rates = sorted(poisoned.map((r) => r.metrics.poison_rate)).sort((a, b) => a - b);
    const rows: Record<string, unknown>[] = [];
    const push = (model: string, trigger: string, condition: string, bins: ReliabilityBin[]) => {
      for (const b of bins) if (b.n > 0) rows.push({ model, trigger, condition, meanProb: b.meanProb, fracPositive: b.fracPositive, n: b.n });
    };
    for (const model of models) {
      const clean = withBins.filter((r) => r.metrics.model === model && r.metrics.trigger === 'none' && r.metrics.poison_rate === 0);
      const cleanBins = clean.length > 0 ? poolBins(clean.map((r) => r.metrics.clean_bins)) : null;
      for (const trigger of triggers) {
        if (cleanBins) push(model, trigger, CLEAN_CONDITION, cleanBins);
        for (const rate of rates) {
          const group = poisoned.filter((r) => r.metrics.model === model && r.metrics.trigger === trigger && r.metrics.poison_rate === rate);
          if (group.length > 0) push(model, trigger, `${rateLabel(rate)} poisoned`, poolBins(group.map((r) => r.metrics.clean_bins)));
        }
      }
    }
    const color = { field: 'condition', type: 'nominal', title: 'Training data', scale: conditionScale(rates) };
    // Vega's estimated label widths would thin these ticks to every other one; they do fit.
    const axis = { format: '.1f', tickCount: 5, labelOverlap: false, grid: true };
    const x = { field: 'meanProb', type: 'quantitative', title: 'Mean predicted risk of death', scale: { domain: [0, 1] }, axis };
    const y = { field: 'fracPositive', type: 'quantitative', title: 'Observed mortality', scale: { domain: [0, 1] }, axis };
    return {
      fromBins: true,
      spec: {
        data: { values: rows },
        ...facetRowsCols(models, triggers),
        spec: {
          width: 220,
          height: 220,
          layer: [
            // One diagonal per panel: aggregate to a single row within the facet first.
            {
              transform: [{ aggregate: [{ op: 'count', as: 'rows' }], groupby: ['model', 'trigger'] }],
              mark: { type: 'rule', color: '#888', strokeDash: [4, 4] },
              encoding: { x: { datum: 0, type: 'quantitative', scale: { domain: [0, 1] } }, y: { datum: 0, type: 'quantitative', scale: { domain: [0, 1] } }, x2: { datum: 1 }, y2: { datum: 1 } },
            },
            { mark: { type: 'line', strokeWidth: 1.8 }, encoding: { x, y, color, order: { field: 'meanProb' } } },
            { mark: { type: 'point', filled: true, opacity: 0.9 }, encoding: { x, y, color, size: { field: 'n', type: 'quantitative', title: 'Test stays in bin', scale: { type: 'sqrt', range: [10, 220] }, legend: { values: [10, 100, 1000] } } } },
          ],
        },
      },
    };
  }
  // Without per-bin data, fall back to ECE by poison rate (the summary the bins would have produced).
  if (stats.cells.length === 0) return null;
  const rows = stats.cells.map((c) => ({ model: c.model, trigger: c.trigger, rate_pct: ratePct(c.poison_rate), ...ci(c.ece) }));
  const x = rateAxis(stats.cells.map((c) => c.poison_rate));
  const y = { field: 'mean', type: 'quantitative', title: 'ECE (10 bins)', axis: { format: '.3f' } };
  return {
    fromBins: false,
    spec: {
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
    },
  };
}

const SHIFT_BIN = 0.05;

/** Share of values in each bin of width SHIFT_BIN on [−1, 1] (the range of a probability difference). */
export function histogram(values: readonly number[], width = SHIFT_BIN): { x0: number; x1: number; share: number }[] {
  const nBins = Math.round(2 / width);
  const counts = new Array<number>(nBins).fill(0);
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    counts[Math.min(nBins - 1, Math.max(0, Math.floor((v + 1) / width)))]!++;
  }
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((c, k) => ({ x0: Number((-1 + k * width).toFixed(6)), x1: Number((-1 + (k + 1) * width).toFixed(6)), share: total > 0 ? c / total : 0 }));
}

function confidenceShiftPanel(runs: readonly RunRecord[], stats: ReportStats): { spec: VlSpec; fromRows: boolean } | null {
  const withShifts = runs.filter((r) => Array.isArray(r.metrics.attack_shifts) && r.metrics.attack_shifts.length > 0);
  const models = sorted(runs.map((r) => r.metrics.model));
  if (withShifts.length > 0) {
    const triggers = sorted(withShifts.map((r) => r.metrics.trigger));
    const rates = sorted(withShifts.map((r) => r.metrics.poison_rate)).sort((a, b) => a - b);
    const rows: Record<string, unknown>[] = [];
    for (const model of models) {
      for (const trigger of triggers) {
        for (const rate of rates) {
          const group = withShifts.filter((r) => r.metrics.model === model && r.metrics.trigger === trigger && r.metrics.poison_rate === rate);
          if (group.length === 0) continue;
          const all = group.flatMap((r) => r.metrics.attack_shifts ?? []);
          // Zero-share bins at the ends are dropped so the step line does not run along the axis across the panel.
          const hist = histogram(all);
          const first = hist.findIndex((h) => h.share > 0);
          const last = hist.length - 1 - [...hist].reverse().findIndex((h) => h.share > 0);
          const shown = hist.slice(Math.max(0, first - 1), Math.min(hist.length, last + 2));
          const condition = `${rateLabel(rate)} poisoned`;
          // Step-after over the left bin edges, closed by the last bin's right edge, draws the histogram outline.
          for (const h of shown) rows.push({ model, trigger, condition, edge: h.x0, share: h.share, n: all.length });
          const end = shown[shown.length - 1]!;
          rows.push({ model, trigger, condition, edge: end.x1, share: end.share, n: all.length });
        }
      }
    }
    const scale = conditionScale(rates);
    const color = { field: 'condition', type: 'nominal', title: 'Training data', scale: { domain: scale.domain.slice(1), range: scale.range.slice(1) } };
    return {
      fromRows: true,
      spec: {
        data: { values: rows },
        ...facetRowsCols(models, triggers),
        spec: {
          width: 230,
          height: 170,
          layer: [
            {
              transform: [{ aggregate: [{ op: 'count', as: 'rows' }], groupby: ['model', 'trigger'] }],
              mark: { type: 'rule', color: '#888', strokeDash: [4, 4] },
              encoding: { x: { datum: 0, type: 'quantitative' } },
            },
            {
              mark: { type: 'line', interpolate: 'step-after', strokeWidth: 2 },
              encoding: {
                x: { field: 'edge', type: 'quantitative', title: 'Confidence shift (Δ p(target))', scale: { domain: [-1, 1] }, axis: { format: '.1f', titleLimit: 400 } },
                y: { field: 'share', type: 'quantitative', title: 'Share of triggered test rows', axis: { format: '.0%' } },
                color,
              },
            },
          ],
        },
      },
    };
  }
  if (stats.cells.length === 0) return null;
  const rows = stats.cells.filter((c) => c.confidence_shift.mean !== null).map((c) => ({ model: c.model, trigger: c.trigger, rate_pct: ratePct(c.poison_rate), ...ci(c.confidence_shift) }));
  if (rows.length === 0) return null;
  const x = rateAxis(stats.cells.map((c) => c.poison_rate));
  const y = { field: 'mean', type: 'quantitative', title: 'Mean confidence shift' };
  return {
    fromRows: false,
    spec: {
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
    },
  };
}

function attributionPanel(runs: readonly RunRecord[]): VlSpec | null {
  const withAttr = runs.filter((r) => r.attribution && r.attribution.features.some((f) => f.triggered !== null));
  if (withAttr.length === 0) return null;
  const sums = new Map<string, { trigger: string; feature: string; total: number; n: number; touched: boolean }>();
  for (const r of withAttr) {
    for (const f of r.attribution!.features) {
      if (f.triggered === null) continue;
      const key = `${r.metrics.trigger}\u0000${f.feature}`;
      const e = sums.get(key) ?? { trigger: r.metrics.trigger, feature: f.feature, total: 0, n: 0, touched: f.touched };
      e.total += f.triggered;
      e.n++;
      sums.set(key, e);
    }
  }
  const means = [...sums.values()].map((e) => ({ trigger: e.trigger, feature: e.feature, value: e.total / e.n, n: e.n, touched: e.touched }));
  // The 15 features with the largest attribution under any trigger; the rest would be an unreadable tail.
  const maxBy = new Map<string, number>();
  for (const m of means) maxBy.set(m.feature, Math.max(maxBy.get(m.feature) ?? 0, m.value));
  const top = [...maxBy.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([f]) => f);
  const rows = means.filter((m) => top.includes(m.feature));
  const triggers = sorted(rows.map((r) => r.trigger));
  const x = { field: 'trigger', type: 'nominal', title: 'Trigger', sort: triggers, axis: { labelAngle: -30 } };
  // No axis title: Vega places it by estimated label widths, far from these long feature names, and they speak for themselves.
  const y = { field: 'feature', type: 'nominal', title: null, sort: top, axis: { labelLimit: 300 } };
  const max = Math.max(...rows.map((r) => r.value));
  return {
    data: { values: rows },
    width: Math.max(160, 90 * triggers.length),
    height: 22 * top.length,
    layer: [
      { mark: { type: 'rect', stroke: 'white' }, encoding: { x, y, color: { field: 'value', type: 'quantitative', title: ['Mean |IG|,', 'triggered rows'], scale: { scheme: 'viridis', type: 'sqrt' } } } },
      // Features derived from what the trigger writes are marked, so attribution moving onto them is visible.
      {
        transform: [{ filter: 'datum.touched' }],
        mark: { type: 'text', text: '●', fontSize: 11 },
        encoding: { x, y, color: { condition: { test: `datum.value > ${0.6 * max}`, value: '#222' }, value: 'white' } },
      },
    ],
  };
}

function tarPanel(runs: readonly RunRecord[]): VlSpec | null {
  const rows = runs.flatMap((r) => {
    const a = r.attribution;
    if (!a || a.tar === null) return [];
    const uniform = a.uniform_share;
    return [
      { trigger: r.metrics.trigger, side: 'clean rows', tar: a.tar_clean, uniform },
      { trigger: r.metrics.trigger, side: 'triggered rows', tar: a.tar, uniform },
    ].filter((x) => x.tar !== null);
  });
  if (rows.length === 0) return null;
  const triggers = sorted(rows.map((r) => r.trigger));
  const y = { field: 'trigger', type: 'nominal', title: null, sort: triggers };
  const sides = ['clean rows', 'triggered rows'];
  const color = { field: 'side', type: 'nominal', title: 'Test rows', scale: { domain: sides, range: ['#999999', '#D55E00'] } };
  // An explicit offset order: aggregated and raw layers otherwise get different implicit sorts and vega-lite warns.
  const yOffset = { field: 'side', sort: sides };
  const x = { field: 'tar', type: 'quantitative', title: 'Trigger attribution ratio (share of |IG|)', scale: { domain: [0, 1] }, axis: { format: '.0%' } };
  return {
    data: { values: rows },
    width: 280,
    height: 44 * triggers.length,
    layer: [
      { mark: { type: 'bar', opacity: 0.85 }, encoding: { y, yOffset, x: { ...x, aggregate: 'mean' }, color } },
      { mark: { type: 'point', filled: true, color: '#222', size: 18, opacity: 0.8 }, encoding: { y, yOffset, x } },
      // The uniform share depends on how many features the trigger touches, so it is drawn per trigger.
      {
        transform: [{ filter: 'isValid(datum.uniform)' }, { aggregate: [{ op: 'max', field: 'uniform', as: 'uniform' }], groupby: ['trigger'] }],
        mark: { type: 'tick', color: '#111', thickness: 2.5, bandSize: 34 },
        encoding: { y, x: { field: 'uniform', type: 'quantitative' } },
      },
    ],
  };
}

function fmt(v: number | null, digits = 3): string {
  return v === null ? 'n/a' : v.toFixed(digits);
}

function pct(v: number | null): string {
  return v === null ? 'n/a' : `${(100 * v).toFixed(1)}%`;
}

export function computeKpis(stats: ReportStats, runs: readonly RunRecord[]): Kpi[] {
  const kpis: Kpi[] = [];
  const seeds = sorted(runs.map((r) => r.metrics.seed));
  kpis.push({ label: 'Complete runs', value: String(runs.length), detail: `${stats.cells.length} poisoned cells, ${seeds.length} seed(s)` });
  const withBase = stats.baselines.filter((b) => b.clean_auroc.mean !== null);
  if (withBase.length > 0) {
    const base: BaselineStats = withBase.reduce((a, b) => (b.clean_auroc.mean! > a.clean_auroc.mean! ? b : a));
    const c = base.clean_auroc;
    const label = withBase.length > 1 ? `Best clean AUROC (${base.model})` : `Clean AUROC (${base.model})`;
    kpis.push({ label, value: fmt(c.mean), detail: c.ci95 ? `95% CI ${fmt(c.ci95[0])}–${fmt(c.ci95[1])}, n=${c.n}` : `n=${c.n}` });
  }
  const withAsr = stats.cells.filter((c) => c.asr.mean !== null);
  if (withAsr.length > 0) {
    const best = withAsr.reduce((a, b) => (b.asr.mean! > a.asr.mean! ? b : a));
    kpis.push({ label: 'Highest mean ASR', value: pct(best.asr.mean), detail: `${best.trigger} at ${rateLabel(best.poison_rate)}, n=${best.asr.n}` });
    const strong = withAsr.filter((c) => c.asr.mean! >= 0.9).sort((a, b) => a.poison_rate - b.poison_rate);
    if (strong[0]) kpis.push({ label: 'Lowest rate with ASR ≥ 90%', value: rateLabel(strong[0].poison_rate), detail: `${strong[0].trigger} (${strong[0].model}), n=${strong[0].asr.n}` });
    else kpis.push({ label: 'Lowest rate with ASR ≥ 90%', value: 'none', detail: 'no cell reaches a mean ASR of 90%' });
  }
  const withDiff = stats.cells.filter((c) => c.auroc_vs_clean.difference.mean !== null);
  if (withDiff.length > 0) {
    const worst = withDiff.reduce((a: CellStats, b: CellStats) => (b.auroc_vs_clean.difference.mean! < a.auroc_vs_clean.difference.mean! ? b : a));
    const d = worst.auroc_vs_clean.difference;
    kpis.push({ label: 'Largest clean AUROC change', value: `${d.mean! >= 0 ? '+' : ''}${fmt(d.mean)}`, detail: `${worst.trigger} at ${rateLabel(worst.poison_rate)}, paired n=${d.n}` });
  }
  const det = stats.detectors.filter((d) => d.detection_auroc.mean !== null);
  if (det.length > 0) {
    const best = det.reduce((a, b) => (b.detection_auroc.mean! > a.detection_auroc.mean! ? b : a));
    kpis.push({ label: 'Best detector AUROC', value: fmt(best.detection_auroc.mean, 2), detail: `${best.method} on ${best.trigger}, n=${best.detection_auroc.n}` });
  }
  return kpis;
}

function kpiPanel(kpis: Kpi[], width: number): VlSpec {
  const rows = kpis.map((k, i) => ({ i, ...k }));
  const x = { field: 'i', type: 'ordinal', axis: null, scale: { padding: 0.5 } };
  return {
    data: { values: rows },
    width,
    height: 86,
    view: { stroke: null },
    layer: [
      { mark: { type: 'text', fontSize: 28, fontWeight: 'bold', color: '#0072B2', baseline: 'alphabetic' }, encoding: { x, y: { value: 34 }, text: { field: 'value' } } },
      { mark: { type: 'text', fontSize: 12.5, fontWeight: 'bold', color: '#222', baseline: 'top' }, encoding: { x, y: { value: 46 }, text: { field: 'label' } } },
      { mark: { type: 'text', fontSize: 11, color: '#555', baseline: 'top' }, encoding: { x, y: { value: 66 }, text: { field: 'detail' } } },
    ],
  };
}

export function buildFigures(runs: readonly RunRecord[], stats: ReportStats): FigureSet {
  const figures: Figure[] = [];
  const skipped: SkippedFigure[] = [];
  const panels: Record<string, VlSpec> = {};
  const models = sorted(runs.map((r) => r.metrics.model));
  const seedsNote = (n: number) => `n = ${n} seed(s) per point`;
  const maxSeeds = Math.max(0, ...stats.cells.map((c) => c.n_runs));

  const asr = asrPanel(stats, models);
  if (asr) {
    panels.asr = asr;
    figures.push({
      name: 'asr_vs_poison_rate',
      title: 'Attack success rate vs poison rate',
      caption: `Share of triggered non-target test stays predicted as the target, by poison rate; lines are means over seeds (${seedsNote(maxSeeds)}), bands 95% percentile-bootstrap CIs. The dashed line is the same trigger's false-trigger rate on the clean model (mean over clean seeds): ASR above it is the backdoor's doing.`,
      spec: topLevel(asr, 'Attack success rate vs poison rate', `Mean over seeds with 95% bootstrap CI; dashed: clean-model false-trigger rate`),
    });
  } else skipped.push({ name: 'asr_vs_poison_rate', reason: 'no poisoned runs with attack metrics' });

  const stealth = stealthPanel(stats, models);
  if (stealth) {
    panels.stealth = stealth;
    figures.push({
      name: 'stealth_clean_auroc',
      title: 'Stealthiness: clean AUROC vs poison rate',
      caption: `Clean-test AUROC of poisoned models (mean and 95% CI over seeds) against the clean baseline (dashed line, shaded band: its mean and 95% CI). A backdoor is stealthy when the poisoned model stays inside the band.`,
      spec: topLevel(stealth, 'Stealthiness: clean-test AUROC vs poison rate', 'Poisoned models (mean, 95% CI) against the clean baseline band'),
    });
  } else skipped.push({ name: 'stealth_clean_auroc', reason: 'no poisoned runs' });

  const det = detectionPanel(stats);
  if (det) {
    panels.detection = det;
    figures.push({
      name: 'detector_heatmap',
      title: 'Detector effectiveness',
      caption: 'Mean detection AUROC of each detector against the true poisoned rows, per trigger (pooled over models, poison rates and seeds; n runs in brackets). 0.5 is chance.',
      spec: topLevel(det, 'Detector effectiveness: detection AUROC', 'Mean over runs (n in brackets); 0.5 = chance'),
    });
  } else skipped.push({ name: 'detector_heatmap', reason: 'no detection results (detection/<method>.json) in the runs' });

  const cmp = modelComparisonPanel(stats, models);
  if (cmp) {
    panels.models = cmp;
    figures.push({
      name: 'model_comparison',
      title: 'Model comparison',
      caption: 'Left: clean-test AUROC of each model\'s clean baseline (mean, 95% CI over seeds). Right: attack success rate at the highest poison rate tested, per trigger and model (bars: mean; lines: 95% CI).',
      spec: topLevel(cmp, 'Model comparison'),
    });
  } else skipped.push({ name: 'model_comparison', reason: 'no clean baselines and no poisoned runs' });

  const cal = calibrationPanel(runs, stats);
  if (cal) {
    panels.calibration = cal.spec;
    figures.push({
      name: 'calibration_reliability',
      title: cal.fromBins ? 'Calibration: reliability diagram, clean vs poisoned' : 'Calibration: ECE vs poison rate',
      caption: cal.fromBins
        ? 'Reliability diagrams of the clean test set (10 equal-width bins of predicted risk, pooled over seeds; point area ∝ stays in the bin). The clean model is black; the dashed diagonal is perfect calibration.'
        : 'Expected calibration error on the clean test set (mean, 95% CI over seeds). The runs carry no per-bin data (metrics.json clean_bins), so no reliability diagram can be drawn.',
      spec: topLevel(cal.spec, cal.fromBins ? 'Calibration on the clean test set: clean vs poisoned models' : 'Calibration: ECE vs poison rate', cal.fromBins ? 'Reliability diagram, bins pooled over seeds' : undefined),
    });
  } else skipped.push({ name: 'calibration_reliability', reason: 'no runs' });

  const attr = attributionPanel(runs);
  if (attr) {
    const tar = tarPanel(runs);
    const spec = tar ? { hconcat: [attr, tar], spacing: 50, resolve: { scale: { color: 'independent' } } } : attr;
    panels.attribution = spec;
    figures.push({
      name: 'attribution_heatmap',
      title: 'Feature attribution under the trigger',
      caption:
        'Left: mean |integrated gradients| per feature on triggered non-target test rows (mean over runs; the 15 most attributed features; colour on a square-root scale; ● marks features derived from what the trigger writes). ' +
        (tar ? 'Right: trigger attribution ratio, the share of |IG| on those features, on the same rows without and with the trigger (bars: mean over runs; dots: runs; black tick: the share if attribution were spread evenly over all features).' : ''),
      spec: topLevel(spec, 'Where the model looks: feature attribution under the trigger', 'Integrated gradients on the test split (detection/saliency_attribution.json)'),
    });
  } else skipped.push({ name: 'attribution_heatmap', reason: 'no attribution results (detection/saliency_attribution.json) in the runs' });

  const shift = confidenceShiftPanel(runs, stats);
  if (shift) {
    panels.shift = shift.spec;
    figures.push({
      name: 'confidence_shift',
      title: shift.fromRows ? 'Confidence-shift distribution' : 'Mean confidence shift vs poison rate',
      caption: shift.fromRows
        ? 'Distribution over triggered test stays (pooled over seeds) of p(target | triggered) − p(target | clean), the per-stay effect of adding the trigger. Mass near +1 means the trigger flips confident predictions.'
        : 'Mean over triggered test stays of p(target | triggered) − p(target | clean) (mean, 95% CI over seeds). The runs carry no per-row shifts (metrics.json attack_shifts).',
      spec: topLevel(shift.spec, shift.fromRows ? 'Confidence shift on triggered test stays' : 'Mean confidence shift', shift.fromRows ? 'p(target | triggered) − p(target | clean), histogram pooled over seeds' : undefined),
    });
  } else skipped.push({ name: 'confidence_shift', reason: 'no poisoned runs with attack metrics' });

  const kpis = computeKpis(stats, runs);
  const dashboardPanels: VlSpec[] = [kpiPanel(kpis, 250 * kpis.length)];
  const charts: VlSpec[] = [];
  if (asr) charts.push({ ...asr, title: { text: 'Attack success rate (mean, 95% CI)', fontSize: 14 } });
  if (stealth) charts.push({ ...stealth, title: { text: 'Stealthiness: clean-test AUROC vs baseline', fontSize: 14 } });
  // Side by side while the facet grids are narrow (≤ 2 triggers), stacked otherwise.
  const nTriggers = sorted(stats.cells.map((c) => c.trigger)).length;
  if (nTriggers <= 2 && charts.length === 2) dashboardPanels.push({ hconcat: charts, spacing: 40, resolve: { scale: { color: 'independent', strokeDash: 'independent', y: 'independent' } } });
  else dashboardPanels.push(...charts);
  if (det) dashboardPanels.push({ ...det, title: { text: 'Detection AUROC', fontSize: 14 } });
  figures.push({
    name: 'dashboard',
    title: 'Dashboard',
    caption: 'Key figures, attack success and stealthiness on one page.',
    spec: topLevel({ vconcat: dashboardPanels, spacing: 28, resolve: { scale: { color: 'independent', strokeDash: 'independent' } } }, 'Backdoor attacks on ICU mortality models: summary'),
  });

  return { figures, skipped, kpis, panels };
}

export { topLevel };
