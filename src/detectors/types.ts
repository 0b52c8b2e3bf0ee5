import type { Features } from '../data/features/types.js';
import type { BuiltModel } from '../models/types.js';
import type { Plugin } from '../util/plugin.js';
import type { Matrix } from './linalg.js';

/**
 * What a detector sees of a poisoned training set: what a defender holding the (possibly poisoned) data and the
 * model trained on it would have. Never the ground truth: the poisoned mask is only used afterwards, by the scorer.
 *
 * Everything beyond the labels is optional so tests can feed a detector just what it reads (a representation
 * matrix, a feature matrix) without training a model; a detector that lacks an input throws naming it.
 */
export interface DetectionInput {
  /** Training labels as the defender sees them (after poisoning, i.e. with flipped labels). */
  labels: Uint8Array;
  /** The run seed; detectors derive their own RNG streams from it. */
  seed: number | string;
  /** The run's configured poison rate, for parameters that may say `run` (e.g. spectral `epsilon`). */
  configuredRate?: number;
  /** The registered name of the run's model (mlp, lstm, …), for messages. */
  modelName?: string;
  /** Model inputs of the training rows. */
  features?: Features;
  /** The trained model (for gradients). */
  model?: BuiltModel;
  /** Penultimate-layer representations of the training rows, n × units; computed on first use and cached. */
  representation?: () => Matrix;
  /**
   * The clean validation split, model inputs and labels: the small trusted set that fine-pruning, STRIP and
   * trigger inversion assume the defender holds (Liu et al. 2018; Gao et al. 2019; Wang et al. 2019).
   */
  validation?: { features: Features; labels: Uint8Array };
  /** For training-time defences (ABL): a fresh untrained model of the run's architecture and its training settings. */
  training?: TrainingSetup;
}

export interface TrainingSetup {
  /** A new model, initial weights from the run's seed. */
  build(): BuiltModel;
  batchSize: number;
  learningRate: number;
}

export interface DetectorOutput {
  /** Continuous suspicion per training row; larger = more suspicious. Finite. */
  scores: Float32Array;
  /** 1 for each row the detector's own decision rule flags. */
  flagged: Uint8Array;
  /** Method-specific diagnostics (per-class statistics, resolved thresholds), JSON-serializable. */
  details: Record<string, unknown>;
}

export type RawDetectorParams = Record<string, unknown>;

export interface Detector<P = unknown> extends Plugin {
  /** One line: what it looks at and the paper it follows. */
  description: string;
  /** Validates overrides against `params` (src/util/plugin.ts validateParams, which fills in the defaults); one-line errors. */
  resolve(raw: RawDetectorParams): P;
  score(input: DetectionInput, params: P): DetectorOutput;
  /**
   * Why the method cannot run on this input's model (one line), or null when it can. A method absent from an
   * explicit choice of methods is then skipped with this reason; one named explicitly is refused with it.
   */
  notApplicable?(input: DetectionInput): string | null;
}

export function need<T>(value: T | undefined, what: string, detector: string): T {
  if (value === undefined) throw new Error(`detector ${detector} needs ${what}, which this input does not provide`);
  return value;
}

/** A detector's poison-share parameter: a number, or "run" for the run's configured poison rate. */
export function resolveEpsilon(epsilon: number | 'run', input: DetectionInput, detector: string): number {
  if (epsilon !== 'run') return epsilon;
  if (input.configuredRate === undefined) throw new Error(`${detector}: epsilon is "run" but the input carries no configured poison rate`);
  return input.configuredRate;
}

/** Rows of each label value, in row order: detectors that work "per class" split by the training label. */
export function rowsByLabel(labels: Uint8Array): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const list = out.get(labels[i]);
    if (list) list.push(i);
    else out.set(labels[i], [i]);
  }
  return new Map([...out.entries()].sort(([a], [b]) => a - b));
}
