import type { Cohort } from '../data/cohort.js';
import { cloneCohort, stayView, subsetCohort } from '../data/cohort.js';
import { deriveRng } from '../engine/rng.js';
import { UserError } from '../util/errors.js';
import type { Trigger } from './types.js';
import { fitSurrogate, hardenRows, resolveLabelConsistent, type LabelConsistentParams } from './label-consistent.js';

export type PoisonMode = 'dirty' | 'clean' | 'label_consistent';
export const POISON_MODES: PoisonMode[] = ['dirty', 'clean', 'label_consistent'];

export interface PoisonSpec {
  /** Share of the training split to poison, in [0, 1): floor(rate · n_train) rows. */
  rate: number;
  /** The label the attacker wants triggered stays to receive. */
  target: 0 | 1;
  /**
   * dirty: rows are drawn from the non-target rows and relabelled to the target (each poisoned row carries the
   * trigger with a flipped label). clean: the naive clean-label baseline: rows are drawn from those already
   * labelled with the target, the trigger is stamped and no label changes (the baseline Turner et al. 2019,
   * "Label-consistent backdoor attacks", show to be weak). label_consistent: Turner et al.'s attack: the same rows,
   * first perturbed so that a clean surrogate misclassifies them (label-consistent.ts), then stamped, no label change.
   */
  mode: PoisonMode;
  /** label_consistent only: PGD bounds, steps and surrogate. */
  label_consistent?: LabelConsistentParams;
}

export interface PoisonedTraining {
  cohort: Cohort;
  /** Positions within the training split (its row order), ascending. */
  poisonedIndices: Int32Array;
}

export function applyTrigger<P>(cohort: Cohort, rows: ArrayLike<number>, trigger: Trigger<P>, params: P): void {
  for (let k = 0; k < rows.length; k++) trigger.apply(stayView(cohort, rows[k]), params, cohort.schema);
}

/** The smallest rate, written with few digits, whose floor(rate · n) is at least 1. */
export function smallestOneRowRate(n: number): number {
  for (let digits = 1; digits <= 12; digits++) {
    const f = 10 ** (digits + Math.max(0, Math.ceil(Math.log10(n))));
    const rate = Math.ceil(f / n) / f;
    if (Math.floor(rate * n) >= 1) return rate;
  }
  return 1 / n;
}

/**
 * floor(rate · n) rows; a rate > 0 that poisons no row of a non-empty split is refused, naming the smallest rate that
 * poisons one. An empty split (a run re-prepared on an external cohort, all of whose stays are test stays) has none.
 */
export function poisonedRowCount(rate: number, n: number): number {
  const count = Math.floor(rate * n);
  if (count === 0 && rate > 0 && n > 0) {
    throw new UserError(`poison rate ${rate} poisons no row of the ${n}-row training split (floor(rate · n) = 0); the smallest rate that poisons one row is ${smallestOneRowRate(n)}`);
  }
  return count;
}

/** The one poisoning function: choose rows with the seed, apply the trigger, relabel. */
export function poisonTrainingSet<P>(train: Cohort, trigger: Trigger<P>, params: P, spec: PoisonSpec, seed: number | string): PoisonedTraining {
  if (!(spec.rate >= 0 && spec.rate < 1)) throw new UserError(`poison rate must be in [0, 1), got ${spec.rate}`);
  const count = poisonedRowCount(spec.rate, train.n);
  const cohort = cloneCohort(train);
  if (count === 0) return { cohort, poisonedIndices: new Int32Array(0) };
  const wantLabel = spec.mode === 'dirty' ? 1 - spec.target : spec.target;
  const candidates: number[] = [];
  for (let i = 0; i < train.n; i++) if (train.labels[i] === wantLabel) candidates.push(i);
  if (candidates.length < count) {
    throw new UserError(
      `poison rate ${spec.rate} needs ${count} ${spec.mode}-label rows with label ${wantLabel}, but the training split has only ${candidates.length}; lower the rate`,
    );
  }
  const chosen = Int32Array.from(deriveRng(seed, 'poison').sample(candidates, count)).sort();
  if (spec.mode === 'label_consistent') {
    const lc = spec.label_consistent ?? resolveLabelConsistent({});
    hardenRows(cohort, chosen, fitSurrogate(train, lc.surrogate_l2), lc);
  }
  applyTrigger(cohort, chosen, trigger, params);
  for (const i of chosen) cohort.labels[i] = spec.target;
  return { cohort, poisonedIndices: chosen };
}

export interface TriggeredTest {
  /** The clean test rows whose true label differs from the target, in test order. */
  clean: Cohort;
  /** The same rows with the trigger applied (labels unchanged: they are the true labels). */
  triggered: Cohort;
  /** Positions of those rows within the test split. */
  rows: number[];
}

/** The triggered test set: the trigger applied to every clean test row whose true label ≠ the target. */
export function triggeredTestSet<P>(test: Cohort, trigger: Trigger<P>, params: P, target: 0 | 1): TriggeredTest {
  const rows: number[] = [];
  for (let i = 0; i < test.n; i++) if (test.labels[i] !== target) rows.push(i);
  const clean = subsetCohort(test, rows);
  const triggered = cloneCohort(clean);
  applyTrigger(triggered, Array.from({ length: triggered.n }, (_, k) => k), trigger, params);
  return { clean, triggered, rows };
}
