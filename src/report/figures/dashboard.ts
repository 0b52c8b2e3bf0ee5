import type { VlSpec } from '../render.js';
import type { Kpi } from '../stats-types.js';
import { asrPanel } from './asr-vs-poison-rate.js';
import type { FigureDefinition } from './contract.js';
import { detectionPanel } from './detector-heatmap.js';
import { stealthPanel } from './stealth-clean-auroc.js';
import { sorted, topLevel, wrapWords } from './style.js';

/** Width of one KPI tile, and the characters of 11-px detail text that fit in it with a margin. */
const TILE_WIDTH = 250;
const DETAIL_CHARS = 36;

/** The KPIs as a row of tiles: value, label and the detail wrapped to the tile's width (a long one overlapped its neighbours). */
function kpiPanel(kpis: Kpi[]): VlSpec {
  const x = { field: 'label', type: 'ordinal', sort: kpis.map((k) => k.label), axis: null, scale: { padding: 0.5 } };
  const tiles = kpis.map((k) => ({ ...k, detail: wrapWords(k.detail, DETAIL_CHARS) }));
  const lines = Math.max(1, ...tiles.map((t) => t.detail.length));
  return {
    data: { values: tiles },
    width: TILE_WIDTH * kpis.length,
    height: 72 + 14 * lines,
    view: { stroke: null },
    layer: [
      { mark: { type: 'text', fontSize: 28, fontWeight: 'bold', color: '#0072B2', baseline: 'alphabetic' }, encoding: { x, y: { value: 34 }, text: { field: 'value' } } },
      { mark: { type: 'text', fontSize: 12.5, fontWeight: 'bold', color: '#222', baseline: 'top' }, encoding: { x, y: { value: 46 }, text: { field: 'label' } } },
      { mark: { type: 'text', fontSize: 11, color: '#555', baseline: 'top', lineHeight: 14 }, encoding: { x, y: { value: 66 }, text: { field: 'detail' } } },
    ],
  };
}

export const dashboard: FigureDefinition = {
  name: 'dashboard',
  title: 'Dashboard',
  caption: 'Key figures, attack success and clean AUROC against the clean baseline on one page.',
  slide: false,
  build(stats) {
    const panels: VlSpec[] = [kpiPanel(stats.figure_data.kpis)];
    const charts: VlSpec[] = [];
    const asr = asrPanel(stats);
    const stealth = stealthPanel(stats);
    const det = detectionPanel(stats);
    if (asr) charts.push({ ...asr, title: { text: 'Attack success rate (mean, 95% CI)', fontSize: 14 } });
    if (stealth) charts.push({ ...stealth, title: { text: 'Clean-test AUROC vs clean baseline', fontSize: 14 } });
    // Side by side while the facet grids are narrow (≤ 2 triggers), stacked otherwise.
    const nTriggers = sorted(stats.cells.map((c) => c.trigger)).length;
    if (nTriggers <= 2 && charts.length === 2) panels.push({ hconcat: charts, spacing: 40, resolve: { scale: { color: 'independent', strokeDash: 'independent', shape: 'independent', y: 'independent' } } });
    else panels.push(...charts);
    if (det) panels.push({ ...det, title: { text: 'Detection AUROC within the target class (label, random: reference)', fontSize: 14 } });
    return { spec: topLevel({ vconcat: panels, spacing: 28, resolve: { scale: { color: 'independent', strokeDash: 'independent', shape: 'independent' } } }, 'Backdoor attacks on ICU mortality models: summary') };
  },
};
