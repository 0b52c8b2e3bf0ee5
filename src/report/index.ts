import { mkdir, readdir, rename, rm, stat, writeFile, access } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { PACKAGE_ROOT } from '../util/config-files.js';
import { UserError } from '../util/errors.js';
import { temporarySibling } from '../util/fs.js';
import { collectRuns, summaryCsv, type Collection } from './collect.js';
import { computeStats, statsCsv, type ReportStats } from './stats.js';
import { buildFigures, type FigureSet } from './figures.js';
import { renderSpec, slideSvg, specToSvg, svgToPng, FONT_FAMILY, type VlSpec } from './render.js';
import { provenance, renderHtml, type HtmlFigure } from './html.js';

export { collectRuns, summaryCsv } from './collect.js';
export { computeStats, statsCsv } from './stats.js';
export * from './stats-core.js';
export { buildFigures } from './figures.js';
export { renderSpec, specToSvg, svgToPng, slideSvg } from './render.js';

/** Written into every report folder; an existing --out folder is only replaced when it holds this file (or is empty). */
export const REPORT_MANIFEST = 'report_manifest.json';

export interface BuildReportOptions {
  runsDir: string;
  /** Default: a `report` folder next to the runs folder. */
  outDir?: string;
  /** Bootstrap resamples (default 2000). */
  resamples?: number;
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

export function defaultOutDir(runsDir: string): string {
  return join(dirname(resolve(runsDir)), 'report');
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
async function checkReplaceable(outDir: string, runsDir: string): Promise<void> {
  const out = resolve(outDir);
  const runs = resolve(runsDir);
  if (out === runs || runs.startsWith(out + '/')) throw new UserError(`the report folder ${outDir} would contain the runs folder ${runsDir}; choose another --out`);
  if (!(await exists(out))) return;
  if (!(await stat(out)).isDirectory()) throw new UserError(`${outDir} exists and is not a folder; choose another --out`);
  const entries = await readdir(out);
  if (entries.length > 0 && !entries.includes(REPORT_MANIFEST)) {
    throw new UserError(`${outDir} exists and is not a report folder (no ${REPORT_MANIFEST}); choose an empty or new --out`);
  }
}

/** The SVG as embedded in report.html: font fallbacks for browsers without DejaVu Sans (resvg gets the plain name). */
function htmlSvg(svg: string): string {
  return svg.replaceAll(`font-family="${FONT_FAMILY}"`, `font-family="${FONT_FAMILY}, Verdana, Arial, sans-serif"`);
}

function slideFooter(stats: ReportStats, generatedAt: Date): string {
  return `backdoor report · ${stats.n_runs} runs · means over seeds with 95% bootstrap CIs · ${generatedAt.toISOString().slice(0, 10)}`;
}

async function renderSlides(
  figureSet: FigureSet,
  rendered: Map<string, string>,
  stats: ReportStats,
  generatedAt: Date,
  dir: string,
): Promise<{ name: string; svg: string; png: string; thumb: Uint8Array }[]> {
  const footer = slideFooter(stats, generatedAt);
  const slides: { name: string; svg: string }[] = [];
  // Slide 1: the KPIs as large tiles, drawn directly in slide coordinates.
  const tiles = figureSet.kpis.slice(0, 6);
  const cols = 3;
  const tileW = 540;
  const tileH = 250;
  const gap = 50;
  const x0 = (1920 - (cols * tileW + (cols - 1) * gap)) / 2;
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const font = `font-family="${FONT_FAMILY}"`;
  const body = tiles
    .map((k, i) => {
      const x = x0 + (i % cols) * (tileW + gap);
      const y = 250 + Math.floor(i / cols) * (tileH + gap);
      return [
        `<rect x="${x}" y="${y}" width="${tileW}" height="${tileH}" rx="10" fill="#f4f7fa" stroke="#d5dde5" stroke-width="2"/>`,
        `<rect x="${x}" y="${y}" width="12" height="${tileH}" fill="#0072B2"/>`,
        `<text x="${x + 40}" y="${y + 105}" ${font} font-size="72" font-weight="bold" fill="#0072B2">${esc(k.value)}</text>`,
        `<text x="${x + 40}" y="${y + 160}" ${font} font-size="30" font-weight="bold" fill="#222">${esc(k.label)}</text>`,
        `<text x="${x + 40}" y="${y + 205}" ${font} font-size="22" fill="#555">${esc(k.detail)}</text>`,
      ].join('');
    })
    .join('');
  slides.push({ name: 'slide_1_overview', svg: slideSvg({ title: 'Backdoor attacks on ICU mortality models', subtitle: `Summary of ${stats.n_runs} runs`, bodyMarkup: body, footer }) });
  const chartSlides: [string, string, string][] = [
    ['asr_vs_poison_rate', 'Attack success rate vs poison rate', 'Mean over seeds, 95% bootstrap CI; dashed: false-trigger rate of the clean model'],
    ['stealth_clean_auroc', 'Stealthiness: clean AUROC stays at baseline', 'Poisoned models vs the clean baseline band (mean, 95% CI)'],
    ['detector_heatmap', 'Detector effectiveness', 'Detection AUROC per detector and trigger; 0.5 = chance'],
    ['attribution_heatmap', 'Where the model looks under the trigger', 'Integrated-gradients attribution on triggered test stays'],
    ['calibration_reliability', 'Calibration: clean vs poisoned models', 'Reliability diagrams on the clean test set'],
    ['confidence_shift', 'Confidence shift caused by the trigger', 'Per triggered test stay: p(target | triggered) − p(target | clean)'],
  ];
  let k = 2;
  for (const [name, title, subtitle] of chartSlides) {
    const svg = rendered.get(name);
    if (!svg) continue;
    // The figure's own title is dropped: the slide carries it.
    slides.push({ name: `slide_${k++}_${name}`, svg: slideSvg({ title, subtitle, chartSvg: svg, footer }) });
  }
  const out: { name: string; svg: string; png: string; thumb: Uint8Array }[] = [];
  for (const s of slides) {
    const png = svgToPng(s.svg, { scale: 1 });
    const thumb = svgToPng(s.svg, { scale: 0.25 });
    await writeFile(join(dir, `${s.name}.svg`), s.svg);
    await writeFile(join(dir, `${s.name}.png`), png.png);
    out.push({ name: s.name, svg: `${s.name}.svg`, png: `${s.name}.png`, thumb: thumb.png });
  }
  return out;
}

/** Figures without their title, for slides (the slide has its own). */
function untitled(spec: VlSpec): VlSpec {
  const { title: _title, ...rest } = spec;
  return rest;
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
  await checkReplaceable(outDir, runsDir);

  const stats = computeStats(collection.runs, { resamples: options.resamples });
  const figureSet = buildFigures(collection.runs, stats);

  await mkdir(dirname(outDir), { recursive: true });
  const tmp = temporarySibling(outDir);
  const warnings: string[] = [];
  try {
    await mkdir(join(tmp, 'figures'), { recursive: true });
    await mkdir(join(tmp, 'slides'), { recursive: true });
    await writeFile(join(tmp, 'summary.csv'), summaryCsv(collection.runs));
    await writeFile(join(tmp, 'stats.json'), JSON.stringify(stats, null, 2) + '\n');
    await writeFile(join(tmp, 'stats.csv'), statsCsv(stats));

    const figures: ReportFigurePaths[] = [];
    const htmlFigures: HtmlFigure[] = [];
    const forSlides = new Map<string, string>();
    for (const f of figureSet.figures) {
      const r = await renderSpec(f.spec, { scale: 2 });
      for (const w of r.warnings) warnings.push(`${f.name}: ${w}`);
      const files = { vl: `figures/${f.name}.vl.json`, svg: `figures/${f.name}.svg`, png: `figures/${f.name}.png` };
      await writeFile(join(tmp, files.vl), JSON.stringify(f.spec, null, 2) + '\n');
      await writeFile(join(tmp, files.svg), r.svg);
      await writeFile(join(tmp, files.png), r.png);
      figures.push({ name: f.name, title: f.title, vl: join(outDir, files.vl), svg: join(outDir, files.svg), png: join(outDir, files.png), width: r.width, height: r.height });
      // The page and the slides give the figure's title themselves; the standalone files keep it.
      const bare = (await specToSvg(untitled(f.spec))).svg;
      htmlFigures.push({ name: f.name, title: f.title, caption: f.caption, svg: htmlSvg(bare), files });
      if (f.name !== 'dashboard') forSlides.set(f.name, bare);
    }

    const slides = await renderSlides(figureSet, forSlides, stats, generatedAt, join(tmp, 'slides'));
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
        kpis: figureSet.kpis,
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

