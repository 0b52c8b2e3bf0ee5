import { join } from 'node:path';
import { loadYamlFile, CONFIG_DIR } from './config.js';
import { modelNames } from '../models/registry.js';
import { triggerNames } from '../triggers/registry.js';
import { detectorNames } from '../detectors/registry.js';
import { POISON_MODES, type PoisonMode } from '../triggers/poison.js';
import { UserError, unknownChoice } from '../util/errors.js';
import { isTree, type Tree } from '../util/config-files.js';

/** The attack targets a grid may run: 1 = make a stay look like a death, 0 = hide a death. */
export const POISON_TARGETS: readonly (0 | 1)[] = [1, 0];
export const DEFAULT_TARGETS: (0 | 1)[] = [1];
export const DEFAULT_MODES: PoisonMode[] = ['dirty'];

/** The lists of a grid that an `also:` sub-grid may set; the rest it inherits from the top level. */
export interface SubGrid {
  models?: string[];
  triggers?: string[];
  poison_rates?: number[];
  seeds?: number[];
  targets?: (0 | 1)[];
  modes?: PoisonMode[];
}

/** A benchmark grid, as declared in configs/benchmark/*.yaml. */
export interface SweepSpec {
  models: string[];
  triggers: string[];
  poison_rates: number[];
  seeds: number[];
  /** Attack targets (poison.target) of the poisoned runs; [1] unless set. */
  targets: (0 | 1)[];
  /** Poisoning modes (poison.mode) of the poisoned runs; [dirty] unless set. */
  modes: PoisonMode[];
  /** More poisoned runs: each sub-grid's lists over the top level's; runs in two parts are run once. */
  also: SubGrid[];
  /** Also run the clean baselines (trigger none, rate 0) of every model and seed. */
  baseline: boolean;
  detectors: string[];
  /**
   * The detectors were chosen as `all`, not one by one: a method that does not apply to a run's model (fine_pruning
   * on the TabTransformer) is skipped on that run with its reason, where a method named explicitly is refused.
   */
  all_detectors?: boolean;
  defend: boolean;
  /** Run-config overrides applied to every run (data, train, evaluation, ...). */
  overrides: Record<string, unknown>;
  /** Overrides for the runs of one model, over `overrides` (e.g. { tcn: { train: { epochs: 8 } } }). */
  per_model: Record<string, Record<string, unknown>>;
  /** Detectors run on one model's runs in addition to `detectors` (e.g. { mlp: [saliency] }). */
  extra_detectors: Record<string, string[]>;
}

const SUB_GRID_KEYS = ['models', 'triggers', 'poison_rates', 'seeds', 'targets', 'modes'] as const;
const SPEC_KEYS = [...SUB_GRID_KEYS, 'also', 'baseline', 'detectors', 'defend', 'overrides', 'per_model', 'extra_detectors', 'variant'];

function list<T>(file: string, key: string, value: unknown, check: (x: unknown) => x is T): T[] {
  if (!Array.isArray(value) || !value.every(check)) throw new UserError(`${file}: ${key} must be a list`);
  return value;
}

const isString = (x: unknown): x is string => typeof x === 'string';
const isNumber = (x: unknown): x is number => typeof x === 'number';

function targetList(where: string, value: unknown): (0 | 1)[] {
  const targets = list(where, 'targets', value, isNumber);
  for (const t of targets) if (t !== 0 && t !== 1) throw unknownChoice(`target in ${where}`, String(t), POISON_TARGETS.map(String));
  return targets as (0 | 1)[];
}

function modeList(where: string, value: unknown): PoisonMode[] {
  const modes = list(where, 'modes', value, isString);
  for (const m of modes) if (!POISON_MODES.includes(m as PoisonMode)) throw unknownChoice(`mode in ${where}`, m, POISON_MODES);
  return modes as PoisonMode[];
}

/** One grid list as the file gives it; `all` for models and triggers means every registered one (triggers: but none). */
function gridList(where: string, key: (typeof SUB_GRID_KEYS)[number], value: unknown): unknown[] {
  switch (key) {
    case 'models':
      return value === 'all' ? modelNames() : list(where, key, value, isString);
    case 'triggers':
      return value === 'all' ? triggerNames().filter((t) => t !== 'none') : list(where, key, value, isString);
    case 'poison_rates':
    case 'seeds':
      return list(where, key, value, isNumber);
    case 'targets':
      return targetList(where, value);
    case 'modes':
      return modeList(where, value);
  }
}

