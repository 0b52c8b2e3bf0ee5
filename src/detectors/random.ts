import { deriveRng } from '../engine/rng.js';
import { validateParams, type ParamSchema } from '../util/plugin.js';
import type { Detector, RawDetectorParams } from './types.js';

/**
 * Reference detector: independent uniform scores drawn from the run's seed, flagging nothing. Its AUROC sits at
 * chance (0.5) both within the target class and over all rows, up to sampling noise; it is always run beside the
 * chosen detectors (src/detectors/registry.ts REFERENCE_DETECTORS) as the floor any detector must clear.
 */
const RANDOM_PARAMS: ParamSchema = {};

export const random: Detector<Record<string, never>> = {
  name: 'random',
  description: "Reference: seeded uniform scores from the run's seed (chance level); flags nothing",
  params: RANDOM_PARAMS,
  resolve(raw: RawDetectorParams) {
    return validateParams('random', RANDOM_PARAMS, raw, { owner: 'random' }) as Record<string, never>;
  },
  score(input) {
    const rng = deriveRng(input.seed, 'detector', 'random');
    const scores = Float32Array.from(input.labels, () => rng.next());
    return { scores, flagged: new Uint8Array(input.labels.length), details: {} };
  },
};
