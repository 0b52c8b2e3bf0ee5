import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { RUN_FILES } from './layout.js';
import { checkFormatVersion } from './format.js';
import type { RunMetadata, RunMetrics } from './records.js';

/** A complete run folder found under a runs folder. */
export interface FoundRun {
  dir: string;
  /** Path of the run folder relative to the runs folder, with forward slashes. */
  path: string;
  metadata: RunMetadata;
  metrics: RunMetrics;
}

export interface SkippedFolder {
  path: string;
  reason: string;
}

function posix(path: string): string {
  return path.split(/[\\/]/).join('/');
}

async function readJson(path: string): Promise<unknown> {
  return JSON.parse(await readFile(path, 'utf8'));
}

/** Runs ordered by model, trigger, rate, seed, then folder. */
export function compareRuns(a: { path: string; metrics: RunMetrics }, b: { path: string; metrics: RunMetrics }): number {
  const x = a.metrics;
  const y = b.metrics;
  return (
    (x.model < y.model ? -1 : x.model > y.model ? 1 : 0) ||
    (x.trigger < y.trigger ? -1 : x.trigger > y.trigger ? 1 : 0) ||
    x.poison_rate - y.poison_rate ||
    x.seed - y.seed ||
    (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
  );
}

/**
 * Every complete run folder under `runsDir`: any folder holding run_metadata.json. Hidden entries (the temporary
 * folders runs are built in, `.old` leftovers, partial and lock siblings) are never entered; a folder whose
 * metadata status is not "complete", or whose metrics cannot be read, is listed in `skipped` with the reason; a
 * run of a newer format version is refused (UserError). Run folders are not searched further (their detection/
 * and checkpoint subfolders are part of the run). Sorted by `compareRuns`.
 */
export async function findRuns(runsDir: string): Promise<{ runs: FoundRun[]; skipped: SkippedFolder[] }> {
  const runs: FoundRun[] = [];
  const skipped: SkippedFolder[] = [];
  async function walk(dir: string): Promise<void> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    const rel = posix(relative(runsDir, dir));
    if (entries.some((e) => e.isFile() && e.name === RUN_FILES.metadata)) {
      let metadata: RunMetadata;
      try {
        metadata = (await readJson(join(dir, RUN_FILES.metadata))) as RunMetadata;
      } catch (err) {
        skipped.push({ path: rel, reason: `unreadable ${RUN_FILES.metadata}: ${(err as Error).message}` });
        return;
      }
      checkFormatVersion(metadata, dir);
      if (metadata.status !== 'complete') {
        skipped.push({ path: rel, reason: `status is ${JSON.stringify(metadata.status ?? null)}, not "complete"` });
        return;
      }
      let metrics: RunMetrics;
      try {
        metrics = (await readJson(join(dir, RUN_FILES.metrics))) as RunMetrics;
      } catch (err) {
        skipped.push({ path: rel, reason: `unreadable ${RUN_FILES.metrics}: ${(err as Error).message}` });
        return;
      }
      if (typeof metrics.model !== 'string' || typeof metrics.trigger !== 'string' || typeof metrics.poison_rate !== 'number' || !metrics.clean) {
        skipped.push({ path: rel, reason: `${RUN_FILES.metrics} lacks model, trigger, poison_rate or clean metrics` });
        return;
      }
      runs.push({ dir, path: rel, metadata, metrics });
      return;
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (e.isDirectory() && !e.name.startsWith('.')) await walk(join(dir, e.name));
    }
  }
  await walk(runsDir);
  runs.sort(compareRuns);
  return { runs, skipped };
}
