import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readConfigRecord, RUN_FILES, VARIANT_SEPARATOR } from '../runs/index.js';
import { UserError } from '../util/errors.js';
import type { RunRecord } from './collect.js';
import { cellIdOf, cellPath } from './cell.js';

/**
 * The report pools the seeds of one cell (model, trigger, target, poison mode, poison rate: cell.ts). Runs whose data or config differ are never
 * pooled: a run with a config variant forms its own cell (its trigger shown as rare_value@potassium), a run that
 * repeats another exactly (same config, data and seed, e.g. a clean baseline trained again under a variant) is
 * counted once, and any other difference inside a cell is refused with one line naming the differing keys.
 */

/** Config keys that never change results or that are compared otherwise: paths (the data's hashes are compared). */
const NOT_COMPARED = new Set(['seed', 'variant', 'backend', 'data']);

type Flat = Map<string, string>;

/** Every leaf of a config as dotted key → JSON value (lists are leaves). */
function flatten(value: unknown, prefix = '', out: Flat = new Map()): Flat {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(value)) {
      if (prefix === '' && NOT_COMPARED.has(key)) continue;
      flatten(child, prefix === '' ? key : `${prefix}.${key}`, out);
    }
  } else {
    out.set(prefix, JSON.stringify(value));
  }
  return out;
}

function identity(run: RunRecord, config: Flat): Flat {
  const out = new Map(config);
  out.set('data (cohort sha256)', JSON.stringify(run.metadata.data?.sha256 ?? null));
  out.set('data (splits sha256)', JSON.stringify(run.metadata.data?.splits_sha256 ?? null));
  return out;
}

function differingKeys(a: Flat, b: Flat): string[] {
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys].filter((k) => a.get(k) !== b.get(k)).sort();
}

export interface Pooled {
  runs: RunRecord[];
  warnings: string[];
}

export async function separateConfigs(runs: readonly RunRecord[], runsDir: string): Promise<Pooled> {
  const warnings: string[] = [];
  const kept: RunRecord[] = [];
  const seen = new Map<string, string>();
  const cells = new Map<string, { path: string; identity: Flat }>();
  for (const run of runs) {
    // A run folder without config.yaml (hand-made, or older) is compared on its data only.
    const config = existsSync(join(runsDir, run.path, RUN_FILES.config)) ? await readConfigRecord(join(runsDir, run.path)) : {};
    const variant = typeof config.variant === 'string' ? config.variant : undefined;
    const id = identity(run, flatten(config));
    // A clean baseline keeps its trigger name: it is the reference of every cell of its model.
    const trigger = variant !== undefined && run.metrics.trigger !== 'none' ? `${run.metrics.trigger}${VARIANT_SEPARATOR}${variant}` : run.metrics.trigger;
    const cell = cellPath({ ...cellIdOf(run), trigger });
    const repeat = JSON.stringify([cell, run.metrics.seed, [...id].sort()]);
    if (seen.has(repeat)) {
      warnings.push(`${run.path} repeats ${seen.get(repeat)} (same config, data and seed); counted once`);
      continue;
    }
    seen.set(repeat, run.path);
    const first = cells.get(cell);
    if (first === undefined) cells.set(cell, { path: run.path, identity: id });
    else {
      const keys = differingKeys(first.identity, id);
      if (keys.length > 0) {
        throw new UserError(
          `runs ${first.path} and ${run.path} of ${cell} differ in ${keys.join(', ')}; the report never pools them: train each config under its own --variant NAME, or report them from separate runs folders`,
        );
      }
    }
    kept.push(trigger === run.metrics.trigger ? run : { ...run, metrics: { ...run.metrics, trigger } });
  }
  return { runs: kept, warnings };
}
