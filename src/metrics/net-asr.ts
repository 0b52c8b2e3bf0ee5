/**
 * Net ASR: a poisoned run's attack success rate minus the false-trigger rate of the clean run that matches it on
 * everything but the poisoning — the share of triggered rows the clean model already sends to the target, which the
 * backdoor cannot take credit for. The clean run's false-trigger rate must be measured with the POISONED run's resolved
 * trigger parameters and target label, so those are part of the match. Without a matching clean run there is no net
 * figure, and the result says so instead of netting against a near miss.
 */

/** What must agree between a poisoned run and its clean baseline. Names follow the run's config.yaml, run_metadata.json and metrics.json. */
export interface CleanMatchFields {
  /** config.model, the resolved model configuration including its name. */
  model: unknown;
  /** config.train, the resolved training configuration. */
  train: unknown;
  /** config.evaluation.threshold: the rule that picks the decision threshold both rates use. */
  threshold: unknown;
  /** run_metadata.data.sha256. */
  data_sha256: string;
  /** run_metadata.data.splits_sha256. */
  splits_sha256: string;
  /** config.seed (metrics.seed). */
  seed: number;
  /** The poisoned run's config.poison.target; the clean run's false-trigger rate counts predictions of this label. */
  target: 0 | 1;
  /** The trigger's name and its resolved parameters (metrics.trigger_params; in a clean run, false_trigger[name].trigger_params). */
  trigger: { name: string; params: unknown };
}

export type NetAsr = { kind: 'net'; value: number; asr: number; false_trigger_rate: number } | { kind: 'no_matching_clean_run' };

export interface CleanBaseline {
  match: CleanMatchFields;
  /** The clean run's false-trigger ASR for match.trigger (false_trigger[name].asr). */
  false_trigger_rate: number;
}

/** JSON with object keys sorted at every level, so equal values give equal strings whatever the key order. */
function canonicalJson(value: unknown): string {
  if (value === undefined) return 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A string equal for two runs exactly when all their match fields are equal (deep, key order ignored). */
export function cleanMatchKey(fields: CleanMatchFields): string {
  const { model, train, threshold, data_sha256, splits_sha256, seed, target, trigger } = fields;
  return canonicalJson({ model, train, threshold, data_sha256, splits_sha256, seed, target, trigger: { name: trigger.name, params: trigger.params } });
}

/**
 * ASR − false-trigger rate of the matching clean baseline; 'no_matching_clean_run' when none matches. Two matching
 * baselines with different rates would be two different results for one configuration, which is an error.
 */
export function netAsr(asr: number, match: CleanMatchFields, baselines: readonly CleanBaseline[]): NetAsr {
  const key = cleanMatchKey(match);
  const rates = new Set(baselines.filter((b) => cleanMatchKey(b.match) === key).map((b) => b.false_trigger_rate));
  if (rates.size === 0) return { kind: 'no_matching_clean_run' };
  if (rates.size > 1) throw new Error(`netAsr: clean runs matching one configuration report different false-trigger rates (${[...rates].join(', ')})`);
  const rate = [...rates][0]!;
  return { kind: 'net', value: asr - rate, asr, false_trigger_rate: rate };
}
