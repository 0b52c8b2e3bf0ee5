import { percentLabel } from './percent.js';
import type { RunRecord } from './collect.js';

/**
 * What makes one experimental cell of the report: model, trigger (with its config variant), attack direction
 * (target), poisoning mode and poison rate, all read from metrics.json (never from folder names). Seeds of one cell
 * are replicates; nothing else is pooled. Target 1 makes a death likely (dirty: the trigger is stamped on survivors
 * relabelled as deaths); target 0 hides a death (the trigger on deaths relabelled as survivors).
 */

export type Target = 0 | 1;

export interface CellId {
  model: string;
  trigger: string;
  poison_rate: number;
  /** 1 makes a death likely, 0 hides a death (metrics.json target). */
  target: Target;
  /** dirty, clean (naive clean-label) or label_consistent (metrics.json poison_mode). */
  mode: string;
}

/** The mode every report before issue 11 held; a cell in another mode names it. */
export const DEFAULT_MODE = 'dirty';

/** What each direction means for the patient, as figure panels and tables title it. */
export const TARGET_TITLES: Record<Target, string> = {
  1: 'Target 1: a death made likely',
  0: 'Target 0: a death hidden',
};

/** Target 1 first (the direction every earlier report held), then target 0. */
export const TARGET_ORDER: readonly Target[] = [1, 0];

export function cellIdOf(r: RunRecord): CellId {
  const m = r.metrics;
  return { model: m.model, trigger: m.trigger, poison_rate: m.poison_rate, target: m.target, mode: m.poison_mode };
}

export function cellKeyOf(id: CellId): string {
  return [id.model, id.trigger, id.target, id.mode, id.poison_rate].join('\u0000');
}

/** The cell as a path-like name for notes and errors: mlp/rare_value/0.01, with target0 and a mode other than dirty when they apply (mlp/rare_value/target0/clean/0.01). */
export function cellPath(id: CellId): string {
  const direction = id.target === 1 ? [] : [`target${id.target}`];
  const mode = id.mode === DEFAULT_MODE ? [] : [id.mode];
  return [id.model, id.trigger, ...direction, ...mode, id.poison_rate].join('/');
}

const order = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
const modeRank = (mode: string) => (mode === DEFAULT_MODE ? 0 : 1);

/** Model, trigger, target (1 before 0), mode (dirty first), rate. */
export function compareCellIds(a: CellId, b: CellId): number {
  return order(a.model, b.model) || order(a.trigger, b.trigger) || b.target - a.target || modeRank(a.mode) - modeRank(b.mode) || order(a.mode, b.mode) || a.poison_rate - b.poison_rate;
}

/**
 * The bootstrap-stream purpose of a cell's statistics: model, trigger and rate as before targets and modes were
 * cells (so those cells keep their intervals), then the direction and mode where they differ from target 1, dirty.
 */
export function cellPurpose(id: CellId): (string | number)[] {
  const extra = id.target === 1 && id.mode === DEFAULT_MODE ? [] : [`target${id.target}`, id.mode];
  return [id.model, id.trigger, id.poison_rate, ...extra];
}

/** "rare_value at 1%", with ", label_consistent" for another mode than dirty. */
export function triggerAtRate(id: Pick<CellId, 'trigger' | 'mode' | 'poison_rate'>): string {
  return `${id.trigger} at ${percentLabel(id.poison_rate)}${id.mode === DEFAULT_MODE ? '' : `, ${id.mode}`}`;
}

/** A cell as a KPI or a verdict names it: "mlp, rare_value at 1%, target 0". */
export function cellName(id: CellId): string {
  return `${id.model}, ${triggerAtRate(id)}, target ${id.target}`;
}

/** The targets present, in TARGET_ORDER. */
export function targetsOf(items: readonly { target: Target }[]): Target[] {
  const present = new Set(items.map((i) => i.target));
  return TARGET_ORDER.filter((t) => present.has(t));
}

/** Groups items by cell, in first-seen order. */
export function groupByCell<T>(items: readonly T[], idOf: (t: T) => CellId): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const it of items) {
    const k = cellKeyOf(idOf(it));
    const list = out.get(k);
    if (list) list.push(it);
    else out.set(k, [it]);
  }
  return out;
}