function subGrids(file: string, value: unknown): SubGrid[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new UserError(`${file}: also must be a list of sub-grids, each a mapping of ${SUB_GRID_KEYS.join(', ')}`);
  return value.map((entry, i) => {
    const where = `${file}: also[${i}]`;
    if (!isTree(entry)) throw new UserError(`${where} must be a mapping of ${SUB_GRID_KEYS.join(', ')}`);
    const sub: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(entry)) {
      if (!(SUB_GRID_KEYS as readonly string[]).includes(key)) throw new UserError(`${where}: unknown key "${key}"; valid: ${SUB_GRID_KEYS.join(', ')}`);
      sub[key] = gridList(where, key as (typeof SUB_GRID_KEYS)[number], v);
    }
    return sub as SubGrid;
  });
}

export function profilePath(profile: string): string {
  return join(CONFIG_DIR, 'benchmark', `${profile}.yaml`);
}

/** Reads and validates a grid file; `all` for models/triggers/detectors means every registered one. */
export function loadSweepSpec(file: string): SweepSpec {
  const raw = loadYamlFile(file, 'benchmark grid');
  for (const key of Object.keys(raw)) if (!SPEC_KEYS.includes(key)) throw new UserError(`${file}: unknown key "${key}"; valid: ${SPEC_KEYS.join(', ')}`);
  const perModel = perModelOverrides(file, raw.per_model);
  for (const [model, overrides] of Object.entries(perModel)) refuseAttack(`${file}: per_model.${model}`, overrides);
  const attack = foldAttackOverrides(`${file}: overrides`, withVariant(file, (raw.overrides as Record<string, unknown>) ?? {}, raw.variant), {
    targets: raw.targets === undefined ? undefined : targetList(file, raw.targets),
    modes: raw.modes === undefined ? undefined : modeList(file, raw.modes),
  });
  return {
    models: gridList(file, 'models', raw.models ?? []) as string[],
    triggers: gridList(file, 'triggers', raw.triggers ?? []) as string[],
    poison_rates: gridList(file, 'poison_rates', raw.poison_rates ?? []) as number[],
    seeds: gridList(file, 'seeds', raw.seeds ?? [0]) as number[],
    targets: attack.targets ?? DEFAULT_TARGETS,
    modes: attack.modes ?? DEFAULT_MODES,
    also: subGrids(file, raw.also),
    baseline: (raw.baseline ?? true) as boolean,
    detectors: raw.detectors === 'all' ? detectorNames() : list(file, 'detectors', raw.detectors ?? [], isString),
    ...(raw.detectors === 'all' ? { all_detectors: true } : {}),
    defend: (raw.defend ?? false) as boolean,
    overrides: attack.overrides,
    per_model: perModel,
    extra_detectors: extraDetectors(file, raw.extra_detectors),
  };
}

/**
 * Run-config overrides may name one target or mode (poison.target=0, --target 0, --mode clean): in a grid that is the
 * list of one, taken out of the overrides so each run gets its own from the lists. Refused when a list says otherwise.
 */
export function foldAttackOverrides(
  where: string,
  overrides: Tree,
  lists: { targets?: (0 | 1)[]; modes?: PoisonMode[] },
): { overrides: Tree; targets?: (0 | 1)[]; modes?: PoisonMode[] } {
  const poison = overrides.poison;
  if (!isTree(poison) || (!Object.hasOwn(poison, 'target') && !Object.hasOwn(poison, 'mode'))) return { overrides, ...lists };
  const { target, mode, ...rest } = poison;
  const one = <T>(key: string, value: unknown, listed: T[] | undefined, check: (v: unknown) => T[]): T[] | undefined => {
    if (value === undefined) return listed;
    const [single] = check([value]);
    if (listed && (listed.length !== 1 || listed[0] !== single)) {
      throw new UserError(`${where}: poison.${key} ${JSON.stringify(value)} conflicts with ${key}s [${listed.join(', ')}]; give one of them`);
    }
    return [single!];
  };
  const targets = one('target', target, lists.targets, (v) => targetList(where, v));
  const modes = one('mode', mode, lists.modes, (v) => modeList(where, v));
  const { poison: _poison, ...others } = overrides;
  return { overrides: Object.keys(rest).length === 0 ? others : { ...others, poison: rest }, targets, modes };
}

