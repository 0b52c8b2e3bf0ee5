import type { VlSpec } from '../render.js';
import { percentLabel } from '../percent.js';
import type { FigureDefinition } from './contract.js';
import type { CellStats } from '../stats-types.js';
import { DEFAULT_MODE, TARGET_TITLES } from '../cell.js';
import { baselinePerModel, cellTargets, ci, intervalNote, modelColor, modelsOf, sorted, topLevel } from './style.js';

export const modelComparison: FigureDefinition = {
  name: 'model_comparison',
  title: 'Model comparison',
  caption:
    "Left: clean-test AUROC of each model's clean baseline (mean, 95% CI over seeds and test stays), on an axis from chance (0.5) to 1. Right: attack success rate at the highest poison rate tested, per trigger and model, one panel per attack direction (bars: mean; lines: 95% CI; dashed tick: the false-trigger rate of the matched clean models, the ASR a bar must exceed to show a backdoor).",
  slide: false,
  build(stats) {
    const panels: VlSpec[] = [];
    const models = modelsOf(stats);
    const color = modelColor(models);
    const base = baselinePerModel(stats).filter((b) => b.clean_auroc.mean !== null).map((b) => ({ model: b.model, ...ci(b.clean_auroc) }));
    if (base.length > 0) {
      // From chance (0.5) to 1, so a few thousandths between models do not look like a gap; the intervals say the rest.
      const yAuroc = { field: 'mean', type: 'quantitative', title: 'Clean-test AUROC of the clean baseline', scale: { domain: [0.5, 1], nice: false }, axis: { format: '.2f', tickCount: 6 } };
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
    // Per direction, the ASR at that direction's highest poison rate (modes other than dirty named beside the trigger).
    const targets = cellTargets(stats);
    const shown: CellStats[] = [];
    for (const target of targets) {
      const cells = stats.cells.filter((c) => c.target === target);
      const maxRate = Math.max(...cells.map((c) => c.poison_rate));
      const atMax = cells.filter((c) => c.poison_rate === maxRate && c.asr.mean !== null);
      if (atMax.length === 0) continue;
      shown.push(...atMax);
      const rows = atMax.map((c) => ({ model: c.model, trigger: c.mode === DEFAULT_MODE ? c.trigger : `${c.trigger} (${c.mode})`, ...ci(c.asr), false_trigger: c.false_trigger_asr.mean }));
      const triggers = sorted(rows.map((r) => r.trigger));
      const x = { field: 'trigger', type: 'nominal', title: 'Trigger', sort: triggers, axis: { labelAngle: -30, labelLimit: 300 } };
      const y = { field: 'mean', type: 'quantitative', title: `Attack success rate at ${percentLabel(maxRate)} poisoning`, scale: { domain: [0, 1] }, axis: { format: '.0%' } };
      const titled = targets.length > 1 || target === 0;
      panels.push({
        ...(titled ? { title: { text: TARGET_TITLES[target], fontSize: 14, anchor: 'start' } } : {}),
        data: { values: rows },
        width: Math.max(160, 60 * triggers.length * Math.max(1, models.length) * 0.8),
        height: 220,
        layer: [
          { mark: { type: 'bar', opacity: 0.85 }, encoding: { x, xOffset: { field: 'model', sort: models }, y, color } },
          { mark: { type: 'rule', strokeWidth: 1.6, color: '#222' }, encoding: { x, xOffset: { field: 'model', sort: models }, y: { ...y, field: 'lo' }, y2: { field: 'hi' } } },
          // The control beside each bar: a clean model's ASR with the same trigger and direction.
          { transform: [{ filter: 'isValid(datum.false_trigger)' }], mark: { type: 'tick', thickness: 2.5, color: '#222', strokeDash: [4, 2] }, encoding: { x, xOffset: { field: 'model', sort: models }, y: { ...y, field: 'false_trigger' } } },
        ],
      });
    }
    if (panels.length === 0) return { skip: 'no clean baselines and no poisoned runs' };
    const note = intervalNote([...baselinePerModel(stats).map((b) => b.clean_auroc), ...shown.map((c) => c.asr)].filter((s) => s.mean !== null));
    return { spec: topLevel({ hconcat: panels, spacing: 40, resolve: { scale: { color: 'shared', xOffset: 'independent' } } }, 'Model comparison', note) };
  },
};
