import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { REPO_ROOT } from './helpers.js';

/**
 * The folders of src/ in pipeline order; a folder may import its own and earlier folders only. util and engine
 * are foundations. metrics sits right after them, before data (not after train as the pipeline diagram draws it):
 * its functions are pure functions of arrays that import nothing but themselves, and both the synthetic data
 * generator (the true-risk AUROC it reports) and the trainer (early stopping on validation AUROC) use them.
 * runs (the run-folder records) comes after detectors, whose types its detection records name, and before
 * experiments, which write and read run folders; pipeline (setup → sweep → report) sits after report.
 */
const ORDER = ['util', 'engine', 'metrics', 'data', 'triggers', 'models', 'train', 'detectors', 'runs', 'experiments', 'report', 'pipeline', 'cli'];

const LINE_LIMIT = 400;

const SRC = join(REPO_ROOT, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : name.endsWith('.ts') ? [path] : [];
  });
}

/** Relative module specifiers of a file: static imports and re-exports, side-effect imports, dynamic imports. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*['"](\.[^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of text.matchAll(/(?:^|\n)\s*import\s*['"](\.[^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of text.matchAll(/import\(\s*['"](\.[^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  return out;
}

/** The top folder of src/ a path lies in, or null for src/index.ts (the library's API, which may import all). */
function folderOf(path: string): string | null {
  const parts = relative(SRC, path).split(sep);
  return parts.length > 1 ? parts[0]! : null;
}

const edges: { from: string; to: string; file: string; spec: string }[] = [];
for (const file of sourceFiles(SRC)) {
  const from = folderOf(file);
  if (!from) continue;
  for (const spec of importsOf(file)) {
    const to = folderOf(resolve(dirname(file), spec));
    if (to && to !== from) edges.push({ from, to, file: relative(REPO_ROOT, file), spec });
  }
}

test('the import walker sees the imports it must judge', () => {
  assert.ok(edges.length > 50, `only ${edges.length} cross-folder imports found`);
  assert.ok(edges.some((e) => e.from === 'cli' && e.to === 'pipeline'));
  assert.ok(edges.some((e) => e.from === 'experiments' && e.to === 'runs'));
  assert.deepEqual(importsOf(join(SRC, 'cli', 'detect.ts')).filter((s) => s.includes('experiments/detection')).length, 2, 'dynamic and type imports are seen');
});

test('every folder of src/ has a place in the order', () => {
  const folders = readdirSync(SRC).filter((name) => statSync(join(SRC, name)).isDirectory());
  for (const f of folders) assert.ok(ORDER.includes(f), `src/${f}/ is not in ORDER`);
});

test('no folder imports a later folder', () => {
  const bad = edges.filter((e) => ORDER.indexOf(e.to) > ORDER.indexOf(e.from)).map((e) => `${e.file} (${e.from}) imports ${e.spec} (${e.to})`);
  assert.deepEqual(bad, []);
});

test('no folder-level import cycle', () => {
  const graph = new Map<string, Set<string>>();
  for (const e of edges) graph.set(e.from, (graph.get(e.from) ?? new Set()).add(e.to));
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (node: string, path: string[]) => {
    if (state.get(node) === 'done') return;
    if (state.get(node) === 'open') {
      cycles.push([...path.slice(path.indexOf(node)), node].join(' → '));
      return;
    }
    state.set(node, 'open');
    for (const next of graph.get(node) ?? []) visit(next, [...path, node]);
    state.set(node, 'done');
  };
  for (const node of graph.keys()) visit(node, []);
  assert.deepEqual(cycles, []);
});

test(`no source file over ${LINE_LIMIT} lines`, () => {
  const files = [...sourceFiles(SRC), ...sourceFiles(join(REPO_ROOT, 'scripts'))];
  const long = files
    .map((f) => ({ file: relative(REPO_ROOT, f).split(sep).join('/'), lines: readFileSync(f, 'utf8').split('\n').length - 1 }))
    .filter((f) => f.lines > LINE_LIMIT)
    .map((f) => `${f.file}: ${f.lines}`);
  assert.deepEqual(long, []);
});
