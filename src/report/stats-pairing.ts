import { cleanMatchKey, type CleanMatchFields } from '../metrics/net-asr.js';
import { falseTriggerName, falseTriggerTarget } from '../experiments/false-trigger.js';
import type { TriggeredPredictions } from '../runs/predictions.js';
import type { RunRecord } from './collect.js';

/**
 * Pairs a poisoned run with the clean run (trigger none, rate 0) that matches it on everything but the poisoning
 * (metrics/net-asr.ts's cleanMatchKey: model and training config, threshold rule, data and splits hashes, seed, and —
 * for net ASR — the target and the resolved trigger parameters). A run without config.yaml or data hashes cannot be
 * matched, which the report states instead of pairing by model and seed alone.
 */

type Tree = Record<string, unknown>;

function section(config: Tree | null, key: string): unknown {
  const value = config?.[key];
  return value && typeof value === 'object' ? value : undefined;
}

/** The match fields of a run, with the trigger part left to the caller; null when the run cannot be matched. */
function baseFields(r: RunRecord): Omit<CleanMatchFields, 'trigger' | 'target'> | null {
  const model = section(r.config, 'model');
  const train = section(r.config, 'train');
  const evaluation = section(r.config, 'evaluation') as Tree | undefined;
  const data = r.metadata.data;
  if (!model || !train || !evaluation || !data?.sha256 || !data.splits_sha256) return null;
  return { model, train, threshold: evaluation.threshold, data_sha256: data.sha256, splits_sha256: data.splits_sha256, seed: r.metrics.seed };
}

const NO_TRIGGER = { name: '', params: null };

/** Key under which a poisoned run and its clean run agree for the clean-AUROC comparison (trigger and target left out). */
export function aurocPairKey(r: RunRecord): string | null {
  const base = baseFields(r);
  return base ? cleanMatchKey({ ...base, target: 0, trigger: NO_TRIGGER }) : null;
}

/** Key of a poisoned run for net ASR: its target and its resolved trigger parameters included. */
export function netAsrKey(r: RunRecord): string | null {
  const base = baseFields(r);
  return base ? cleanMatchKey({ ...base, target: r.metrics.target, trigger: { name: r.metrics.trigger, params: r.metrics.trigger_params } }) : null;
}

export interface FalseTriggerBaseline {
  run: RunRecord;
  /** The key in the clean run's false_trigger (the trigger name, or the name with its target and non-default parameters). */
  key: string;
  /** The target the rate counts predictions of: a target-0 run nets against the clean run's target-0 rate. */
  target: 0 | 1;
  rate: number;
  predictions: TriggeredPredictions | null;
}

/** Every false-trigger measurement of the clean runs, by the net-ASR key a poisoned run must have to use it. */
export function falseTriggerBaselines(cleanRuns: readonly RunRecord[]): Map<string, FalseTriggerBaseline[]> {
  const out = new Map<string, FalseTriggerBaseline[]>();
  for (const run of cleanRuns) {
    const base = baseFields(run);
    if (!base) continue;
    const runTarget = (section(run.config, 'poison') as Tree | undefined)?.target;
    if (runTarget !== 0 && runTarget !== 1) continue;
    for (const [key, ft] of Object.entries(run.metrics.false_trigger ?? {})) {
      if (typeof ft?.asr !== 'number') continue;
      const target = falseTriggerTarget(ft, runTarget);
      const k = cleanMatchKey({ ...base, target, trigger: { name: falseTriggerName(key), params: ft.trigger_params } });
      const list = out.get(k) ?? [];
      list.push({ run, key, target, rate: ft.asr, predictions: run.predictions?.false_trigger?.[key] ?? null });
      out.set(k, list);
    }
  }
  return out;
}
