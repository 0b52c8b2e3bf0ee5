import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { compile, type TopLevelSpec } from 'vega-lite';
import { parse, View, type Spec as VegaSpec } from 'vega';
import { Resvg } from '@resvg/resvg-js';

/** A Vega-Lite spec as plain JSON; vega-lite validates it when compiling. */
export type VlSpec = Record<string, any>;

export const FONT_FAMILY = 'DejaVu Sans';

const require = createRequire(import.meta.url);

/** The DejaVu TTF files shipped by the dejavu-fonts-ttf package. */
function fontFiles(): string[] {
  const dir = join(dirname(require.resolve('dejavu-fonts-ttf/package.json')), 'ttf');
  return [join(dir, 'DejaVuSans.ttf'), join(dir, 'DejaVuSans-Bold.ttf')];
}

export interface CompileResult {
  vega: VegaSpec;
  warnings: string[];
}

/** Compiles Vega-Lite to Vega, collecting warnings rather than printing them. */
export function compileSpec(spec: VlSpec): CompileResult {
  const warnings: string[] = [];
  const collect = (...args: unknown[]) => {
    const message = args.map(String).join(' ');
    // The dataflow optimizer's iteration cap is reached by layered facets with per-layer filters; the compiled
    // spec is still correct, only less optimized, so this one warning is not worth reporting.
    if (!/Maximum optimization runs/.test(message)) warnings.push(message);
    return logger;
  };
  const logger = {
    level: () => logger,
    error: (...args: unknown[]) => {
      throw new Error(args.map(String).join(' '));
    },
    warn: collect,
    info: () => logger,
    debug: () => logger,
  };
  const vega = compile(spec as TopLevelSpec, { logger: logger as any }).spec;
  return { vega, warnings };
}

/** Vega-Lite → SVG through a headless Vega view (no canvas: text widths are estimated by Vega). */
async function specToSvg(spec: VlSpec): Promise<{ svg: string; warnings: string[] }> {
  const { vega, warnings } = compileSpec(spec);
  const view = new View(parse(vega), { renderer: 'none' });
  try {
    const svg = tightSvg(await view.toSVG());
    return { svg, warnings };
  } finally {
    view.finalize();
  }
}

function resvgFont(withoutFonts = false) {
  return withoutFonts
    ? { loadSystemFonts: false }
    : { fontFiles: fontFiles(), loadSystemFonts: false, defaultFontFamily: FONT_FAMILY, sansSerifFamily: FONT_FAMILY };
}

/** The white background rect right after the root element: Vega's own, or the one a crop put there. */
const BACKGROUND = /^(<svg[^>]*>)<rect (?:x="-?[\d.]+" y="-?[\d.]+" )?width="[\d.]+" height="[\d.]+" fill="(?:white|#fff|#ffffff)"\/>/;

/**
 * Crops a Vega SVG to what is drawn, plus a margin. Without a canvas Vega estimates text widths (0.8 em per
 * character, wider than DejaVu Sans), so its layout leaves dead space right of legends; resvg measures the real
 * glyphs. Vega's invisible per-group background paths (no fill, no stroke) are left out of the measurement since
 * their size comes from the same estimates. Cropping a cropped SVG again measures it afresh.
 */
function tightSvg(svg: string, margin = 10): string {
  const measured = svg.replace(BACKGROUND, '$1').replace(/<path class="background"(?![^>]*(?:stroke|fill)=)[^>]*\/>/g, '');
  const box = new Resvg(measured, { font: resvgFont() }).getBBox();
  if (!box || !(box.width > 0 && box.height > 0)) return svg;
  const x = Math.floor(box.x - margin);
  const y = Math.floor(box.y - margin);
  const w = Math.ceil(box.x + box.width + margin) - x;
  const h = Math.ceil(box.y + box.height + margin) - y;
  const body = svg.replace(BACKGROUND, '').replace(/^<svg[^>]*>/, '');
  const root = /^<svg[^>]*>/.exec(svg)![0]
    .replace(/\swidth="[\d.]+"/, ` width="${w}"`)
    .replace(/\sheight="[\d.]+"/, ` height="${h}"`)
    .replace(/\sviewBox="[^"]*"/, ` viewBox="${x} ${y} ${w} ${h}"`);
  return `${root}<rect x="${x}" y="${y}" width="${w}" height="${h}" fill="white"/>${body}`;
}

/** End index (exclusive) of the <g> element opening at `start`, by counting nested <g> and </g>. */
function groupEnd(svg: string, start: number): number {
  const tag = /<g[\s>]|<\/g>/g;
  tag.lastIndex = start;
  let depth = 0;
  for (let m = tag.exec(svg); m; m = tag.exec(svg)) {
    depth += m[0] === '</g>' ? -1 : 1;
    if (depth === 0) return m.index + m[0].length;
  }
  throw new Error('unbalanced <g> in a Vega SVG');
}

/**
 * The SVG without its top-level title, cropped afresh: report.html and the slides print the title themselves.
 * The title group is cut from the rendered SVG, so the figure is not compiled or rendered a second time.
 */
function withoutTitle(svg: string, title: string): string {
  const label = `aria-label="Title text '${escapeXml(title)}'"`;
  const at = svg.indexOf(label);
  if (at < 0) throw new Error(`no title "${title}" in the rendered figure`);
  const start = svg.lastIndexOf('<g class="mark-group role-title"', at);
  return tightSvg(svg.slice(0, start) + svg.slice(groupEnd(svg, start)));
}

