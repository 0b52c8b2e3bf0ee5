import { validateParams, type ParamSchema } from '../util/plugin.js';
import type { Detector, RawDetectorParams } from './types.js';

/**
 * Reference detector: the observed training label as the suspicion score, flagging nothing. Under dirty-label
 * poisoning every poisoned row carries the target label, so over all rows this "detector" ranks poison well by the
 * label alone; within the target class its score is constant and its AUROC exactly 0.5. It shows what the label
 * buys a detector and is always run beside the chosen detectors (src/detectors/registry.ts REFERENCE_DETECTORS).
 */
const LABEL_PARAMS: ParamSchema = {};

export const label: Detector<Record<string, never>> = {
  name: 'label',
  description: 'Reference: the observed training label as the score (what the label alone buys); flags nothing',
  params: LABEL_PARAMS,
  resolve(raw: RawDetectorParams) {
    return validateParams('label', LABEL_PARAMS, raw, { owner: 'label' }) as Record<string, never>;
  },
  score(input) {
    return { scores: Float32Array.from(input.labels), flagged: new Uint8Array(input.labels.length), details: {} };
  },
};
