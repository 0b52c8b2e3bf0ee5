import { CLEAN_TRIGGER } from '../baseline.js';
import type { FigureDefinition } from './contract.js';
import type { Target } from '../cell.js';
import { CLEAN_CONDITION, conditionScale, facetPanels, meanByRatePanel, panelTitles, poisonedCondition, poisonedConditions, sorted, topLevel } from './style.js';

export const calibrationReliability: FigureDefinition = {
  name: 'calibration_reliability',
  title: 'Calibration: reliability diagram, clean vs poisoned',
  caption:
    'Reliability diagrams of the clean test set (10 equal-width bins of predicted risk, pooled over seeds; point area ∝ stays in the bin). The clean model is black; the dashed diagonal is perfect calibration.',
  slide: true,
  build(stats) {
    const groups = stats.figure_data.reliability;
    const poisoned = groups.filter((g) => !(g.trigger === CLEAN_TRIGGER && g.poison_rate === 0));
    if (poisoned.length === 0) return eceFallback(stats);
    const keys = sorted(poisoned.map((g) => JSON.stringify([g.model, g.trigger, g.target]))).map((k) => JSON.parse(k) as [string, string, Target]).map(([model, trigger, target]) => ({ model, trigger, target }));
    const title = panelTitles(keys);
    const conditions = poisonedConditions(poisoned);
    const rows: Record<string, unknown>[] = [];
    for (const key of keys) {
      const { model, trigger, target } = key;
      // The clean model is drawn in every panel of its model as the reference (it does not depend on the target).
      const clean = groups.find((g) => g.model === model && g.trigger === CLEAN_TRIGGER && g.poison_rate === 0);
      const shown = [...(clean ? [{ group: clean, condition: CLEAN_CONDITION }] : [])];
      for (const g of poisoned) if (g.model === model && g.trigger === trigger && g.target === target) shown.push({ group: g, condition: poisonedCondition(g.poison_rate, g.mode) });
      for (const { group, condition } of shown) {
        for (const b of group.bins) if (b.n > 0) rows.push({ panel: title(key), model, trigger, condition, mean_prob: b.mean_prob, frac_positive: b.frac_positive, n: b.n });
      }
    }
    const color = { field: 'condition', type: 'nominal', title: 'Training data', scale: conditionScale(conditions) };
    // Vega's estimated label widths would thin these ticks to every other one; they do fit.
    const axis = { format: '.1f', tickCount: 5, labelOverlap: false, grid: true };
    const x = { field: 'mean_prob', type: 'quantitative', title: 'Mean predicted risk of death', scale: { domain: [0, 1] }, axis };
    const y = { field: 'frac_positive', type: 'quantitative', title: 'Observed mortality', scale: { domain: [0, 1] }, axis };
    const panel = {
      data: { values: rows },
      ...facetPanels(keys),
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
          { mark: { type: 'line', strokeWidth: 1.8 }, encoding: { x, y, color, order: { field: 'mean_prob' } } },
          { mark: { type: 'point', filled: true, opacity: 0.9 }, encoding: { x, y, color, size: { field: 'n', type: 'quantitative', title: 'Test stays in bin', scale: { type: 'sqrt', range: [10, 220] }, legend: { values: [10, 100, 1000] } } } },
        ],
      },
    };
    return { spec: topLevel(panel, 'Calibration on the clean test set: clean vs poisoned models', 'Reliability diagram, bins pooled over seeds') };
  },
};

/** Without per-bin data, ECE by poison rate (the summary the bins would have produced). */
function eceFallback(stats: Parameters<FigureDefinition['build']>[0]) {
  const panel = meanByRatePanel(stats, (c) => c.ece, 'ECE (10 bins)', '.3f');
  if (!panel) return { skip: 'no runs' };
  return {
    spec: topLevel(panel, 'Calibration: ECE vs poison rate'),
    title: 'Calibration: ECE vs poison rate',
    caption:
      'Expected calibration error on the clean test set (mean, 95% CI over seeds). The runs carry no per-bin data (metrics.json clean_bins), so no reliability diagram can be drawn.',
  };
}