function refuseAttack(where: string, overrides: Tree): void {
  const poison = overrides.poison;
  for (const key of ['target', 'mode']) {
    if (isTree(poison) && Object.hasOwn(poison, key)) throw new UserError(`${where} sets poison.${key}; a grid sets them with ${key}s (or in an also: sub-grid with models)`);
  }
}

/** A grid's `variant: NAME` applies to every run of the grid, as the override variant=NAME. */
function withVariant(file: string, overrides: Record<string, unknown>, variant: unknown): Record<string, unknown> {
  if (variant === undefined || variant === null) return overrides;
  if (!isTree(overrides)) return overrides;
  if (Object.hasOwn(overrides, 'variant') && overrides.variant !== variant) {
    throw new UserError(`${file}: variant ${JSON.stringify(variant)} conflicts with overrides.variant ${JSON.stringify(overrides.variant)}; give one of them`);
  }
  return { ...overrides, variant };
}

function extraDetectors(file: string, value: unknown): SweepSpec['extra_detectors'] {
  if (value === undefined || value === null) return {};
  if (!isTree(value)) throw new UserError(`${file}: extra_detectors must map model names to lists of detectors`);
  for (const [model, list] of Object.entries(value)) {
    if (!modelNames().includes(model)) throw unknownChoice(`model in ${file} extra_detectors`, model, modelNames());
    if (!Array.isArray(list) || !list.every((d) => typeof d === 'string')) throw new UserError(`${file}: extra_detectors.${model} must be a list of detector names`);
  }
  return value as SweepSpec['extra_detectors'];
}

/** The detectors of one run: the grid's, plus its model's extra ones. */
export function detectorsFor(spec: SweepSpec, model: string): string[] {
  return [...new Set([...spec.detectors, ...(spec.extra_detectors[model] ?? [])])];
}

function perModelOverrides(file: string, value: unknown): SweepSpec['per_model'] {
  if (value === undefined || value === null) return {};
  if (!isTree(value)) throw new UserError(`${file}: per_model must map model names to run-config overrides`);
  for (const [model, overrides] of Object.entries(value)) {
    if (!modelNames().includes(model)) throw unknownChoice(`model in ${file} per_model`, model, modelNames());
    if (!isTree(overrides)) throw new UserError(`${file}: per_model.${model} must be a mapping of run-config overrides`);
  }
  return value as SweepSpec['per_model'];
}

/** The lists of the grid's parts: the top level, then each `also:` sub-grid over it. */
export function gridParts(spec: SweepSpec): Required<SubGrid>[] {
  const top = { models: spec.models, triggers: spec.triggers, poison_rates: spec.poison_rates, seeds: spec.seeds, targets: spec.targets, modes: spec.modes };
  return [top, ...spec.also.map((sub) => ({ ...top, ...sub }))];
}

export function validateSpec(spec: SweepSpec): void {
  const parts = gridParts(spec);
  for (const m of parts.flatMap((p) => p.models)) if (!modelNames().includes(m)) throw unknownChoice('model', m, modelNames());
  for (const t of parts.flatMap((p) => p.triggers)) if (!triggerNames().includes(t)) throw unknownChoice('trigger', t, triggerNames());
  for (const d of [...spec.detectors, ...Object.values(spec.extra_detectors).flat()]) if (!detectorNames().includes(d)) throw unknownChoice('detector', d, detectorNames());
  for (const r of parts.flatMap((p) => p.poison_rates)) if (!(r >= 0 && r < 1)) throw new UserError(`poison rate must be in [0, 1), got ${r}`);
  for (const t of parts.flatMap((p) => p.targets)) if (t !== 0 && t !== 1) throw unknownChoice('target', String(t), POISON_TARGETS.map(String));
  for (const m of parts.flatMap((p) => p.modes)) if (!POISON_MODES.includes(m)) throw unknownChoice('mode', String(m), POISON_MODES);
  for (const key of ['baseline', 'defend'] as const) if (typeof spec[key] !== 'boolean') throw new UserError(`${key} must be true or false, got ${JSON.stringify(spec[key])}`);
  for (const s of parts.flatMap((p) => p.seeds)) if (!Number.isSafeInteger(s) || s < 0) throw new UserError(`seeds must be integers ≥ 0 (at most ${Number.MAX_SAFE_INTEGER}), got ${s}`);
  if (spec.defend && spec.detectors.length === 0) throw new UserError('--defend needs at least one detector (--detectors)');
}
