/**
 * Every poisoning detector by name. Adding one means one file exporting a Detector (its parameter schema holds
 * the documented defaults and citations) and one line here.
 */
import { createRegistry, defaultsOf } from '../util/plugin.js';
import { abl } from './abl.js';
import { activationClustering } from './activation-clustering.js';
import { label } from './label.js';
import { finePruning } from './fine-pruning.js';
import { outlier } from './outlier.js';
import { random } from './random.js';
import { saliency } from './saliency.js';
import { spectral } from './spectral.js';
import { spectre } from './spectre.js';
import { strip } from './strip.js';
import { triggerInversion } from './trigger-inversion.js';
import type { Detector, RawDetectorParams } from './types.js';

export const DETECTOR_REGISTRY = createRegistry<Detector<any>>('detector', [
  spectral,
  activationClustering,
  saliency,
  outlier,
  spectre,
  finePruning,
  strip,
  abl,
  triggerInversion,
  label,
  random,
]);

/** Reference detectors (chance and label-only levels) that every detection runs beside the chosen ones. */
export const REFERENCE_DETECTORS: readonly string[] = ['label', 'random'];

export function isReferenceDetector(name: string): boolean {
  return REFERENCE_DETECTORS.includes(name);
}

/** The chosen detectors followed by the reference ones not already chosen. */
export function withReferenceDetectors(methods: readonly string[]): string[] {
  return [...methods, ...REFERENCE_DETECTORS.filter((r) => !methods.includes(r))];
}

/** Name → detector, a prototype-free map (for iteration; look names up with getDetector). */
export const DETECTORS: Readonly<Record<string, Detector<any>>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, Detector<any>>, Object.fromEntries(DETECTOR_REGISTRY.members().map((d) => [d.name, d]))),
);

export function detectorNames(): string[] {
  return DETECTOR_REGISTRY.names();
}

export function getDetector(name: string): Detector<any> {
  return DETECTOR_REGISTRY.get(name);
}

/** A detector's parameters as written out: its schema's defaults with `overrides` over them. */
export function mergeDetectorParams(name: string, overrides: RawDetectorParams = {}): RawDetectorParams {
  return { ...defaultsOf(getDetector(name).params), ...overrides };
}
