import { mkdir, readdir, rename, rm, stat, writeFile, access } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { PACKAGE_ROOT } from '../util/config-files.js';
import { UserError } from '../util/errors.js';
import { temporarySibling } from '../util/fs.js';
import { readReportSource } from '../util/markers.js';
import { collectRuns, summaryCsv, type Collection } from './collect.js';
import { separateConfigs } from './pooling.js';
import { computeStats } from './stats.js';
import { statsCsv } from './stats-csv.js';
import { buildFigures } from './figures/index.js';
import { renderSpec, FONT_FAMILY } from './render.js';
import { provenance, renderHtml, type HtmlFigure } from './html.js';
import { writeSlides, type SlideFigure } from './slides.js';

export { collectRuns, summaryCsv } from './collect.js';

/** Written into every report folder; an existing --out folder is only replaced when it holds this file (or is empty). */
export const REPORT_MANIFEST = 'report_manifest.json';

export interface BuildReportOptions {
  runsDir: string;
  /** Default: a `report` folder next to the runs folder. */
  outDir?: string;
  /** Bootstrap resamples (default 2000). */
  resamples?: number;
  /** Equivalence margin of the stealth test on clean AUROC (default ±0.01). */
  aurocMargin?: number;
  /** Generation time shown in the report (default: now). */
  now?: Date;
  /**
   * Only these run folders (paths as given to the sweep, inside runsDir), e.g. one grid's runs when the runs folder
   * also holds other sweeps' runs of other data or configs, which the statistics must not pool with them.
   */
  runs?: string[];
}

export interface ReportFigurePaths {
  name: string;
  title: string;
  vl: string;
  svg: string;
  png: string;
  width: number;
  height: number;
}

export interface ReportResult {
  outDir: string;
  summaryCsv: string;
  statsJson: string;
  statsCsv: string;
  reportHtml: string;
  manifest: string;
  figures: ReportFigurePaths[];
  slides: { name: string; svg: string; png: string }[];
  skippedFigures: { name: string; reason: string }[];
  nRuns: number;
  skippedFolders: { path: string; reason: string }[];
  warnings: string[];
}

/**
 * Each runs folder has its own report folder beside it: `runs` → `report` (the layout the README describes), any
 * other name N → `report-N`, so `visualize --runs-dir A` and `--runs-dir B` never write into the same folder.
 */
export function defaultOutDir(runsDir: string): string {
  const runs = resolve(runsDir);
  const name = basename(runs);
  return join(dirname(runs), name === 'runs' ? 'report' : `report-${name}`);
}

