/**
 * What some detectors report beyond their row scores, computed where the run's test split, trigger and featurizer
 * are at hand: STRIP's test-time detection, the recovered trigger in clinical units with its overlap with the true
 * one, and the model repairs of fine-pruning and ABL (repair.ts). The result is merged into the method's detection
 * record under `details`.
 */
import type { Features } from '../data/features/types.js';
import type { SequenceState } from '../data/features/sequence.js';
import type { TabularState } from '../data/features/tabular.js';
import type { AblParams } from '../detectors/abl.js';
import type { FinePruningParams } from '../detectors/fine-pruning.js';
import { entropyThreshold, stripEntropy, type StripParams } from '../detectors/strip.js';
import type { DetectionInput, DetectorOutput } from '../detectors/types.js';
import { deriveRng } from '../engine/rng.js';
import { auroc } from '../metrics/classification.js';
import { tprAtFpr } from '../metrics/detection.js';
import { triggeredTestSet } from '../triggers/poison.js';
import type { RunContext } from './load-run.js';
import { ablRepair, finePruningRepair } from './repair.js';

/** STRIP on the test split: the non-target test rows clean and with the trigger, threshold from clean validation entropy. */
export function stripTestDetection(run: RunContext, input: DetectionInput, params: StripParams): Record<string, unknown> | null {
  if (run.prepared.trigger.name === 'none') return null;
  const validation = input.validation!;
  const set = triggeredTestSet(run.dataset.test, run.prepared.trigger, run.prepared.triggerParams, run.config.poison.target);
  const clean = run.prepared.featurize(set.clean);
  const triggered = run.prepared.featurize(set.triggered);
  const hClean = stripEntropy(run.model, clean, validation.features, params.copies, params.swap_share, deriveRng(run.config.seed, 'strip', 'test-clean'));
  const hTriggered = stripEntropy(run.model, triggered, validation.features, params.copies, params.swap_share, deriveRng(run.config.seed, 'strip', 'test-triggered'));
  const hValidation = stripEntropy(run.model, validation.features, validation.features, params.copies, params.swap_share, deriveRng(run.config.seed, 'strip', 'validation'));
  const threshold = entropyThreshold(hValidation, params.frr);
  const isTriggered = [...Array.from(hClean, () => 0), ...Array.from(hTriggered, () => 1)];
  const scores = [...Array.from(hClean, (h) => -h), ...Array.from(hTriggered, (h) => -h)];
  const below = (hs: Float64Array) => (hs.length ? hs.filter((h) => h < threshold).length / hs.length : 0);
  return {
    test_detection: {
      n_clean: hClean.length,
      n_triggered: hTriggered.length,
      auroc: auroc(isTriggered, scores),
      tpr_at_fpr_1pct: tprAtFpr(isTriggered, scores, 0.01),
      tpr_at_fpr_5pct: tprAtFpr(isTriggered, scores, 0.05),
      threshold_bits: threshold,
      frr_validation: params.frr,
      tpr_at_threshold: below(hTriggered),
      frr_test_at_threshold: below(hClean),
    },
  };
}

interface CellReading {
  variable: string;
  feature: string;
  hour: number | null;
  mask: number;
  value: number;
  unit_scale: 'raw' | 'indicator';
}

/** A cell of the model input in clinical terms: the raw value the pattern stands for, via the featurizer's scaling. */
function readCell(features: Pick<Features, 'names' | 'sources' | 'rowShape' | 'view'>, state: unknown, cell: { hour: number; feature: number; mask: number; pattern: number }): CellReading {
  if (features.view === 'tabular') {
    const column = (state as TabularState).columns[cell.feature];
    return { variable: column.source, feature: column.name, hour: null, mask: cell.mask, value: column.scaled ? cell.pattern * column.sd + column.mean : cell.pattern, unit_scale: column.scaled ? 'raw' : 'indicator' };
  }
  const seq = state as SequenceState;
  const V = seq.variables.length;
  const v = cell.feature % V;
  const isValue = cell.feature < V;
  return { variable: seq.variables[v], feature: features.names[cell.feature], hour: cell.hour, mask: cell.mask, value: isValue ? cell.pattern * seq.sd[v] + seq.mean[v] : cell.pattern, unit_scale: isValue ? 'raw' : 'indicator' };
}

/** The recovered trigger in clinical units, and the share of its mask on the true trigger's variables (and hours). */
export function inversionReading(run: RunContext, details: Record<string, unknown>): Record<string, unknown> {
  const features = run.prepared.trainFeatures;
  const classes = details.classes as { target: number; mask: number[]; top_cells: { hour: number; feature: number; mask: number; pattern: number }[] }[];
  const suspected = classes.find((c) => c.target === details.suspected_class)!;
  const channels = features.rowShape.length === 2 ? features.rowShape[1] : features.rowShape[0];
  const touched = run.prepared.trigger.name === 'none' ? null : run.prepared.trigger.touched(run.prepared.triggerParams, run.dataset.cohort.schema);
  let overlap: Record<string, unknown> | null = null;
  if (touched) {
    const sources = new Set([...touched.variables, ...touched.statics]);
    const hours = touched.hours ? new Set(touched.hours) : null;
    let total = 0;
    let onVariables = 0;
    let onVariablesAndHours = 0;
    suspected.mask.forEach((m, index) => {
      total += m;
      const feature = index % channels;
      if (!sources.has(features.sources[feature])) return;
      onVariables += m;
      // Tabular inputs aggregate over every hour: a variable match is the whole match there.
      if (features.view === 'tabular' || !hours || hours.has(Math.floor(index / channels))) onVariablesAndHours += m;
    });
    overlap = {
      trigger_variables: [...sources],
      trigger_hours: touched.hours,
      mask_share_on_trigger_variables: total > 0 ? onVariables / total : 0,
      mask_share_on_trigger_variables_and_hours: total > 0 ? onVariablesAndHours / total : 0,
      top_cell_on_trigger: suspected.top_cells.length > 0 && sources.has(features.sources[suspected.top_cells[0].feature]),
    };
  }
  return {
    recovered_trigger: suspected.top_cells.slice(0, 5).map((c) => readCell(features, run.prepared.featurizerState, c)),
    overlap_with_true_trigger: overlap,
  };
}

/** The extra report of `method`, or null when it has none. */
export async function methodReport(method: string, run: RunContext, input: DetectionInput, params: unknown, out: DetectorOutput, log: (line: string) => void): Promise<Record<string, unknown> | null> {
  switch (method) {
    case 'strip':
      return stripTestDetection(run, input, params as StripParams);
    case 'trigger_inversion':
      return inversionReading(run, out.details);
    case 'fine_pruning': {
      const mask = new Uint8Array(out.details.units as number).fill(1);
      for (const u of out.details.pruned_units as number[]) mask[u] = 0;
      return { repair: await finePruningRepair(run, mask, params as FinePruningParams, log) };
    }
    case 'abl':
      return { repair: await ablRepair(run, out.flagged, params as AblParams, log) };
    default:
      return null;
  }
}
