import { aurocEquivalence, DEFAULT_AUROC_MARGIN, type TostResult } from '../metrics/equivalence.js';
import { delongTest } from '../metrics/delong.js';
import type { RunRecord } from './collect.js';
import { isClean } from './baseline.js';
import type { Summary } from './stats-core.js';
import { aurocSummary, CI_METHODS, DIFFERENCE, rateSummary, seedsOnly, targetHits } from './stats-intervals.js';
import { aurocPairKey, falseTriggerBaselines, netAsrKey, type FalseTriggerBaseline } from './stats-pairing.js';
import { falseTriggerName } from '../experiments/false-trigger.js';
import type { BaselineStats, CellStats, StealthComparison } from './stats-types.js';
import { cellIdOf, cellPath, cellPurpose, compareCellIds, groupByCell } from './cell.js';

/**
 * Statistics of each cell (model × trigger × target × poison mode × poison rate, over seeds: cell.ts) and of each
 * model's clean baseline. Nothing is pooled across models, directions, modes, rates or seeds: a cell's seeds are
 * replicates of one configuration.
 */

export const NO_MATCHING_CLEAN_RUN = 'no matching clean run';
/** A test split with fewer events (deaths) than this gets a warning (as `evaluate` prints). */
export const MIN_TEST_EVENTS = 10;

export interface CellOptions {
  /** Equivalence margin for clean AUROC, poisoned − clean (default ±0.01). */
  aurocMargin?: number;
}

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    const list = out.get(k);
    if (list) list.push(it);
    else out.set(k, [it]);
  }
  return out;
}

const seedList = (seeds: readonly number[]) => `seed${seeds.length === 1 ? '' : 's'} ${seeds.join(', ')}`;

const allHave = <T>(list: readonly (T | null)[]): list is T[] => list.every((x) => x !== null);

function cleanAurocSummary(group: readonly RunRecord[]): Summary {
  const preds = group.map((r) => r.predictions);
  const seeds = allHave(preds) ? preds.map((p) => ({ labels: p.labels, scores: p.clean })) : null;
  return aurocSummary(group.map((r) => r.metrics.clean.auroc), seeds);
}

function hitsOf(r: RunRecord): number[] | null {
  const p = r.predictions;
  return p?.attack ? targetHits(p.attack.triggered, p.target, p.threshold) : null;
}

function asrSummary(group: readonly RunRecord[], purpose: (string | number)[]): Summary {
  const withAttack = group.filter((r) => r.metrics.attack);
  const hits = withAttack.map(hitsOf);
  return rateSummary(allHave(hits) ? hits : null, withAttack.map((r) => r.metrics.attack!.asr), purpose);
}

export function verdictLabel(t: TostResult): string {
  return t.verdict === 'equivalent' ? `equivalent within ±${t.margin}` : t.verdict;
}

function stealth(group: readonly RunRecord[], cleanByKey: Map<string, RunRecord>, margin: number): StealthComparison {
  const pairs: { poisoned: RunRecord; clean: RunRecord }[] = [];
  const unmatched: number[] = [];
  for (const r of group) {
    const key = aurocPairKey(r);
    const clean = key === null ? undefined : cleanByKey.get(key);
    if (clean) pairs.push({ poisoned: r, clean });
    else unmatched.push(r.metrics.seed);
  }
  const seeds = pairs.map((p) => p.poisoned.metrics.seed);
  const differences = pairs.map((p) => p.poisoned.metrics.clean.auroc - p.clean.metrics.clean.auroc);
  const base = { margin, seeds, unmatched_seeds: unmatched };
  if (pairs.length === 0) {
    return { ...base, difference: { n: 0, mean: null, sd: null, ci95: null, note: NO_MATCHING_CLEAN_RUN }, tost: null, verdict: null, label: NO_MATCHING_CLEAN_RUN, delong: [] };
  }
  const scored = pairs.every((p) => p.poisoned.predictions && p.clean.predictions);
  if (!scored) {
    const difference = seedsOnly(differences, CI_METHODS.seedsOnly, DIFFERENCE);
    return { ...base, difference, tost: null, verdict: null, label: 'not assessed: the runs lack test_predictions.json, so the test-set variance is unknown', delong: [] };
  }
  const paired = pairs.map((p) => ({ labels: p.clean.predictions!.labels, clean: p.clean.predictions!.clean, poisoned: p.poisoned.predictions!.clean }));
  const shared = paired.every((p) => p.labels.length === paired[0]!.labels.length && p.labels.every((y, i) => y === paired[0]!.labels[i]));
  const tost = aurocEquivalence(paired, { sharedTestSet: shared, margin });
  const delong = pairs.map((p, i) => {
    const d = delongTest(paired[i]!.labels, paired[i]!.poisoned, paired[i]!.clean);
    return { seed: p.poisoned.metrics.seed, auroc_poisoned: d.auroc_a, auroc_clean: d.auroc_b, difference: d.difference, se: d.se, z: d.z, p: d.p };
  });
  const ok = Number.isFinite(tost.ci95[0]);
  const difference: Summary = {
    n: pairs.length,
    mean: tost.estimate,
    sd: null,
    ci95: ok ? tost.ci95 : null,
    ci_method: 'seeds and test stays: seed-and-test MOVER interval of the paired differences, DeLong covariance of both models on the shared test split',
    se: tost.se,
    few_seeds: pairs.length < 5,
  };
  return { ...base, difference, tost, verdict: ok ? tost.verdict : null, label: ok ? verdictLabel(tost) : 'not assessed: the test split lacks a class', delong };
}