export interface PngOptions {
  /** Zoom factor; 2 gives a 2× (high-DPI) PNG. */
  scale?: number;
  /** Load no font at all: only for tests that show text vanishes without one. */
  withoutFonts?: boolean;
}

/**
 * SVG → PNG with resvg. Fonts must be given explicitly: with no font loaded resvg drops every text node without a
 * warning, so axis titles silently vanish. System fonts are not loaded so output is the same on every machine.
 */
export function svgToPng(svg: string, options: PngOptions = {}): { png: Buffer; width: number; height: number } {
  const resvg = new Resvg(svg, { font: resvgFont(options.withoutFonts), fitTo: { mode: 'zoom', value: options.scale ?? 2 }, background: 'white' });
  const image = resvg.render();
  return { png: image.asPng(), width: image.width, height: image.height };
}

export interface RenderedFigure {
  /** The figure with its title, as the standalone .svg file. */
  svg: string;
  /** The same drawing without the top-level title (null when the spec has none), for report.html and slides. */
  untitledSvg: string | null;
  /** PNG of `svg`. */
  png: Buffer;
  width: number;
  height: number;
  warnings: string[];
}

function titleText(spec: VlSpec): string | null {
  const t = spec.title;
  if (typeof t === 'string') return t;
  return t && typeof t.text === 'string' ? t.text : null;
}

/** Compiles the spec once, renders one SVG, and derives the PNG and the untitled SVG from that SVG. */
export async function renderSpec(spec: VlSpec, options: PngOptions = {}): Promise<RenderedFigure> {
  const { svg, warnings } = await specToSvg(spec);
  const title = titleText(spec);
  return { svg, untitledSvg: title === null ? null : withoutTitle(svg, title), warnings, ...svgToPng(svg, options) };
}

/** Width and height of a PNG from its IHDR chunk. */
export function pngSize(png: Uint8Array): { width: number; height: number } {
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return { width: dv.getUint32(16), height: dv.getUint32(20) };
}

/** Decoded RGBA pixels of an SVG rendering, for tests and checks. */
export function svgToPixels(svg: string, options: PngOptions = {}): { pixels: Buffer; width: number; height: number } {
  const image = new Resvg(svg, { font: resvgFont(options.withoutFonts), fitTo: { mode: 'zoom', value: options.scale ?? 2 }, background: 'white' }).render();
  return { pixels: image.pixels, width: image.width, height: image.height };
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Width and height of a Vega SVG from its root attributes. */
function svgSize(svg: string): { width: number; height: number } {
  const m = /<svg[^>]*\swidth="([\d.]+)"[^>]*\sheight="([\d.]+)"/.exec(svg);
  if (!m) throw new Error('svg without width/height');
  return { width: Number(m[1]), height: Number(m[2]) };
}

export interface SlideOptions {
  title: string;
  subtitle?: string;
  footer?: string;
  /** The chart SVG placed in the body, scaled to fit. */
  chartSvg?: string;
  /** Extra SVG markup drawn in the body instead of (or over) a chart, in slide coordinates. */
  bodyMarkup?: string;
}

export const SLIDE_WIDTH = 1920;
export const SLIDE_HEIGHT = 1080;

/**
 * A 16:9 slide (1920 × 1080) as SVG: a title bar, the chart scaled to fit the body keeping its aspect ratio (a
 * nested <svg> with the chart's own viewBox), and a footer line. Rendered at scale 1 it is exactly 1920 × 1080.
 */
export function slideSvg(options: SlideOptions): string {
  const W = SLIDE_WIDTH;
  const H = SLIDE_HEIGHT;
  const bodyTop = options.subtitle ? 200 : 160;
  const bodyBottom = H - 90;
  let chart = '';
  if (options.chartSvg) {
    const { width, height } = svgSize(options.chartSvg);
    const inner = options.chartSvg.replace(/^<svg[^>]*>/, '').replace(/<\/svg>\s*$/, '');
    const viewBox = /viewBox="([^"]+)"/.exec(options.chartSvg)?.[1] ?? `0 0 ${width} ${height}`;
    chart = `<svg x="80" y="${bodyTop}" width="${W - 160}" height="${bodyBottom - bodyTop}" viewBox="${viewBox}" preserveAspectRatio="xMidYMid meet">${inner}</svg>`;
  }
  const font = `font-family="${FONT_FAMILY}"`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<rect width="${W}" height="12" fill="#0072B2"/>`,
    `<text x="80" y="110" ${font} font-size="56" font-weight="bold" fill="#1a1a1a">${escapeXml(options.title)}</text>`,
    options.subtitle ? `<text x="80" y="165" ${font} font-size="30" fill="#444">${escapeXml(options.subtitle)}</text>` : '',
    chart,
    options.bodyMarkup ?? '',
    `<line x1="80" x2="${W - 80}" y1="${H - 70}" y2="${H - 70}" stroke="#ccc" stroke-width="2"/>`,
    options.footer ? `<text x="80" y="${H - 30}" ${font} font-size="22" fill="#666">${escapeXml(options.footer)}</text>` : '',
    '</svg>',
  ].join('');
}

