import { readFile } from 'node:fs/promises';
import type { Cohort } from './cohort.js';
import { deriveRng } from '../engine/rng.js';
import { UserError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';

export type SplitName = 'train' | 'val' | 'test';
export const SPLIT_NAMES: SplitName[] = ['train', 'val', 'test'];

/** Stay ids per split. A split file applies to any cohort whose stays it lists (e.g. main and its dev subset). */
export interface Splits {
  method: string;
  seed: number | string;
  fractions: Record<SplitName, number>;
  train: number[];
  val: number[];
  test: number[];
}

export const DEFAULT_FRACTIONS: Record<SplitName, number> = { train: 0.7, val: 0.15, test: 0.15 };

/**
 * Splits stays by patient, stratified by outcome: patients are grouped by whether any of their stays has the
 * outcome, shuffled with the seed within each group, and dealt to train/val/test so that each split receives
 * its fraction of that group's stays. No patient is in two splits.
 */
export function makeSplits(cohort: Cohort, seed: number | string, fractions = DEFAULT_FRACTIONS): Splits {
  const rng = deriveRng(seed, 'splits');
  const staysByPatient = new Map<number, number[]>();
  for (let i = 0; i < cohort.n; i++) {
    const p = cohort.patientIds[i];
    const list = staysByPatient.get(p);
    if (list) list.push(i);
    else staysByPatient.set(p, [i]);
  }
  const strata: number[][][] = [[], []];
  for (const stays of staysByPatient.values()) {
    const positive = stays.some((i) => cohort.labels[i] === 1) ? 1 : 0;
    strata[positive].push(stays);
  }
  const out: Record<SplitName, number[]> = { train: [], val: [], test: [] };
  for (const group of strata) {
    rng.shuffle(group);
    const total = group.reduce((acc, stays) => acc + stays.length, 0);
    const trainEnd = fractions.train * total;
    const valEnd = (fractions.train + fractions.val) * total;
    let dealt = 0;
    for (const stays of group) {
      const split: SplitName = dealt < trainEnd ? 'train' : dealt < valEnd ? 'val' : 'test';
      for (const i of stays) out[split].push(cohort.stayIds[i]);
      dealt += stays.length;
    }
  }
  for (const name of SPLIT_NAMES) out[name].sort((a, b) => a - b);
  return { method: 'patient-grouped, outcome-stratified', seed, fractions, ...out };
}

/** Row indices of each split within a cohort; every stay of the cohort must be in exactly one split. */
export function splitRows(cohort: Cohort, splits: Splits): Record<SplitName, number[]> {
  const where = new Map<number, SplitName>();
  for (const name of SPLIT_NAMES) for (const id of splits[name]) where.set(id, name);
  const rows: Record<SplitName, number[]> = { train: [], val: [], test: [] };
  const unassigned: number[] = [];
  for (let i = 0; i < cohort.n; i++) {
    const name = where.get(cohort.stayIds[i]);
    if (name) rows[name].push(i);
    else unassigned.push(cohort.stayIds[i]);
  }
  if (unassigned.length > 0) {
    throw new UserError(`${unassigned.length} stay(s) of the data file are in no split (first stay_id ${unassigned[0]}); the splits file does not match the data`);
  }
  for (const name of SPLIT_NAMES) {
    if (rows[name].length === 0) throw new UserError(`the ${name} split holds no stay of this data file; the splits file does not match the data`);
  }
  return rows;
}

export async function writeSplits(path: string, splits: Splits): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(splits) + '\n');
}

export async function readSplits(path: string): Promise<Splits> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new UserError(`splits file not found: ${path} (run \`backdoor setup\`)`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UserError(`corrupt splits file ${path}: not valid JSON`);
  }
  return checkSplits(path, parsed);
}

/**
 * A splits file as it enters: an object whose train, val and test lists hold integer stay ids, each id in one
 * split only. Overlapping or junk ids are refused, never silently re-assigned.
 */
export function checkSplits(path: string, parsed: unknown): Splits {
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UserError(`corrupt splits file ${path}: it must be a JSON object with train, val and test lists of stay ids`);
  }
  const record = parsed as Record<string, unknown>;
  const owner = new Map<number, SplitName>();
  for (const name of SPLIT_NAMES) {
    const list = Object.hasOwn(record, name) ? record[name] : undefined;
    if (!Array.isArray(list)) throw new UserError(`corrupt splits file ${path}: no "${name}" list of stay ids`);
    for (const id of list) {
      if (typeof id !== 'number' || !Number.isSafeInteger(id)) {
        throw new UserError(`corrupt splits file ${path}: the ${name} list holds ${JSON.stringify(id) ?? String(id)}, not an integer stay id`);
      }
      const other = owner.get(id);
      if (other !== undefined && other !== name) throw new UserError(`corrupt splits file ${path}: stay_id ${id} is in both ${other} and ${name}; a stay belongs to one split`);
      owner.set(id, name);
    }
  }
  return record as unknown as Splits;
}

/**
 * A deterministic subset of whole patients holding about `size` stays, with the same outcome mix and the same
 * split proportions as the full cohort (it draws patients within each split and outcome stratum).
 */
export function devSubsetRows(cohort: Cohort, splits: Splits, size: number, seed: number | string): number[] {
  if (size >= cohort.n) return Array.from({ length: cohort.n }, (_, i) => i);
  const rng = deriveRng(seed, 'dev-subset');
  const rows = splitRows(cohort, splits);
  const chosen: number[] = [];
  for (const name of SPLIT_NAMES) {
    const byPatient = new Map<number, number[]>();
    for (const i of rows[name]) {
      const list = byPatient.get(cohort.patientIds[i]);
      if (list) list.push(i);
      else byPatient.set(cohort.patientIds[i], [i]);
    }
    const strata: number[][][] = [[], []];
    for (const stays of byPatient.values()) strata[stays.some((i) => cohort.labels[i] === 1) ? 1 : 0].push(stays);
    for (const group of strata) {
      const groupStays = group.reduce((acc, s) => acc + s.length, 0);
      const want = Math.round((groupStays * size) / cohort.n);
      rng.shuffle(group);
      let taken = 0;
      for (const stays of group) {
        if (taken >= want) break;
        chosen.push(...stays);
        taken += stays.length;
      }
    }
  }
  return chosen.sort((a, b) => a - b);
}
