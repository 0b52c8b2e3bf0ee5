import { readdir, readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ensureWritableDir, writeFileAtomic } from './fs.js';

/**
 * The marks the project leaves on the folders it makes, so `clean` removes only what the project made.
 * - a runs folder holds `.backdoor-runs.json`, written when the first run goes into it; it lists what the folder
 *   held before (those entries are the user's and are never removed);
 * - a data folder (setup's, or a cohort's output folder) holds `.backdoor-data.json`, listing the files the project
 *   wrote there (a user's notes beside them are never listed);
 * - a report folder holds `report_manifest.json`, naming the runs folder it was made from.
 */
export const MARKER_FILES = {
  runs: '.backdoor-runs.json',
  data: '.backdoor-data.json',
  report: 'report_manifest.json',
} as const;

/** Files that explain a generated folder and stay in git. */
export const KEEP_FILES: ReadonlySet<string> = new Set(['README.md', '.gitkeep']);

export interface RunsMarker {
  kind: 'runs';
  /** Entries the folder held when it became a runs folder: the user's, not the project's. */
  preexisting: string[];
}

export interface DataMarker {
  kind: 'data';
  /** Files the project wrote, relative to the marked folder, with '/' separators. */
  files: string[];
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((e) => typeof e === 'string');
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Creates the runs folder if needed and marks it as one, recording what it held before; safe under concurrency. */
export async function markRunsFolder(dir: string): Promise<void> {
  await ensureWritableDir(dir, 'runs folder');
  const marker = join(dir, MARKER_FILES.runs);
  if ((await readRunsMarker(dir)) !== null) return;
  const preexisting = (await readdir(dir)).filter((name) => !KEEP_FILES.has(name) && name !== MARKER_FILES.runs).sort();
  const body: RunsMarker = { kind: 'runs', preexisting };
  try {
    // Exclusive create: parallel workers marking the same folder keep the first writer's list.
    await writeFile(marker, JSON.stringify({ generator: 'backdoor', ...body }, null, 2) + '\n', { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

export async function readRunsMarker(dir: string): Promise<RunsMarker | null> {
  const raw = (await readJson(join(dir, MARKER_FILES.runs))) as { kind?: unknown; preexisting?: unknown } | undefined;
  if (typeof raw !== 'object' || raw === null || raw.kind !== 'runs' || !isStringList(raw.preexisting)) return null;
  return { kind: 'runs', preexisting: [...raw.preexisting] };
}

export async function readDataMarker(dir: string): Promise<DataMarker | null> {
  const raw = (await readJson(join(dir, MARKER_FILES.data))) as { kind?: unknown; files?: unknown } | undefined;
  if (typeof raw !== 'object' || raw === null || raw.kind !== 'data' || !isStringList(raw.files)) return null;
  return { kind: 'data', files: raw.files.filter(isInside) };
}

/** A relative path that stays inside its folder (no absolute path, no `..` step). */
function isInside(rel: string): boolean {
  return rel !== '' && !isAbsolute(rel) && !rel.split(/[\\/]/).some((part) => part === '..' || part === '');
}

/**
 * Records files the project writes into a data folder (created if needed). Call it before writing them, so an
 * interrupted write is still known to be the project's. Paths may be relative to the working folder or absolute.
 */
export async function markDataFiles(dir: string, paths: string[]): Promise<void> {
  await ensureWritableDir(dir, 'data folder');
  const root = resolve(dir);
  const files = new Set((await readDataMarker(dir))?.files ?? []);
  for (const path of paths) {
    const rel = relative(root, resolve(path)).split(sep).join('/');
    if (isInside(rel)) files.add(rel);
  }
  const body: DataMarker = { kind: 'data', files: [...files].sort() };
  await writeFileAtomic(join(dir, MARKER_FILES.data), JSON.stringify({ generator: 'backdoor', ...body }, null, 2) + '\n');
}

/** The runs folder a report was made from (its manifest's runs_dir), or null when the folder is no report. */
export async function readReportSource(dir: string): Promise<string | null> {
  const raw = (await readJson(join(dir, MARKER_FILES.report))) as { runs_dir?: unknown } | undefined;
  if (typeof raw !== 'object' || raw === null || typeof raw.runs_dir !== 'string') return null;
  return raw.runs_dir;
}