function packageInfo(): { name: string; version: string } {
  try {
    const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
    return { name: pkg.name, version: pkg.version };
  } catch {
    return { name: 'backdoor', version: 'unknown' };
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Refuses to replace a folder that is not a previous report (so `--out .` cannot wipe a project). */
async function checkReplaceable(outDir: string, runsDir: string, explicitOut: boolean): Promise<void> {
  const out = resolve(outDir);
  const runs = resolve(runsDir);
  if (out === runs || runs.startsWith(out + '/')) throw new UserError(`the report folder ${outDir} would contain the runs folder ${runsDir}; choose another --out`);
  if (!(await exists(out))) return;
  if (!(await stat(out)).isDirectory()) throw new UserError(`${outDir} exists and is not a folder; choose another --out`);
  const entries = await readdir(out);
  if (entries.length > 0 && !entries.includes(REPORT_MANIFEST)) {
    throw new UserError(`${outDir} exists and is not a report folder (no ${REPORT_MANIFEST}); choose an empty or new --out`);
  }
  const source = await readReportSource(out);
  if (!explicitOut && source !== null && resolve(source) !== runs) {
    throw new UserError(`${outDir} holds the report made from ${source}, not from ${runsDir}; pass --out to choose a report folder`);
  }
}

/** The SVG as embedded in report.html: font fallbacks for browsers without DejaVu Sans (resvg gets the plain name). */
function htmlSvg(svg: string): string {
  return svg.replaceAll(`font-family="${FONT_FAMILY}"`, `font-family="${FONT_FAMILY}, Verdana, Arial, sans-serif"`);
}

/**
 * Rebuilds the report from the run folders alone: summary.csv, stats.json, stats.csv, figures/ (.vl.json, .svg,
 * .png at 2×), slides (1920 × 1080) and report.html. Everything is written into a hidden temporary folder that is
 * renamed into place when complete, so a failed build leaves the previous report untouched.
 */
export async function buildReport(options: BuildReportOptions): Promise<ReportResult> {
  const runsDir = options.runsDir;
  const outDir = resolve(options.outDir ?? defaultOutDir(runsDir));
  const generatedAt = options.now ?? new Date();
  if (!(await exists(runsDir)) || !(await stat(runsDir)).isDirectory()) throw new UserError(`runs folder ${runsDir} does not exist; run \`backdoor baseline\` and \`backdoor experiments\` first, or pass --runs-dir`);
  const collection: Collection = await collectRuns(runsDir);
  if (options.runs) {
    const wanted = new Set(options.runs.map((dir) => resolve(dir)));
    collection.runs = collection.runs.filter((r) => wanted.has(resolve(runsDir, r.path)));
  }
  if (collection.runs.length === 0) {
    const why = collection.skipped.length > 0 ? ` (${collection.skipped.length} incomplete folder(s) skipped)` : '';
    throw new UserError(`no complete run folders under ${runsDir}${why}; nothing to report`);
  }
  await checkReplaceable(outDir, runsDir, options.outDir !== undefined);
  const pooled = await separateConfigs(collection.runs, runsDir);
  collection.runs = pooled.runs;

  // The stages: collect → stats → figures → render → html. Figures see stats.json only.
  const stats = computeStats(collection.runs, { resamples: options.resamples, aurocMargin: options.aurocMargin });
  const figureSet = buildFigures(stats);

  await mkdir(dirname(outDir), { recursive: true });
  const tmp = temporarySibling(outDir);
  const warnings: string[] = [...pooled.warnings];
  try {
    await mkdir(join(tmp, 'figures'), { recursive: true });
    await mkdir(join(tmp, 'slides'), { recursive: true });
    await writeFile(join(tmp, 'summary.csv'), summaryCsv(collection.runs));
    await writeFile(join(tmp, 'stats.json'), JSON.stringify(stats, null, 2) + '\n');
    await writeFile(join(tmp, 'stats.csv'), statsCsv(stats));

    const figures: ReportFigurePaths[] = [];
    const htmlFigures: HtmlFigure[] = [];
    const slideFigures: SlideFigure[] = [];
    for (const f of figureSet.figures) {
      const r = await renderSpec(f.spec, { scale: 2 });
      for (const w of r.warnings) warnings.push(`${f.name}: ${w}`);
      const files = { vl: `figures/${f.name}.vl.json`, svg: `figures/${f.name}.svg`, png: `figures/${f.name}.png` };
      await writeFile(join(tmp, files.vl), JSON.stringify(f.spec, null, 2) + '\n');
      await writeFile(join(tmp, files.svg), r.svg);
      await writeFile(join(tmp, files.png), r.png);
      figures.push({ name: f.name, title: f.title, vl: join(outDir, files.vl), svg: join(outDir, files.svg), png: join(outDir, files.png), width: r.width, height: r.height });
      // The page and the slides give the figure's title themselves; the standalone files keep it.
      const bare = r.untitledSvg ?? r.svg;
      htmlFigures.push({ name: f.name, title: f.title, caption: f.caption, svg: htmlSvg(bare), files });
      if (f.slide) slideFigures.push({ name: f.name, title: f.title, subtitle: f.spec.title?.subtitle, svg: bare });
    }

    const slides = await writeSlides(slideFigures, stats, generatedAt, join(tmp, 'slides'));
    const thumbs = new Map(slides.map((s) => [s.name, s.thumb]));
    const files = [
      { label: 'one row per complete run (rebuilt from the run folders)', path: 'summary.csv' },
      { label: 'all statistics, with settings and notes', path: 'stats.json' },
      { label: 'the statistics as one row per statistic', path: 'stats.csv' },
      { label: 'figures as Vega-Lite specs (.vl.json), SVG and 2× PNG', path: 'figures/' },
      { label: '16:9 summary slides, 1920 × 1080 PNG', path: 'slides/' },
    ];
    const html = renderHtml(
      {
        collection,
        stats,
        figures: htmlFigures,
        skippedFigures: figureSet.skipped,
        slides: slides.map((s) => ({ name: s.name, png: `slides/${s.png}` })),
        provenance: provenance(collection, packageInfo(), generatedAt),
        files,
      },
      thumbs,
    );
    await writeFile(join(tmp, 'report.html'), html);
    const manifest = {
      generator: packageInfo(),
      generated_at: generatedAt.toISOString(),
      runs_dir: resolve(runsDir),
      n_runs: collection.runs.length,
      skipped_folders: collection.skipped,
      figures: figures.map((f) => f.name),
      skipped_figures: figureSet.skipped,
      slides: slides.map((s) => s.name),
      warnings,
    };
    await writeFile(join(tmp, REPORT_MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
    await swapIntoPlace(tmp, outDir);

    return {
      outDir,
      summaryCsv: join(outDir, 'summary.csv'),
      statsJson: join(outDir, 'stats.json'),
      statsCsv: join(outDir, 'stats.csv'),
      reportHtml: join(outDir, 'report.html'),
      manifest: join(outDir, REPORT_MANIFEST),
      figures,
      slides: slides.map((s) => ({ name: s.name, svg: join(outDir, 'slides', s.svg), png: join(outDir, 'slides', s.png) })),
      skippedFigures: figureSet.skipped,
      nRuns: collection.runs.length,
      skippedFolders: collection.skipped,
      warnings,
    };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Renames the finished build into place; an older report is moved aside first and removed only afterwards. */
async function swapIntoPlace(tmp: string, outDir: string): Promise<void> {
  let old: string | null = null;
  if (await exists(outDir)) {
    old = `${temporarySibling(outDir)}.old`;
    await rename(outDir, old);
  }
  try {
    await rename(tmp, outDir);
  } catch (err) {
    if (old) await rename(old, outDir);
    throw err;
  }
  if (old) await rm(old, { recursive: true, force: true });
}

