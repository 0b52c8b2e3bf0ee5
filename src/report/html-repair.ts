import { CELL_HEADERS, cellColumns, type HtmlHelpers } from './html-detection.js';
import { cellName, type CellId } from './cell.js';
import type { DetectionSection } from './stats-detection.js';

/** Stage names of the repair records as the table shows them. */
const STAGE_LABELS: Record<string, string> = {
  after_pruning: 'after pruning',
  after_fine_tuning: 'after fine-tuning',
  after_unlearning: 'after unlearning',
};
const CONTROL_LABELS: Record<string, string> = {
  control_fine_tuned: 'no-op control (fine-tuned, not pruned)',
  control_unlearning: 'control (unlearning random rows)',
};

const labelOf = (labels: Record<string, string>, name: string | null) => (name === null ? 'no control' : Object.hasOwn(labels, name) ? labels[name]! : name.replace(/_/g, ' '));

/**
 * report.html's tables of the model-repair defences (one row per method, stage and cell, beside the method's
 * control, with the verdict) and of STRIP's input-time detection, from stats.json's `detection` section.
 */
export function repairHtml(section: DetectionSection, h: HtmlHelpers): string[] {
  const parts: string[] = [];
  const cellOf = (d: CellId) => cellColumns(d, h.esc);
  const repairs = section.repairs ?? [];
  if (repairs.length > 0) {
    const failing = repairs.filter((r) => r.n_with_control > 0 && !r.effective_beyond_control);
    parts.push(
      '<h3>Model-repair defences beside their controls</h3>' +
        '<p class="note">fine_pruning prunes the penultimate units least active on clean validation data, then fine-tunes on the clean validation split; its no-op control fine-tunes the unpruned model alike. ' +
        'abl unlearns the rows it isolated; its control unlearns as many random rows with the same class mix. ' +
        `${h.esc(section.repair_rule)}. Runtime: ${h.esc(section.runtime)}. ` +
        `<strong>${failing.length === 0 ? 'No repair stage failed against its control.' : `Failing (not beyond control): ${h.esc(failing.map((r) => `${r.method} ${labelOf(STAGE_LABELS, r.stage)} (${cellName(r)})`).join('; '))}.`}</strong></p>`,
    );
    parts.push(
      h.table(
        [...CELL_HEADERS, 'defence', 'stage', 'control', 'ASR before', 'ASR after', 'ASR after control', 'clean AUROC before', 'clean AUROC after', 'clean AUROC after control', 'runtime (s)', 'beat control'],
        repairs.map((r) => [
          ...cellOf(r),
          h.esc(r.method),
          h.esc(labelOf(STAGE_LABELS, r.stage)),
          h.esc(labelOf(CONTROL_LABELS, r.control)),
          h.summaryCell(r.asr_before),
          h.summaryCell(r.asr_after),
          h.summaryCell(r.control_asr_after),
          h.summaryCell(r.clean_auroc_before),
          h.summaryCell(r.clean_auroc_after),
          h.summaryCell(r.control_clean_auroc_after),
          h.summaryCell(r.seconds, 1),
          r.n_with_control === 0 ? 'no control' : `${r.n_beats_control} of ${r.n_with_control}${r.effective_beyond_control ? ' (effective)' : ' (fails)'}`,
        ]),
      ),
    );
  }
  const testDetection = section.test_detection ?? [];
  if (testDetection.length > 0) {
    parts.push(
      '<h3>Input-time detection (STRIP)</h3>' +
        '<p class="note">Triggered vs clean non-target test inputs ranked by low prediction entropy under superimposition; the threshold is set on clean validation entropy at the configured false-rejection rate.</p>',
    );
    parts.push(
      h.table(
        [...CELL_HEADERS, 'method', 'test-time AUROC', 'TPR at 1% FPR', 'TPR at 5% FPR', 'TPR at threshold', 'FRR on clean test at threshold'],
        testDetection.map((t) => [
          ...cellOf(t),
          h.esc(t.method),
          h.summaryCell(t.auroc),
          h.summaryCell(t.tpr_at_fpr_1pct),
          h.summaryCell(t.tpr_at_fpr_5pct),
          h.summaryCell(t.tpr_at_threshold),
          h.summaryCell(t.frr_test_at_threshold),
        ]),
      ),
    );
  }
  return parts;
}
