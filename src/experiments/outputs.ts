import { lstat, readdir, rm, rmdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { UserError } from '../util/errors.js';
import { KEEP_FILES, MARKER_FILES, readDataMarker, readReportSource, readRunsMarker } from '../util/markers.js';

/**
 * `clean` removes only what the project made (see util/markers.ts): the contents of a marked runs folder (less
 * what it held before it was marked), a report folder made from that runs folder, and the files listed in the
 * data markers of a data folder. A folder with content but no marker is refused, whatever its name.
 */
export interface CleanTargets {
  runsDir?: string;
  /** The report folder; removed only when its manifest says it was made from runsDir. */
  reportDir?: string;
  dataDir?: string;
}

export interface CleanPlan {
  /** Files and folders to remove, in removal order (the markers last). */
  remove: string[];
  /** Why something that looked related stays, e.g. a report made from another runs folder. */
  notes: string[];
}

type Kind = 'missing' | 'empty' | 'content';

async function folderState(dir: string, what: string): Promise<{ kind: Kind; names: string[] }> {
  let names: string[];
  try {
    const st = await lstat(dir);
    if (!st.isDirectory()) throw new UserError(`${what} ${dir} is not a folder; clean removes only folders the project made`);
    names = await readdir(dir);
  } catch (err) {
    if (err instanceof UserError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing', names: [] };
    throw new UserError(`cannot read ${what} ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const own = names.filter((n) => !KEEP_FILES.has(n));
  return { kind: own.length === 0 ? 'empty' : 'content', names: own.sort() };
}

function unmarked(what: string, dir: string, marker: string): UserError {
  return new UserError(`${dir} has no ${marker} marker, so it is not a ${what} the project made; clean refuses it (remove it yourself if you are sure)`);
}

async function planRuns(runsDir: string, plan: CleanPlan): Promise<void> {
  const state = await folderState(runsDir, 'runs folder');
  if (state.kind !== 'content') return;
  const marker = await readRunsMarker(runsDir);
  if (!marker) throw unmarked('runs folder', runsDir, MARKER_FILES.runs);
  const preexisting = new Set(marker.preexisting);
  for (const name of state.names) if (name !== MARKER_FILES.runs && !preexisting.has(name)) plan.remove.push(join(runsDir, name));
  if (preexisting.size > 0) plan.notes.push(`kept ${preexisting.size} entr${preexisting.size === 1 ? 'y' : 'ies'} of ${runsDir} that were there before it held runs`);
  plan.remove.push(join(runsDir, MARKER_FILES.runs));
}

async function planReport(reportDir: string, runsDir: string | undefined, plan: CleanPlan): Promise<void> {
  const state = await folderState(reportDir, 'report folder');
  if (state.kind !== 'content') return;
  const source = await readReportSource(reportDir);
  if (source === null) throw unmarked('report folder', reportDir, MARKER_FILES.report);
  if (runsDir !== undefined && resolve(source) !== resolve(runsDir)) {
    plan.notes.push(`kept ${reportDir}: it was made from ${source}, not from ${runsDir}`);
    return;
  }
  plan.remove.push(reportDir);
}

/** Folders holding a data marker inside dir (itself included), without following symbolic links. */
async function findDataMarkers(dir: string, depth = 6): Promise<string[]> {
  const found: string[] = [];
  const names = await readdir(dir, { withFileTypes: true }).catch(() => []);
  if (names.some((e) => e.name === MARKER_FILES.data && e.isFile())) found.push(dir);
  if (depth > 0) for (const e of names) if (e.isDirectory()) found.push(...(await findDataMarkers(join(dir, e.name), depth - 1)));
  return found;
}

async function planData(dataDir: string, plan: CleanPlan): Promise<void> {
  const state = await folderState(dataDir, 'data folder');
  if (state.kind !== 'content') return;
  const marked = await findDataMarkers(dataDir);
  if (marked.length === 0) throw unmarked('data folder', dataDir, MARKER_FILES.data);
  for (const folder of marked) {
    const marker = await readDataMarker(folder);
    if (!marker) continue;
    for (const rel of marker.files) {
      const path = join(folder, rel);
      // Only regular files the project listed; a folder or link of the same name is not the project's file.
      const st = await lstat(path).catch(() => null);
      if (st?.isFile()) plan.remove.push(path);
    }
    plan.remove.push(join(folder, MARKER_FILES.data));
  }
}

export async function planClean(targets: CleanTargets): Promise<CleanPlan> {
  const plan: CleanPlan = { remove: [], notes: [] };
  if (targets.runsDir !== undefined) await planRuns(targets.runsDir, plan);
  if (targets.reportDir !== undefined) await planReport(targets.reportDir, targets.runsDir, plan);
  if (targets.dataDir !== undefined) await planData(targets.dataDir, plan);
  return plan;
}

/**
 * Removes the plan's entries, then the folders left empty by removing a listed data file (up to the data folder,
 * which stays). A folder a user put something into is not empty, so it stays.
 */
export async function executeClean(plan: CleanPlan, dataDir?: string): Promise<void> {
  for (const entry of plan.remove) await rm(entry, { recursive: true, force: true });
  if (dataDir === undefined) return;
  const root = resolve(dataDir);
  const parents = [...new Set(plan.remove.map((p) => dirname(resolve(p))))].sort((a, b) => b.length - a.length);
  for (let dir of parents) {
    while (dir.startsWith(root + '/') && dir !== root) {
      try {
        await rmdir(dir);
      } catch {
        break;
      }
      dir = dirname(dir);
    }
  }
}
