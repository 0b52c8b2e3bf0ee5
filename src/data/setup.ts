import { readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { generateSynthetic, SYNTHETIC_DEFAULTS, describeSynthetic, type SyntheticReport } from './sources/synthetic.js';
import { makeSplits, devSubsetRows, splitRows, writeSplits, SPLIT_NAMES, type SplitName } from './splits.js';
import { subsetCohort, type Cohort } from './cohort.js';
import { writeCohortParquet } from './parquet.js';
import { auroc } from '../metrics/classification.js';
import { ensureWritableDir, removeEmptyLevels, removeStaleSiblings, temporarySibling, writeFileAtomic } from '../util/fs.js';
import { referenceAurocs, type ReferenceAurocs } from './reference-aurocs.js';
import { markDataFiles } from '../util/markers.js';
import { UserError } from '../util/errors.js';

export interface SetupOptions {
  dataDir: string;
  nStays: number;
  devSize: number;
  hours: number;
  seed: number;
  force?: boolean;
}

export const SETUP_DEFAULTS: Omit<SetupOptions, 'dataDir'> = {
  nStays: SYNTHETIC_DEFAULTS.nStays,
  devSize: 2000,
  hours: SYNTHETIC_DEFAULTS.hours,
  seed: Number(SYNTHETIC_DEFAULTS.seed),
};

export interface CohortSummary extends SyntheticReport {
  splits: Record<string, { stays: number; prevalence: number; trueRiskAuroc: number }>;
  /** True-risk, charting-only and values-only AUROCs on the test split (fitted on train). */
  reference_aurocs: ReferenceAurocs;
}

/**
 * Version of the generator's design; a finished setup made by another version is regenerated, not reused.
 * 2: charting driven by the current state and per-stay unit habits (issue 11).
 */
export const GENERATOR_VERSION = 2;

export interface SetupReport {
  status: 'generated' | 'existing';
  generator_version: number;
  files: { main: string; dev: string; splits: string; manifest: string };
  options: Omit<SetupOptions, 'dataDir' | 'force'>;
  main: CohortSummary;
  dev: CohortSummary;
}

/** Name of the hidden folder (".setup.tmp-<pid>-<hex>") inside the data folder that a setup is built in. */
const SETUP_STAGING = 'setup';

export function dataPaths(dataDir: string) {
  return {
    main: join(dataDir, 'main.parquet'),
    dev: join(dataDir, 'dev', 'dev.parquet'),
    splits: join(dataDir, 'splits', 'splits.json'),
    manifest: join(dataDir, 'manifest.json'),
  };
}

function summarize(cohort: Cohort, rows: Record<SplitName, number[]>): CohortSummary {
  const splits: CohortSummary['splits'] = {};
  for (const name of SPLIT_NAMES) {
    const part = subsetCohort(cohort, rows[name]);
    let pos = 0;
    for (const y of part.labels) pos += y;
    splits[name] = { stays: part.n, prevalence: pos / part.n, trueRiskAuroc: part.trueRisk ? auroc(part.labels, part.trueRisk) : NaN };
  }
  return { ...describeSynthetic(cohort), splits, reference_aurocs: referenceAurocs(cohort, rows) };
}

/**
 * Writes the embedded synthetic cohort: data/main.parquet, the dev subset data/dev/dev.parquet, the splits
 * data/splits/splits.json and data/manifest.json (generator settings and the cohort report). The manifest is
 * written last, so its presence marks a finished setup; an existing setup with the same settings and generator version
 * is kept.
 */
export async function setupData(options: SetupOptions): Promise<SetupReport> {
  const { dataDir, force, ...settings } = options;
  if (!Number.isInteger(settings.devSize) || settings.devSize < 100) throw new UserError(`dev size must be an integer ≥ 100, got ${settings.devSize}`);
  if (settings.devSize > settings.nStays) throw new UserError(`dev size (${settings.devSize}) cannot exceed the cohort size (${settings.nStays})`);
  const paths = dataPaths(dataDir);
  if (!force) {
    try {
      const manifest = JSON.parse(await readFile(paths.manifest, 'utf8')) as SetupReport;
      if (manifest.generator_version === GENERATOR_VERSION && JSON.stringify(manifest.options) === JSON.stringify(settings)) return { ...manifest, status: 'existing' };
    } catch {
      // No finished setup: generate.
    }
  }
  // Built aside in a hidden folder inside dataDir and moved into place only when every file is written, so an
  // interrupted or failed setup leaves the previous files as they were (never a new main.parquet beside old splits).
  const created = await ensureWritableDir(dataDir, 'data folder');
  await removeStaleSiblings(join(dataDir, SETUP_STAGING));
  const staging = temporarySibling(join(dataDir, SETUP_STAGING));
  const staged = dataPaths(staging);
  let report: SetupReport;
  try {
    let cohort: Cohort;
    try {
      cohort = generateSynthetic({ nStays: settings.nStays, hours: settings.hours, seed: settings.seed }).cohort;
    } catch (err) {
      throw new UserError((err as Error).message);
    }
    const splits = makeSplits(cohort, settings.seed);
    const dev = subsetCohort(cohort, devSubsetRows(cohort, splits, settings.devSize, settings.seed));
    await writeCohortParquet(staged.main, cohort);
    await writeCohortParquet(staged.dev, dev);
    await writeSplits(staged.splits, splits);
    report = {
      status: 'generated',
      generator_version: GENERATOR_VERSION,
      files: paths,
      options: settings,
      main: summarize(cohort, splitRows(cohort, splits)),
      dev: summarize(dev, splitRows(dev, splits)),
    };
    await writeFileAtomic(staged.manifest, JSON.stringify(report, null, 2) + '\n');
    // Marked before the move, so files of an interrupted move are known to be the project's (clean removes them).
    await markDataFiles(dataDir, Object.values(paths));
    // No manifest while the files are moved: a setup interrupted between two renames is seen as unfinished.
    await rm(paths.manifest, { force: true });
    for (const key of ['main', 'dev', 'splits', 'manifest'] as const) {
      await ensureWritableDir(dirname(paths[key]), 'data folder');
      await rename(staged[key], paths[key]);
    }
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    await removeEmptyLevels(created);
    throw err;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return report;
}
