import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FONT_FAMILY, escapeXml, slideSvg, svgToPng } from './render.js';
import type { Kpi, ReportStats } from './stats-types.js';
import { wrapWords } from './figures/style.js';

/** A figure as a slide gets it: its title, its spec's subtitle, and its drawing without the title. */
export interface SlideFigure {
  name: string;
  title: string;
  subtitle?: string;
  svg: string;
}

export interface WrittenSlide {
  name: string;
  svg: string;
  png: string;
  /** A quarter-size PNG for report.html. */
  thumb: Uint8Array;
}

function slideFooter(stats: ReportStats, generatedAt: Date): string {
  return `backdoor report · ${stats.n_runs} runs · means over seeds with 95% intervals (report.html says what each accounts for) · ${generatedAt.toISOString().slice(0, 10)}`;
}

/** Slide 1: the KPIs as large tiles, drawn directly in slide coordinates. */
function kpiTiles(kpis: Kpi[]): string {
  const cols = 3;
  const tileW = 540;
  const tileH = 280;
  const gap = 40;
  // 20-px detail text: about 40 characters fit a tile; three lines at most, the rest is in report.html.
  const detailLines = (detail: string) => {
    const lines = wrapWords(detail, 40);
    return lines.length <= 3 ? lines : [...lines.slice(0, 2), `${lines[2]} …`];
  };
  const x0 = (1920 - (cols * tileW + (cols - 1) * gap)) / 2;
  const font = `font-family="${FONT_FAMILY}"`;
  return kpis
    .slice(0, 6)
    .map((k, i) => {
      const x = x0 + (i % cols) * (tileW + gap);
      const y = 250 + Math.floor(i / cols) * (tileH + gap);
      return [
        `<rect x="${x}" y="${y}" width="${tileW}" height="${tileH}" rx="10" fill="#f4f7fa" stroke="#d5dde5" stroke-width="2"/>`,
        `<rect x="${x}" y="${y}" width="12" height="${tileH}" fill="#0072B2"/>`,
        `<text x="${x + 40}" y="${y + 105}" ${font} font-size="72" font-weight="bold" fill="#0072B2">${escapeXml(k.value)}</text>`,
        `<text x="${x + 40}" y="${y + 160}" ${font} font-size="30" font-weight="bold" fill="#222">${escapeXml(k.label)}</text>`,
        ...detailLines(k.detail).map((line, j) => `<text x="${x + 40}" y="${y + 198 + 27 * j}" ${font} font-size="20" fill="#555">${escapeXml(line)}</text>`),
      ].join('');
    })
    .join('');
}

/** The 16:9 slides (1920 × 1080, SVG and PNG) into `dir`: the KPI overview, then one slide per figure given. */
export async function writeSlides(figures: readonly SlideFigure[], stats: ReportStats, generatedAt: Date, dir: string): Promise<WrittenSlide[]> {
  const footer = slideFooter(stats, generatedAt);
  const slides = [{ name: 'slide_1_overview', svg: slideSvg({ title: 'Backdoor attacks on ICU mortality models', subtitle: `Summary of ${stats.n_runs} runs`, bodyMarkup: kpiTiles(stats.figure_data.kpis), footer }) }];
  for (const f of figures) slides.push({ name: `slide_${slides.length + 1}_${f.name}`, svg: slideSvg({ title: f.title, subtitle: f.subtitle, chartSvg: f.svg, footer }) });
  const out: WrittenSlide[] = [];
  for (const s of slides) {
    await writeFile(join(dir, `${s.name}.svg`), s.svg);
    await writeFile(join(dir, `${s.name}.png`), svgToPng(s.svg, { scale: 1 }).png);
    out.push({ name: s.name, svg: `${s.name}.svg`, png: `${s.name}.png`, thumb: svgToPng(s.svg, { scale: 0.25 }).png });
  }
  return out;
}