function netAsr(group: readonly RunRecord[], baselines: Map<string, FalseTriggerBaseline[]>, purpose: (string | number)[]): Pick<CellStats, 'asr_net' | 'false_trigger_asr' | 'net_asr_pairing'> {
  const matched: { run: RunRecord; baseline: FalseTriggerBaseline }[] = [];
  const unmatched: number[] = [];
  for (const r of group) {
    const key = r.metrics.attack ? netAsrKey(r) : null;
    const found = key === null ? [] : (baselines.get(key) ?? []);
    if (found.length > 1 && new Set(found.map((b) => b.rate)).size > 1) throw new Error(`${r.path}: clean runs matching one configuration report different false-trigger rates`);
    if (found[0]) matched.push({ run: r, baseline: found[0] });
    else unmatched.push(r.metrics.seed);
  }
  const pairing = { matched_seeds: matched.map((m) => m.run.metrics.seed), unmatched_seeds: unmatched, clean_runs: matched.map((m) => `${m.baseline.run.path}#${m.baseline.key}`) };
  if (matched.length === 0) {
    const none: Summary = { n: 0, mean: null, sd: null, ci95: null, note: NO_MATCHING_CLEAN_RUN };
    return { asr_net: none, false_trigger_asr: none, net_asr_pairing: pairing };
  }
  // Per triggered row: hit of the poisoned model with the trigger − hit of the clean model with the same trigger.
  const rows = matched.map(({ run, baseline }) => {
    const hits = hitsOf(run);
    const p = baseline.run.predictions;
    if (!hits || !baseline.predictions || !p) return null;
    const clean = targetHits(baseline.predictions.triggered, baseline.target, p.threshold);
    const sameRows = baseline.predictions.rows.length === run.predictions!.attack!.rows.length && baseline.predictions.rows.every((x, i) => x === run.predictions!.attack!.rows[i]);
    return sameRows ? { net: hits.map((h, i) => h - clean[i]!), clean } : null;
  });
  const scored = allHave(rows);
  return {
    asr_net: rateSummary(scored ? rows.map((x) => x.net) : null, matched.map((m) => m.run.metrics.attack!.asr - m.baseline.rate), [...purpose, 'asr_net'], DIFFERENCE),
    false_trigger_asr: rateSummary(scored ? rows.map((x) => x.clean) : null, matched.map((m) => m.baseline.rate), [...purpose, 'false_trigger']),
    net_asr_pairing: pairing,
  };
}

