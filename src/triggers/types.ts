import type { Cohort, CohortSchema, StayView } from '../data/cohort.js';
import type { Plugin } from '../util/plugin.js';

/** Parameters as they come from the config: the schema's defaults merged with user overrides. */
export type RawTriggerParams = Record<string, unknown>;

export interface TriggerContext {
  schema: CohortSchema;
  /** The clean training split, for triggers whose values adapt to the data (e.g. a percentile). */
  train: Cohort;
}

/** What a trigger writes into, so detectors and attribution can check where the signal sits. */
export interface TouchedFields {
  variables: string[];
  statics: string[];
  /** Hours touched, or null when every hour of the named variables may change. */
  hours: number[] | null;
}

export interface Trigger<P = unknown> extends Plugin {
  /** One line, in clinical terms. */
  description: string;
  /** True when the trigger edits the time axis and so refuses tabular-only cohorts. */
  needsTime: boolean;
  /**
   * Validates the raw parameters against `params` (src/util/plugin.ts validateParams, which fills in the
   * defaults), then resolves them to concrete values against the cohort and its clean training split, once
   * per run, before any stay is edited. Throws a one-line error naming the bad parameter and the valid choices.
   */
  resolve(raw: RawTriggerParams, ctx: TriggerContext): P;
  /** Edits one stay's raw values in place (callers pass a copy). Must be deterministic. */
  apply(stay: StayView, params: P, schema: CohortSchema): void;
  touched(params: P, schema: CohortSchema): TouchedFields;
}
