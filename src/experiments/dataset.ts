import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { Cohort } from '../data/cohort.js';
import { subsetCohort } from '../data/cohort.js';
import { readCohortParquet } from '../data/parquet.js';
import { readSplits, splitRows, type SplitName } from '../data/splits.js';

/** A cohort with its splits, as every run of a batch sees it. */
export interface Dataset {
  path: string;
  splitsPath: string;
  sha256: string;
  splitsSha256: string;
  cohort: Cohort;
  train: Cohort;
  val: Cohort;
  test: Cohort;
  rows: Record<SplitName, number[]>;
}

const cache = new Map<string, Promise<Dataset>>();

async function sha256File(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

async function load(path: string, splitsPath: string): Promise<Dataset> {
  const cohort = await readCohortParquet(path);
  const splits = await readSplits(splitsPath);
  const rows = splitRows(cohort, splits);
  return {
    path,
    splitsPath,
    sha256: await sha256File(path),
    splitsSha256: await sha256File(splitsPath),
    cohort,
    train: subsetCohort(cohort, rows.train),
    val: subsetCohort(cohort, rows.val),
    test: subsetCohort(cohort, rows.test),
    rows,
  };
}

/**
 * A cohort file evaluated as an external cohort: every stay is a test stay (train and validation are empty), the
 * usual external validation of a clinical model. splitsPath and splitsSha256 are empty.
 */
export async function loadWholeCohortAsTest(path: string): Promise<Dataset> {
  const cohort = await readCohortParquet(path);
  const all = Array.from({ length: cohort.n }, (_, i) => i);
  return {
    path,
    splitsPath: '',
    sha256: await sha256File(path),
    splitsSha256: '',
    cohort,
    train: subsetCohort(cohort, []),
    val: subsetCohort(cohort, []),
    test: subsetCohort(cohort, all),
    rows: { train: [], val: [], test: all } as Record<SplitName, number[]>,
  };
}

/** Loads once per process and file version; runs treat the result as read-only (triggers edit copies). */
export async function loadDataset(path: string, splitsPath: string): Promise<Dataset> {
  let version = 'missing';
  try {
    const [a, b] = await Promise.all([stat(path), stat(splitsPath)]);
    version = `${a.mtimeMs}:${a.size}:${b.mtimeMs}:${b.size}`;
  } catch {
    // Let the reader produce the one-line "not found" error.
  }
  const key = `${path}\0${splitsPath}\0${version}`;
  let entry = cache.get(key);
  if (!entry) {
    entry = load(path, splitsPath);
    cache.set(key, entry);
    entry.catch(() => cache.delete(key));
  }
  return entry;
}