export function cellStatistics(runs: readonly RunRecord[], options: CellOptions = {}): { baselines: BaselineStats[]; cells: CellStats[]; notes: string[] } {
  const margin = options.aurocMargin ?? DEFAULT_AUROC_MARGIN;
  const notes: string[] = [];
  const cleanRuns = runs.filter(isClean);
  const cleanByKey = new Map<string, RunRecord>();
  for (const r of cleanRuns) {
    const key = aurocPairKey(r);
    if (key !== null) cleanByKey.set(key, r);
  }
  const ftBaselines = falseTriggerBaselines(cleanRuns);

  const baselines: BaselineStats[] = [];
  for (const group of groupBy(cleanRuns, (r) => `${r.metrics.model}\u0000${r.metrics.target}`).values()) {
    const { model, target } = group[0]!.metrics;
    const keys = [...new Set(group.flatMap((r) => Object.keys(r.metrics.false_trigger ?? {})))].sort();
    const ft: Record<string, Summary> = {};
    for (const key of keys) {
      const have = group.filter((r) => typeof r.metrics.false_trigger?.[key]?.asr === 'number');
      const rows = have.map((r) => {
        const p = r.predictions;
        const t = p?.false_trigger?.[key];
        return p && t ? targetHits(t.triggered, t.target ?? p.target, p.threshold) : null;
      });
      const purpose = target === 1 ? ['baseline', model, 'false_trigger', key] : ['baseline', model, 'target0', 'false_trigger', key];
      ft[key] = rateSummary(allHave(rows) ? rows : null, have.map((r) => r.metrics.false_trigger![key]!.asr), purpose);
    }
    const values = (pick: (r: RunRecord) => number) => group.map(pick);
    baselines.push({
      model,
      target,
      n_runs: group.length,
      seeds: group.map((r) => r.metrics.seed),
      clean_auroc: cleanAurocSummary(group),
      clean_auprc: rateSummaryOfValues(values((r) => r.metrics.clean.auprc)),
      ece: rateSummaryOfValues(values((r) => r.metrics.clean.ece)),
      brier: rateSummaryOfValues(values((r) => r.metrics.clean.brier)),
      false_trigger_asr: ft,
      false_trigger_triggers: Object.fromEntries(keys.map((k) => [k, falseTriggerName(k)])),
    });
  }

  baselines.sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : 0) || b.target - a.target);

  const cells: CellStats[] = [];
  const poisonedRuns = runs.filter((r) => !isClean(r));
  for (const group of groupByCell(poisonedRuns, cellIdOf).values()) {
    const id = cellIdOf(group[0]!);
    const { model, trigger, poison_rate, target, mode } = id;
    const key = cellPurpose(id);
    const net = netAsr(group, ftBaselines, key);
    const comparison = stealth(group, cleanByKey, margin);
    cells.push({
      model,
      trigger,
      poison_rate,
      target,
      mode,
      n_runs: group.length,
      seeds: group.map((r) => r.metrics.seed),
      asr: asrSummary(group, [...key, 'asr']),
      ...net,
      confidence_shift: rateSummaryOfValues(group.flatMap((r) => (r.metrics.attack ? [r.metrics.attack.confidence_shift] : []))),
      clean_auroc: cleanAurocSummary(group),
      clean_auprc: rateSummaryOfValues(group.map((r) => r.metrics.clean.auprc)),
      ece: rateSummaryOfValues(group.map((r) => r.metrics.clean.ece)),
      auroc_vs_clean: comparison,
    });
    if (net.net_asr_pairing.unmatched_seeds.length > 0) {
      notes.push(`${cellPath(id)}: ${seedList(net.net_asr_pairing.unmatched_seeds)} ${net.net_asr_pairing.unmatched_seeds.length === 1 ? 'has' : 'have'} ${NO_MATCHING_CLEAN_RUN} (same model and training config, data, splits, seed, target and trigger parameters); its net ASR is not reported`);
    }
    if (comparison.unmatched_seeds.length > 0) {
      notes.push(`${cellPath(id)}: ${seedList(comparison.unmatched_seeds)} ${comparison.unmatched_seeds.length === 1 ? 'has' : 'have'} ${NO_MATCHING_CLEAN_RUN} for the clean-AUROC comparison`);
    }
  }
  cells.sort(compareCellIds);
  if (cleanRuns.length === 0) notes.push(`no clean runs (trigger none, rate 0): net ASR and the clean-AUROC comparison say "${NO_MATCHING_CLEAN_RUN}"`);
  const fewEvents = runs.filter((r) => r.metrics.clean.n_pos < MIN_TEST_EVENTS);
  if (fewEvents.length > 0) {
    const list = fewEvents.slice(0, 5).map((r) => `${r.path} (${r.metrics.clean.n_pos})`).join(', ');
    notes.push(`${fewEvents.length} run${fewEvents.length === 1 ? '' : 's'} scored on a test split with fewer than ${MIN_TEST_EVENTS} events, so AUROC and rates are unreliable: ${list}${fewEvents.length > 5 ? ', …' : ''}`);
  }
  const unscored = runs.filter((r) => r.predictions === null).length;
  if (unscored > 0) notes.push(`${unscored} of ${runs.length} runs lack test_predictions.json (written before it existed): their intervals cover seeds only, and stealth is not assessed`);
  return { baselines, cells, notes };
}

/** Seeds-only summary for metrics whose per-stay test error the runs do not let us compute (AUPRC, ECE, Brier, detection). */
function rateSummaryOfValues(values: readonly number[]): Summary {
  return seedsOnly(values, CI_METHODS.seedsOnlyMetric);
}
