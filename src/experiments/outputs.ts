import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** Files that explain a generated folder and stay in git. */
const KEEP = new Set(['README.md', '.gitkeep']);

/** Top-level entries of the given output folders, except their README or keep-file. */
export async function listOutputs(dirs: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      continue;
    }
    for (const name of names) if (!KEEP.has(name)) out.push(join(dir, name));
  }
  return out.sort();
}

export async function removeOutputs(entries: string[]): Promise<void> {
  for (const entry of entries) await rm(entry, { recursive: true, force: true });
}
