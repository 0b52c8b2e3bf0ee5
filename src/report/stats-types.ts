import type { Summary } from './stats-core.js';
import type { EquivalenceVerdict, TostResult } from '../metrics/equivalence.js';
import type { DetectionSection } from './stats-detection.js';
import type { Target } from './cell.js';

/** The shape of stats.json: the statistics stage's output and the figures stage's only input. */

/**
 * Clean AUROC of the poisoned models against their matching clean models (stealth), an equivalence question: TOST
 * within ±margin on the paired differences with their test-set covariance (metrics/equivalence.ts), and DeLong's test
 * of the two AUROCs of each seed on the one test split.
 */
export interface StealthComparison {
  margin: number;
  /** Seeds with both a poisoned run and its matching clean run. */
  seeds: number[];
  /** Seeds without a matching clean run. */
  unmatched_seeds: number[];
  /** poisoned − clean AUROC with its seed-and-test interval. */
  difference: Summary;
  tost: TostResult | null;
  /** null when not assessed (no matching clean run, or no test predictions). */
  verdict: EquivalenceVerdict | null;
  /** "equivalent within ±m", "different", "inconclusive", or why it was not assessed. */
  label: string;
  /** DeLong's test of poisoned vs clean AUROC, per paired seed. */
  delong: { seed: number; auroc_poisoned: number; auroc_clean: number; difference: number; se: number; z: number; p: number }[];
}

/** One experimental cell: model × trigger × target × poison mode × poison rate (cell.ts), over seeds. */
export interface CellStats {
  model: string;
  trigger: string;
  poison_rate: number;
  /** The attack direction from metrics.json: 1 makes a death likely, 0 hides a death. */
  target: Target;
  /** metrics.json poison_mode: dirty, clean (naive clean-label) or label_consistent. */
  mode: string;
  n_runs: number;
  seeds: number[];
  asr: Summary;
  /** ASR minus the matching clean model's false-trigger rate with this run's trigger parameters; note "no matching clean run" when none. */
  asr_net: Summary;
  /** The matching clean models' false-trigger rate, over the matched seeds. */
  false_trigger_asr: Summary;
  /** Which seeds found their matching clean run (metrics/net-asr.ts's cleanMatchKey), and which (path#false_trigger key). */
  net_asr_pairing: { matched_seeds: number[]; unmatched_seeds: number[]; clean_runs: string[] };
  confidence_shift: Summary;
  clean_auroc: Summary;
  clean_auprc: Summary;
  ece: Summary;
  auroc_vs_clean: StealthComparison;
}

/** The clean baseline of one model (trigger none, rate 0), over seeds. */
export interface BaselineStats {
  model: string;
  /** The clean runs' configured target: the direction of false-trigger rates whose key names none. */
  target: Target;
  n_runs: number;
  seeds: number[];
  clean_auroc: Summary;
  clean_auprc: Summary;
  ece: Summary;
  brier: Summary;
  /** Per false-trigger variant (trigger name, or name with non-default parameters), the clean model's false-trigger rate. */
  false_trigger_asr: Record<string, Summary>;
  /** The trigger name of each false_trigger_asr key. */
  false_trigger_triggers: Record<string, string>;
}

/** Saliency attribution per trigger and target: the share of |IG| on the trigger's features (TAR). */
export interface AttributionStats {
  trigger: string;
  target: Target;
  n_runs: number;
  tar_triggered: Summary;
  tar_clean: Summary;
  uniform_share: number | null;
}

export interface ReportStats {
  settings: {
    intervals: string;
    bootstrap: string;
    bootstrap_resamples: number;
    bootstrap_seed: number;
    ci_level: number;
    few_seeds: string;
    sd: string;
    pairing: string;
    stealth: string;
    auroc_margin: number;
    tests: string[];
    n_too_small: string;
  };
  n_runs: number;
  baselines: BaselineStats[];
  cells: CellStats[];
  attribution: AttributionStats[];
  /** Detection within the target class and defences beside their random-removal controls, per cell (stats-detection.ts). */
  detection: DetectionSection;
  notes: string[];
  /** Everything the figures plot beyond the sections above (a figure reads stats.json alone). */
  figure_data: FigureData;
}

/** A headline number of the report, formatted for a tile: the dashboard, slide 1 and report.html show them. */
export interface Kpi {
  label: string;
  value: string;
  detail: string;
}

/** One reliability bin of the clean test set, pooled over seeds (counts add, means are count-weighted). */
export interface PooledBin {
  lo: number;
  hi: number;
  n: number;
  /** null when no test row fell in the bin. */
  mean_prob: number | null;
  frac_positive: number | null;
}

/** Pooled reliability bins of one model's clean baseline (trigger none, rate 0) or of one poisoned cell. */
export interface ReliabilityGroup {
  model: string;
  trigger: string;
  poison_rate: number;
  target: Target;
  mode: string;
  n_runs: number;
  bins: PooledBin[];
}

/** Histogram of per-row confidence shifts of one cell, pooled over seeds: bin k spans edges[k]..edges[k + 1]. */
export interface ShiftHistogram {
  model: string;
  trigger: string;
  poison_rate: number;
  target: Target;
  mode: string;
  /** Triggered test rows over all the cell's seeds. */
  n_rows: number;
  edges: number[];
  shares: number[];
}

/** Mean |IG| of one feature on triggered rows, over the runs of one trigger with attribution. */
export interface FeatureAttribution {
  trigger: string;
  target: Target;
  feature: string;
  mean_abs_ig_triggered: number;
  n_runs: number;
  /** Derived from a variable the trigger writes. */
  touched: boolean;
}

/** Trigger attribution ratio of every run of one trigger, on clean and on triggered rows, and their means. */
export interface TarByTrigger {
  trigger: string;
  target: Target;
  /** The largest uniform share over the runs (it depends on how many features the trigger touches). */
  uniform_share: number | null;
  clean: { values: number[]; mean: number | null };
  triggered: { values: number[]; mean: number | null };
}

export interface FigureData {
  kpis: Kpi[];
  reliability: ReliabilityGroup[];
  confidence_shift: ShiftHistogram[];
  attribution_features: FeatureAttribution[];
  attribution_tar: TarByTrigger[];
}
