import type { FigureDefinition } from './contract.js';
import { conditionScale, facetPanels, meanByRatePanel, panelTitles, poisonedCondition, poisonedConditions, topLevel } from './style.js';

export const confidenceShift: FigureDefinition = {
  name: 'confidence_shift',
  title: 'Confidence-shift distribution',
  caption:
    'Distribution over triggered test stays (pooled over seeds) of p(target | triggered) − p(target | clean), the per-stay effect of adding the trigger. Mass near +1 means the trigger flips confident predictions.',
  slide: true,
  build(stats) {
    const histograms = stats.figure_data.confidence_shift;
    if (histograms.length === 0) {
      const panel = meanByRatePanel(stats, (c) => c.confidence_shift, 'Mean confidence shift');
      if (!panel) return { skip: 'no poisoned runs with attack metrics' };
      return {
        spec: topLevel(panel, 'Mean confidence shift'),
        title: 'Mean confidence shift vs poison rate',
        caption: 'Mean over triggered test stays of p(target | triggered) − p(target | clean) (mean, 95% CI over seeds). The runs carry no per-row shifts (metrics.json attack_shifts).',
      };
    }
    const rows: Record<string, unknown>[] = [];
    const keys = histograms.map((h) => ({ model: h.model, trigger: h.trigger, target: h.target }));
    const title = panelTitles(keys);
    for (const h of histograms) {
      // Zero-share bins at the ends are dropped so the step line does not run along the axis across the panel.
      const first = h.shares.findIndex((s) => s > 0);
      const last = h.shares.length - 1 - [...h.shares].reverse().findIndex((s) => s > 0);
      const from = Math.max(0, first - 1);
      const to = Math.min(h.shares.length - 1, last + 1);
      const row = { panel: title(h), model: h.model, trigger: h.trigger, condition: poisonedCondition(h.poison_rate, h.mode), n: h.n_rows };
      // Step-after over the left bin edges, closed by the last bin's right edge, draws the histogram outline.
      for (let k = from; k <= to; k++) rows.push({ ...row, edge: h.edges[k], share: h.shares[k] });
      rows.push({ ...row, edge: h.edges[to + 1], share: h.shares[to] });
    }
    const scale = conditionScale(poisonedConditions(histograms));
    const color = { field: 'condition', type: 'nominal', title: 'Training data', scale: { domain: scale.domain.slice(1), range: scale.range.slice(1) } };
    const panel = {
      data: { values: rows },
      ...facetPanels(keys),
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
              y: { field: 'share', type: 'quantitative', title: 'Share of rows', axis: { format: '.0%' } },
              color,
            },
          },
        ],
      },
    };
    return { spec: topLevel(panel, 'Confidence shift on triggered test stays', 'p(target | triggered) − p(target | clean); share of triggered test rows, pooled over seeds') };
  },
};
