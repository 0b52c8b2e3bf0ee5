import { repairHtml } from './html-repair.js';
import { percentLabel } from './percent.js';
import type { Summary } from './stats-core.js';
import { cellName, type CellId } from './cell.js';
import type { ReportStats } from './stats-types.js';
import type { DefenceCellStats } from './stats-detection.js';

/** The report page's formatting helpers (html.ts), passed in so both share one look. */
export interface HtmlHelpers {
  esc(s: unknown): string;
  table(headers: string[], rows: string[][], cls?: string): string;
  summaryCell(s: Summary, digits?: number): string;
}

/** The columns that name a cell in every table of report.html, and their cells. */
export const CELL_HEADERS = ['model', 'trigger', 'target', 'mode', 'rate'];

export function cellColumns(d: CellId, esc: (s: unknown) => string): string[] {
  return [esc(d.model), esc(d.trigger), String(d.target), esc(d.mode), percentLabel(d.poison_rate)];
}

/** What the target and mode columns mean, for the tables' notes. */
export const CELL_NOTE = 'target 1: a death made likely, target 0: a death hidden; mode dirty relabels the poisoned rows, clean (naive clean-label) and label_consistent keep their labels';

/**
 * report.html's detection and defence tables from stats.json's `detection` section: per cell (model, trigger,
 * poison rate) and method, detection within the target class beside the all-rows figure and the flag rule, and
 * every defence beside its random-removal control with the verdict.
 */
export function detectionHtml(stats: ReportStats, h: HtmlHelpers): string[] {
  const section = stats.detection;
  if (!section) return [];
  const parts: string[] = [];
  const cellOf = (d: CellId) => cellColumns(d, h.esc);
  if (section.detectors.length > 0) {
    parts.push(
      '<h3>Detectors per cell</h3>' +
        `<p class="note">Headline: ${h.esc(section.headline)}. All-rows AUROC (secondary) ranks every training row together, where a score that tracks the label already separates dirty-label poison. ` +
        `label and random are reference detectors (0.5 within the target class). Statistics ${h.esc(section.scope)}. Records from before this scoring have no target-class figures ("no data").</p>`,
    );
    parts.push(
      h.table(
        [...CELL_HEADERS, 'detector', 'AUROC (target class)', 'TPR at 5% FPR (target class)', 'AUROC (all rows)', 'flagged', 'false alarms', 'precision of flags'],
        section.detectors.map((d) =>
          d.skipped !== null
            ? [...cellOf(d), h.esc(d.method), `skipped: ${h.esc(d.skipped)}`, '', '', '', '', '']
            : [
                ...cellOf(d),
                h.esc(d.reference ? `${d.method} (reference)` : d.method),
                h.summaryCell(d.target_class_auroc),
                h.summaryCell(d.target_class_tpr_at_fpr_5pct),
                h.summaryCell(d.all_rows_auroc),
                h.summaryCell(d.rule_flagged, 1),
                h.summaryCell(d.rule_false_alarms, 1),
                h.summaryCell(d.rule_precision),
              ],
        ),
      ),
    );
  }
  if (section.defences.length > 0) {
    const effective = section.defences.filter((d) => d.effective_beyond_control);
    const verdict =
      effective.length === 0
        ? 'No defence is effective beyond its random-removal control.'
        : `Effective beyond control: ${effective.map((d) => `${d.method} (${cellName(d)})`).join('; ')}.`;
    parts.push(
      '<h3>Defences beside their random-removal controls</h3>' +
        '<p class="note">Each defence retrains without its detector\'s flagged rows; its control retrains without as many rows drawn at random with the same class mix (same config and seed). ' +
        'DER = [max(0, ΔASR) − ΔU + 1]/2 with ΔU the share of above-chance clean AUROC lost (README "Detection and defence"); 0.5 = no net effect. ' +
        `A defence beats its control when ${h.esc(section.beats_control_rule)}; ${h.esc(section.effective_rule)}. <strong>${h.esc(verdict)}</strong></p>`,
    );
    parts.push(
      h.table(
        [...CELL_HEADERS, 'defence', 'arm', 'rows removed (target class)', 'ASR before', 'ASR after', 'clean AUROC before', 'clean AUROC after', 'balanced accuracy after', 'DER', 'runtime (s)', 'beat control'],
        section.defences.flatMap((d) => d.n_retrained === 0 ? [noRetrainRow(d)] : [
          [
            ...cellOf(d),
            h.esc(d.method),
            'defence',
            `${h.summaryCell(d.removed, 1)} (${h.summaryCell(d.removed_target_class, 1)})`,
            h.summaryCell(d.asr_before),
            h.summaryCell(d.asr_after),
            h.summaryCell(d.clean_auroc_before),
            h.summaryCell(d.clean_auroc_after),
            h.summaryCell(d.balanced_accuracy_after),
            h.summaryCell(d.der),
            d.seconds ? h.summaryCell(d.seconds, 1) : '',
            d.n_with_control === 0 ? 'no control' : `${d.n_beats_control} of ${d.n_with_control}${d.effective_beyond_control ? ' (effective)' : ' (fails)'}`,
          ],
          ['', '', '', '', '', '', 'control', 'same count and class mix', '', h.summaryCell(d.control_asr_after), '', h.summaryCell(d.control_clean_auroc_after), h.summaryCell(d.control_balanced_accuracy_after), h.summaryCell(d.control_der), '(in the row above)', ''],
        ]),
      ),
    );
  }
  parts.push(...repairHtml(section, h));
  return parts;

  /** A defence that retrained nothing in any run of its cell: said so, never a copy of the run shown as "after". */
  function noRetrainRow(d: DefenceCellStats): string[] {
    const repair = REPAIR_METHODS.has(d.method) ? '; its defence is the model repair (table below)' : '';
    return [...cellOf(d), h.esc(d.method), 'no retrain', `0 (${h.summaryCell(d.removed_target_class, 1)})`, h.summaryCell(d.asr_before), `no retrain: the detector flagged no training rows${repair}`, h.summaryCell(d.clean_auroc_before), '', '', '', d.seconds ? h.summaryCell(d.seconds, 1) : '', ''];
  }
}

/** The methods whose defence is a model repair (experiments/repair.ts), shown in the model-repair table. */
const REPAIR_METHODS = new Set(['fine_pruning', 'abl']);
