/**
 * Every poisoning detector by name. Adding one means one file exporting a Detector, one line here, and one
 * configs/detector/<name>.yaml holding its documented defaults.
 */
import { activationClustering } from './activation-clustering.js';
import { outlier } from './outlier.js';
import { saliency } from './saliency.js';
import { spectral } from './spectral.js';
import type { Detector } from './types.js';
import { unknownChoice } from '../util/errors.js';

export const DETECTORS: Readonly<Record<string, Detector<any>>> = {
  spectral,
  activation_clustering: activationClustering,
  saliency,
  outlier,
};

export function detectorNames(): string[] {
  return Object.keys(DETECTORS);
}

export function getDetector(name: string): Detector<any> {
  const d = Object.hasOwn(DETECTORS, name) ? DETECTORS[name] : undefined;
  if (!d) throw unknownChoice('detector', name, detectorNames());
  return d;
}
