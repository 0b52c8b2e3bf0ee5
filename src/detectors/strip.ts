import { rowSize, type Features } from '../data/features/types.js';
import { deriveRng, type Rng } from '../engine/rng.js';
import type { BuiltModel } from '../models/types.js';
import { predictProba } from '../train/trainer.js';
import { validateParams, type ParamSchema } from '../util/plugin.js';
import { need, type Detector, type RawDetectorParams } from './types.js';

/**
 * STRIP (Gao, Xu, Wang, Chen, Ranasinghe & Nepal, ACSAC 2019), adapted to clinical records: a triggered input keeps
 * its (target) prediction however it is perturbed, because the trigger dominates the decision, so the entropy of the
 * model's predictions over perturbed copies is low. Images are perturbed by superimposing other images; here each
 * copy swaps a random subset of the input's variables (every feature or channel one raw variable feeds, all hours)
 * for those of a random donor record, the variable-replacement analogue STRIP-ViTA (Gao et al. 2021) uses for text.
 */
export interface StripParams {
  copies: number;
  swap_share: number;
  frr: number;
}

const GAO = 'Gao et al. 2019, "STRIP: A Defence Against Trojan Attacks on Deep Neural Networks", ACSAC';

export const STRIP_PARAMS: ParamSchema = {
  copies: { type: 'integer', min: 2, max: 1000, default: 20, description: 'Perturbed copies per input (N); entropy is averaged over them', citation: `${GAO} (N = 20 suffices there)` },
  swap_share: { type: 'number', min: 0, minOpen: true, max: 1, maxOpen: true, default: 0.5, description: "Chance that each variable of the input is replaced by the donor's" },
  frr: { type: 'number', min: 0, minOpen: true, max: 0.5, default: 0.01, description: 'False-rejection rate on clean validation inputs that sets the detection threshold', citation: `${GAO} (FRR 1%)` },
};

/** Feature (tabular) or channel (sequence) indices grouped by the raw variable they derive from. */
export function variableGroups(features: Pick<Features, 'sources'>): number[][] {
  const bySource = new Map<string, number[]>();
  features.sources.forEach((s, j) => {
    const list = bySource.get(s);
    if (list) list.push(j);
    else bySource.set(s, [j]);
  });
  return [...bySource.values()];
}

function binaryEntropy(p: number): number {
  const q = Math.min(1 - 1e-12, Math.max(1e-12, p));
  return -(q * Math.log2(q) + (1 - q) * Math.log2(1 - q));
}

/**
 * Mean prediction entropy (bits) of each row of `inputs` over `copies` perturbations, each swapping the variables of
 * a random donor row of `donors` in with probability `swapShare`. Rows of both share one feature layout.
 */
export function stripEntropy(model: BuiltModel, inputs: Features, donors: Features, copies: number, swapShare: number, rng: Rng): Float64Array {
  const size = rowSize(inputs);
  const groups = variableGroups(inputs);
  // Channel c of a sequence row sits at t·C + c for every hour t; tabular rows have one "hour".
  const channels = inputs.rowShape.length === 2 ? inputs.rowShape[1] : size;
  const hours = size / channels;
  const entropy = new Float64Array(inputs.n);
  const chunk = Math.max(1, Math.floor(4096 / copies));
  for (let start = 0; start < inputs.n; start += chunk) {
    const end = Math.min(inputs.n, start + chunk);
    const x = new Float32Array((end - start) * copies * size);
    for (let i = start; i < end; i++) {
      const row = inputs.x.subarray(i * size, (i + 1) * size);
      for (let c = 0; c < copies; c++) {
        const out = ((i - start) * copies + c) * size;
        x.set(row, out);
        const donor = rng.int(donors.n) * size;
        for (const group of groups) {
          if (rng.next() >= swapShare) continue;
          for (let t = 0; t < hours; t++) for (const j of group) x[out + t * channels + j] = donors.x[donor + t * channels + j];
        }
      }
    }
    const probs = predictProba(model, { ...inputs, n: (end - start) * copies, x });
    for (let i = start; i < end; i++) {
      let h = 0;
      for (let c = 0; c < copies; c++) h += binaryEntropy(probs[(i - start) * copies + c]);
      entropy[i] = h / copies;
    }
  }
  return entropy;
}

/** The entropy below which an input is called triggered: the `frr` quantile of clean inputs' entropies. */
export function entropyThreshold(cleanEntropy: ArrayLike<number>, frr: number): number {
  const sorted = Float64Array.from(cleanEntropy).sort();
  if (sorted.length === 0) return -Infinity;
  return sorted[Math.min(sorted.length - 1, Math.floor(frr * sorted.length))];
}

export const strip: Detector<StripParams> = {
  name: 'strip',
  description: 'STRIP (Gao et al. 2019), variable-swap variant: low prediction entropy over perturbed copies marks a dominant trigger',
  params: STRIP_PARAMS,
  resolve(raw: RawDetectorParams): StripParams {
    return validateParams('strip', STRIP_PARAMS, raw, { owner: 'strip' }) as unknown as StripParams;
  },
  score(input, params) {
    const features = need(input.features, 'model input features', 'strip');
    const model = need(input.model, 'the trained model', 'strip');
    const validation = need(input.validation, 'the clean validation split', 'strip');
    const n = features.n;
    if (n !== input.labels.length) throw new Error(`strip: ${n} feature rows for ${input.labels.length} labels`);
    // Donors come from the clean validation split, the defender's trusted held-out set.
    const entropy = stripEntropy(model, features, validation.features, params.copies, params.swap_share, deriveRng(input.seed, 'strip', 'train'));
    const cleanEntropy = stripEntropy(model, validation.features, validation.features, params.copies, params.swap_share, deriveRng(input.seed, 'strip', 'validation'));
    const threshold = entropyThreshold(cleanEntropy, params.frr);
    const scores = Float32Array.from(entropy, (h) => -h);
    const flagged = Uint8Array.from(entropy, (h) => (h < threshold ? 1 : 0));
    return { scores, flagged, details: { entropy_threshold_bits: threshold, frr: params.frr, validation_entropy_median: cleanEntropy.length ? Float64Array.from(cleanEntropy).sort()[cleanEntropy.length >> 1] : null } };
  },
};
