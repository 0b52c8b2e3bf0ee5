import { getTrigger, triggerNames } from '../triggers/registry.js';
import { UserError, unknownChoice } from '../util/errors.js';
import { defaultsOf, validateParams } from '../util/plugin.js';
import { isTree, type Tree } from '../util/config-files.js';

/**
 * The false-trigger baselines a clean run measures: for each trigger (and parameter variant) and attack target, the
 * share of triggered test stays whose true label is not the target that the clean model already predicts as the
 * target. A poisoned run's net ASR subtracts the one with its own trigger parameters and target.
 */

/**
 * A trigger a clean run evaluates (evaluation.clean_run_triggers): a name (the trigger's defaults), a trigger section
 * with parameters, or either of them with the attack target to measure for, `{target: 0, trigger: rare_value}`.
 * Without a target, the clean run's own poison.target (1 unless set).
 */
export type CleanRunTrigger = string | TriggerSection | { target: 0 | 1; trigger: string | TriggerSection };
type TriggerSection = { name: string } & Record<string, unknown>;

export interface FalseTriggerVariant {
  /** Its key in metrics.json's false_trigger (falseTriggerKey). */
  key: string;
  name: string;
  params: Tree;
  target: 0 | 1;
}

/** Separates the target from the trigger in a false_trigger key: rare_value-target0. */
const TARGET_MARK = '-target';

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (isTree(value)) return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  return JSON.stringify(value);
}

/**
 * The key of a false-trigger measurement in metrics.json: the trigger's name, then `-target{t}` when it is measured
 * for a target other than the clean run's own poison.target, then its non-default parameters, e.g. `rare_value`,
 * `rare_value-target0`, `rare_value{"variable":"potassium"}`. A clean run of target 1 (every clean run before targets
 * were measured apart) thus keeps the keys it always had.
 */
export function falseTriggerKey(name: string, changedParams: Tree, target: 0 | 1, runTarget: 0 | 1): string {
  const params = Object.keys(changedParams).length === 0 ? '' : canonical(changedParams);
  return `${name}${target === runTarget ? '' : `${TARGET_MARK}${target}`}${params}`;
}

/** The trigger name of a false_trigger key (see falseTriggerKey). */
export function falseTriggerName(key: string): string {
  const end = [key.indexOf('{'), key.indexOf(TARGET_MARK)].filter((i) => i >= 0);
  return end.length === 0 ? key : key.slice(0, Math.min(...end));
}

/**
 * The target a false-trigger measurement counts predictions of: its own `target` when it differs from the clean run's
 * (written only then, see evaluateModelWithPredictions), else the clean run's poison.target.
 */
export function falseTriggerTarget(entry: { target?: unknown }, runTarget: 0 | 1): 0 | 1 {
  return entry.target === 0 || entry.target === 1 ? entry.target : runTarget;
}

function splitEntry(entry: CleanRunTrigger): { section: string | TriggerSection; target?: 0 | 1 } {
  if (typeof entry === 'string' || Object.hasOwn(entry, 'name')) return { section: entry as string | TriggerSection };
  const { target, trigger } = entry as { target: 0 | 1; trigger: string | TriggerSection };
  return { section: trigger, target };
}

/**
 * The false-trigger variants a clean run evaluates, each under its key (falseTriggerKey), de-duplicated by key: every
 * clean_run_triggers entry with its parameters over the trigger's defaults and its target (else the run's own).
 */
export function falseTriggerVariants(config: { poison?: { target: 0 | 1 }; evaluation: { clean_run_triggers: CleanRunTrigger[] } }): FalseTriggerVariant[] {
  const runTarget = config.poison?.target ?? 1;
  const seen = new Set<string>();
  const out: FalseTriggerVariant[] = [];
  for (const entry of config.evaluation.clean_run_triggers) {
    const { section, target = runTarget } = splitEntry(entry);
    const name = typeof section === 'string' ? section : section.name;
    const defaults = defaultsOf(getTrigger(name).params) as Tree;
    const { name: _name, ...given } = typeof section === 'string' ? { name } : section;
    const params = { ...defaults, ...given } as Tree;
    const changed = Object.fromEntries(Object.keys(params).filter((k) => canonical(params[k]) !== canonical(defaults[k])).map((k) => [k, params[k]]));
    const key = falseTriggerKey(name, changed, target, runTarget);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ key, name, params, target });
  }
  return out;
}

const ENTRY_FORMS = 'a trigger name, a trigger section {name, ...params}, or {target: 0|1, trigger: <name or section>}';

/** Validates evaluation.clean_run_triggers (`all` = every trigger but none, measured for the run's own target). */
export function checkCleanRunTriggers(raw: unknown): CleanRunTrigger[] {
  const list = raw === 'all' ? triggerNames().filter((t) => t !== 'none') : raw;
  if (!Array.isArray(list)) throw new UserError(`evaluation.clean_run_triggers must be "all" or a list; each entry ${ENTRY_FORMS}`);
  for (const entry of list) {
    let section: unknown = entry;
    if (isTree(entry) && !Object.hasOwn(entry, 'name')) {
      const keys = Object.keys(entry);
      if (keys.some((k) => k !== 'target' && k !== 'trigger') || (entry.target !== 0 && entry.target !== 1) || entry.trigger === undefined) {
        throw new UserError(`evaluation.clean_run_triggers entry ${canonical(entry)} is not ${ENTRY_FORMS}`);
      }
      section = entry.trigger;
    }
    const name = isTree(section) ? section.name : section;
    if (typeof name !== 'string' || !triggerNames().includes(name)) throw unknownChoice('trigger', String(name), triggerNames());
    if (isTree(section)) {
      const { name: _name, ...params } = section;
      validateParams(name, getTrigger(name).params, params);
    }
  }
  return list as CleanRunTrigger[];
}
