import type { Collection, RunRecord } from './collect.js';
import type { SkippedFigure } from './figures/index.js';
import type { ReportStats } from './stats-types.js';
import { CELL_HEADERS, CELL_NOTE, cellColumns, detectionHtml } from './html-detection.js';
import { N_TOO_SMALL, type Summary } from './stats-core.js';
import { cleanLabelGroups } from './figures/clean-label-comparison.js';

export interface HtmlFigure {
  name: string;
  title: string;
  caption: string;
  svg: string;
  /** Paths of the figure files, relative to the report folder. */
  files: { vl?: string; svg: string; png: string };
}

export interface Provenance {
  generator: { name: string; version: string };
  generated_at: string;
  runs_dir: string;
  n_runs: number;
  n_skipped: number;
  package_versions: string[];
  backends: string[];
  tfjs_versions: string[];
  node_versions: string[];
  git_commits: string[];
  data: string[];
  splits_sha256: string[];
  run_time_range: string | null;
}

export interface HtmlInput {
  collection: Collection;
  stats: ReportStats;
  figures: HtmlFigure[];
  skippedFigures: SkippedFigure[];
  slides: { name: string; png: string }[];
  provenance: Provenance;
  files: { label: string; path: string }[];
}

function esc(s: unknown): string {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** "value (count)" for the distinct values of a field over runs, most frequent first. */
function distinct(values: (string | null | undefined)[]): string[] {
  const counts = new Map<string, number>();
  for (const v of values) {
    const k = v ?? 'unknown';
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([v, n]) => (counts.size > 1 ? `${v} (${n} runs)` : v));
}

export function provenance(collection: Collection, generator: { name: string; version: string }, generatedAt: Date): Provenance {
  const runs = collection.runs;
  const md = runs.map((r) => r.metadata);
  const versions = (r: RunRecord) => (r.metadata.backend?.versions ?? {}) as Record<string, unknown>;
  const finished = md.map((m) => m.finished_at).filter((v): v is string => typeof v === 'string').sort();
  return {
    generator,
    generated_at: generatedAt.toISOString(),
    runs_dir: collection.runsDir,
    n_runs: runs.length,
    n_skipped: collection.skipped.length,
    package_versions: distinct(md.map((m) => (m.package ? `${m.package.name ?? 'backdoor'} ${m.package.version ?? '?'}` : null))),
    backends: distinct(md.map((m) => (m.backend?.name as string | undefined) ?? null)),
    tfjs_versions: distinct(runs.map((r) => (versions(r).tfjs as string | undefined) ?? (r.metadata.backend?.tfjsVersion as string | undefined) ?? null)),
    node_versions: distinct(runs.map((r) => (versions(r).node as string | undefined) ?? null)),
    git_commits: distinct(md.map((m) => m.git_commit ?? null)),
    data: distinct(md.map((m) => (m.data ? `${m.data.path ?? '?'} (${m.data.source ?? '?'}), sha256 ${m.data.sha256 ?? '?'}` : null))),
    splits_sha256: distinct(md.map((m) => m.data?.splits_sha256 ?? null)),
    run_time_range: finished.length > 0 ? `${finished[0]} – ${finished[finished.length - 1]}` : null,
  };
}

function num(v: number | null | undefined, digits = 3): string {
  return v === null || v === undefined ? `<span class="na">${N_TOO_SMALL}</span>` : v.toFixed(digits);
}

function pValue(v: number | null | undefined): string {
  if (v === null || v === undefined) return `<span class="na">${N_TOO_SMALL}</span>`;
  return v < 0.001 ? '&lt;0.001' : v.toFixed(3);
}

/** "0.812 [0.801, 0.823] n=3", with the note in a tooltip and "n too small" where a value is missing. */
function summaryCell(s: Summary, digits = 3): string {
  if (s.n === 0) return `<span class="na" title="${esc(s.note ?? '')}">${esc(s.note === 'no matching clean run' ? s.note : 'no data')}</span>`;
  const ci = s.ci95
    ? ` <span class="ci" title="${esc(s.ci_method ?? 'percentile bootstrap over runs')}">[${s.ci95[0].toFixed(digits)}, ${s.ci95[1].toFixed(digits)}]</span>`
    : ` <span class="na" title="${esc(s.note ?? '')}">CI: ${N_TOO_SMALL}</span>`;
  // Intervals from fewer than 5 seeds are marked: they rest on little seed information.
  return `${num(s.mean, digits)}${ci} <span class="n">n=${s.n}${s.few_seeds ? '†' : ''}</span>`;
}

function table(headers: string[], rows: string[][], cls = ''): string {
  return `<div class="table-wrap"><table class="${cls}"><thead><tr>${headers.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`)
    .join('')}</tbody></table></div>`;
}

const CSS = `
:root { --fg:#1d1d1f; --muted:#5a5a5a; --accent:#0072B2; --line:#dedede; --bg:#fafafa; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color: var(--fg); margin: 0; background: white; line-height: 1.45; }
header { background: var(--accent); color: white; padding: 22px 40px; }
header h1 { margin: 0 0 6px; font-size: 26px; }
header p { margin: 0; opacity: .92; font-size: 14px; }
main { max-width: 1320px; margin: 0 auto; padding: 10px 40px 60px; }
nav { font-size: 14px; margin: 16px 0; }
nav a { color: var(--accent); margin-right: 14px; text-decoration: none; }
h2 { border-bottom: 2px solid var(--accent); padding-bottom: 4px; margin-top: 38px; font-size: 21px; }
h3 { font-size: 16px; margin: 22px 0 6px; }
.kpis { display: flex; flex-wrap: wrap; gap: 14px; margin: 18px 0; }
.kpi { flex: 1 1 180px; border: 1px solid var(--line); border-left: 5px solid var(--accent); padding: 10px 14px; background: var(--bg); border-radius: 4px; }
.kpi .v { font-size: 26px; font-weight: bold; color: var(--accent); }
.kpi .l { font-weight: bold; font-size: 13px; }
.kpi .d { color: var(--muted); font-size: 12px; }
figure { margin: 18px 0 30px; padding: 14px; border: 1px solid var(--line); border-radius: 4px; background: white; }
figure img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
figcaption { font-size: 13px; color: var(--muted); margin-top: 8px; }
figcaption a { color: var(--accent); }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; font-size: 12.5px; margin: 8px 0 16px; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 9px; text-align: left; vertical-align: top; }
/* A summary may break between its value, interval and n (never inside one) so that wide tables fit a 1400-px page. */
td .ci, td .n, td code, td .na { white-space: nowrap; }
th { background: #f0f4f8; font-weight: bold; }
tbody tr:nth-child(even) { background: #fbfbfb; }
.ci { color: var(--muted); }
.n { color: #8a8a8a; font-size: 11px; }
.na { color: #a0522d; font-style: italic; }
.note { font-size: 13px; color: var(--muted); }
ul.notes li { font-size: 13px; margin-bottom: 3px; }
.slides { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 12px; }
.slides img { width: 100%; border: 1px solid var(--line); }
code { background: #f2f2f2; padding: 1px 4px; border-radius: 3px; font-size: 12px; }
details summary { cursor: pointer; color: var(--accent); margin: 8px 0; }
`;

/** Figures are laid out at 12–13 px text; shown 1.3× larger (capped by the page width) they read like body text. */
function displayWidth(svg: string): number {
  const w = Number(/<svg[^>]*\swidth="([\d.]+)"/.exec(svg)?.[1] ?? 800);
  return Math.round(1.3 * w);
}

function dataUri(mime: string, data: string | Uint8Array): string {
  return `data:${mime};base64,${Buffer.from(data).toString('base64')}`;
}

/**
 * The report as one HTML file with no external references: figures are the rendered SVGs embedded as data URIs
 * (an <img> keeps each SVG's element ids to itself, so clip paths of different figures cannot collide), CSS is
 * inline, slides are small base64 thumbnails. Links to the figure files next to the report are extras.
 */
export function renderHtml(input: HtmlInput, slideThumbs: Map<string, Uint8Array>): string {
  const { stats, collection, provenance: prov } = input;
  const parts: string[] = [];
  parts.push('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">');
  parts.push('<meta name="viewport" content="width=device-width, initial-scale=1">');
  parts.push(`<title>Backdoor attack report</title><style>${CSS}</style></head><body>`);
  parts.push(
    `<header><h1>Backdoor (data-poisoning) attacks on ICU mortality models</h1><p>${esc(prov.n_runs)} complete runs from <code style="background:rgba(255,255,255,.15);color:white">${esc(prov.runs_dir)}</code> · generated ${esc(prov.generated_at)} by ${esc(prov.generator.name)} ${esc(prov.generator.version)}</p></header>`,
  );
  parts.push('<main>');
  parts.push('<nav><a href="#kpis">Key figures</a><a href="#figures">Figures</a><a href="#tables">Statistics</a><a href="#slides">Slides</a><a href="#provenance">Provenance</a><a href="#runs">Runs</a></nav>');

  parts.push('<section id="kpis"><h2>Key figures</h2><div class="kpis">');
  for (const k of stats.figure_data.kpis) parts.push(`<div class="kpi"><div class="v">${esc(k.value)}</div><div class="l">${esc(k.label)}</div><div class="d">${esc(k.detail)}</div></div>`);
  parts.push('</div></section>');

  parts.push('<section id="figures"><h2>Figures</h2>');
  for (const f of input.figures) {
    const links = [f.files.png && `<a href="${esc(f.files.png)}">PNG</a>`, `<a href="${esc(f.files.svg)}">SVG</a>`, f.files.vl && `<a href="${esc(f.files.vl)}">Vega-Lite spec</a>`].filter(Boolean).join(' · ');
    parts.push(
      `<figure id="fig-${esc(f.name)}"><h3>${esc(f.title)}</h3><img alt="${esc(f.title)}" style="width:${displayWidth(f.svg)}px" src="${dataUri('image/svg+xml', f.svg)}"><figcaption>${esc(f.caption)} <span class="n">(${links}, in the report folder)</span></figcaption></figure>`,
    );
  }
  if (input.skippedFigures.length > 0) {
    parts.push('<h3>Figures not drawn</h3><ul class="notes">');
    for (const s of input.skippedFigures) parts.push(`<li><b>${esc(s.name)}</b>: ${esc(s.reason)}</li>`);
    parts.push('</ul>');
  }
  parts.push('</section>');

  parts.push('<section id="tables"><h2>Statistics</h2>');
  parts.push(
    `<p class="note">Means over seeds with 95% intervals in brackets (hover an interval for what it accounts for). ${esc(stats.settings.intervals)}; ${esc(stats.settings.bootstrap)}. † marks an interval from fewer than 5 seeds. Every value names its n. ${esc(stats.settings.pairing)}. Cells: ${esc(CELL_NOTE)}.</p>`,
  );
  if (stats.baselines.length > 0) {
    // Clean runs configured with both targets are two baselines of one model: their false-trigger rates differ in direction.
    const baselineName = new Set(stats.baselines.map((b) => b.target)).size > 1 ? (b: ReportStats['baselines'][number]) => `${b.model} (target ${b.target})` : (b: ReportStats['baselines'][number]) => b.model;
    parts.push('<h3>Clean baselines (trigger none, rate 0)</h3>');
    parts.push(
      table(
        ['model', 'runs', 'clean AUROC', 'clean AUPRC', 'ECE', 'Brier'],
        stats.baselines.map((b) => [esc(baselineName(b)), String(b.n_runs), summaryCell(b.clean_auroc), summaryCell(b.clean_auprc), summaryCell(b.ece), summaryCell(b.brier)]),
      ),
    );
    const triggers = [...new Set(stats.baselines.flatMap((b) => Object.keys(b.false_trigger_asr)))].sort();
    if (triggers.length > 0) {
      parts.push('<h3>False-trigger rate on clean models</h3><p class="note">ASR of each trigger on a model that was never poisoned: the level ASR should be read against. One row per trigger (and parameter variant), one column per model.</p>');
      parts.push(table(['trigger', ...stats.baselines.map((b) => esc(baselineName(b)))], triggers.map((t) => [esc(t), ...stats.baselines.map((b) => (b.false_trigger_asr[t] ? summaryCell(b.false_trigger_asr[t]!) : '—'))])));
    }
  }
  if (stats.cells.length > 0) {
    parts.push('<h3>Attack success per cell</h3>');
    parts.push(
      table(
        [...CELL_HEADERS, 'runs', 'ASR', 'ASR net of false trigger', 'confidence shift', 'clean AUROC', 'ECE'],
        stats.cells.map((c) => [
          ...cellColumns(c, esc),
          String(c.n_runs),
          summaryCell(c.asr),
          summaryCell(c.asr_net),
          summaryCell(c.confidence_shift),
          summaryCell(c.clean_auroc),
          summaryCell(c.ece),
        ]),
      ),
    );
    parts.push(`<h3>Stealth: clean AUROC, poisoned − clean</h3><p class="note">${esc(stats.settings.stealth)}. DeLong p: the smallest per-seed two-sided p of poisoned vs clean AUROC on the one test split.</p>`);
    parts.push(
      table(
        [...CELL_HEADERS, 'ΔAUROC [95%]', '90% interval', 'TOST p', 'verdict', 'DeLong p (min over seeds)'],
        stats.cells.map((c) => {
          const a = c.auroc_vs_clean;
          const t = a.tost;
          const delongP = a.delong.length === 0 ? null : Math.min(...a.delong.map((d) => d.p));
          return [
            ...cellColumns(c, esc),
            summaryCell(a.difference, 4),
            t && Number.isFinite(t.ci90[0]) ? `[${t.ci90[0].toFixed(4)}, ${t.ci90[1].toFixed(4)}]` : '<span class="na">—</span>',
            t ? pValue(t.p) : '<span class="na">—</span>',
            esc(a.label),
            delongP === null ? '<span class="na">—</span>' : pValue(delongP) + ` <span class="n">${a.delong.length} seed${a.delong.length === 1 ? '' : 's'}</span>`,
          ];
        }),
      ),
    );
  }
  const cleanLabel = cleanLabelGroups(stats);
  if (cleanLabel.length > 0) {
    parts.push(
      '<h3>Clean-label attacks at the same rate</h3><p class="note">Naive clean-label poison (mode clean: the trigger stamped on target-class rows, labels kept) against label_consistent (Turner et al. 2019: the rows first hardened against a surrogate model), beside dirty poison at the same rate where it ran, and the matching clean models\' false-trigger rate (the clean baseline).</p>',
    );
    parts.push(
      table(
        [...CELL_HEADERS, 'runs', 'ASR', 'ASR net of false trigger', 'clean-model false-trigger rate', 'clean AUROC'],
        cleanLabel.flatMap((g) => g.cells).map((c) => [...cellColumns(c, esc), String(c.n_runs), summaryCell(c.asr), summaryCell(c.asr_net), summaryCell(c.false_trigger_asr), summaryCell(c.clean_auroc)]),
      ),
    );
  }
  parts.push(...detectionHtml(stats, { esc, table, summaryCell }));
  if (stats.attribution.length > 0) {
    parts.push('<h3>Saliency attribution (integrated gradients)</h3><p class="note">Trigger attribution ratio: share of |IG| on the features derived from what the trigger writes, on clean non-target test rows and on the same rows with the trigger. Per trigger and target, pooled over the models, poison rates and seeds with attribution results (n runs).</p>');
    parts.push(
      table(
        ['trigger', 'target', 'runs', 'TAR, triggered rows', 'TAR, clean rows', 'uniform share'],
        stats.attribution.map((a) => [esc(a.trigger), String(a.target), String(a.n_runs), summaryCell(a.tar_triggered), summaryCell(a.tar_clean), a.uniform_share === null ? '—' : a.uniform_share.toFixed(3)]),
      ),
    );
  }
  if (stats.notes.length > 0) {
    parts.push('<h3>Notes</h3><ul class="notes">');
    for (const n of stats.notes) parts.push(`<li>${esc(n)}</li>`);
    parts.push('</ul>');
  }
  parts.push('</section>');

  if (input.slides.length > 0) {
    parts.push('<section id="slides"><h2>Summary slides (1920 × 1080)</h2><div class="slides">');
    for (const s of input.slides) {
      const thumb = slideThumbs.get(s.name);
      parts.push(`<a href="${esc(s.png)}">${thumb ? `<img alt="${esc(s.name)}" src="${dataUri('image/png', thumb)}">` : esc(s.name)}</a>`);
    }
    parts.push('</div></section>');
  }

  parts.push('<section id="provenance"><h2>Provenance</h2>');
  const provRows: [string, string][] = [
    ['report generator', `${prov.generator.name} ${prov.generator.version}`],
    ['generated at', prov.generated_at],
    ['runs folder', prov.runs_dir],
    ['complete runs', String(prov.n_runs)],
    ['folders skipped', String(prov.n_skipped)],
    ['package version of the runs', prov.package_versions.join('; ')],
    ['compute backend', prov.backends.join('; ')],
    ['TensorFlow.js', prov.tfjs_versions.join('; ')],
    ['Node.js', prov.node_versions.join('; ')],
    ['git commit', prov.git_commits.join('; ')],
    ['data', prov.data.join('; ')],
    ['splits sha256', prov.splits_sha256.join('; ')],
    ['runs finished', prov.run_time_range ?? 'unknown'],
  ];
  parts.push(`<div class="table-wrap"><table>${provRows.map(([k, v]) => `<tr><th>${esc(k)}</th><td style="white-space:normal">${esc(v)}</td></tr>`).join('')}</table></div>`);
  parts.push('<h3>Files</h3><ul class="notes">');
  for (const f of input.files) parts.push(`<li><a href="${esc(f.path)}">${esc(f.path)}</a>: ${esc(f.label)}</li>`);
  parts.push('</ul></section>');

  parts.push('<section id="runs"><h2>Runs</h2>');
  parts.push(`<details><summary>${collection.runs.length} complete run folders</summary>`);
  parts.push(
    table(
      ['run folder', 'run id', 'clean AUROC', 'ASR', 'epochs', 'finished'],
      collection.runs.map((r) => [
        `<code>${esc(r.path)}</code>`,
        esc(r.metrics.run_id),
        r.metrics.clean.auroc.toFixed(3),
        r.metrics.attack ? r.metrics.attack.asr.toFixed(3) : '—',
        String(r.metrics.training?.epochs_run ?? ''),
        esc(r.metadata.finished_at ?? ''),
      ]),
    ),
  );
  parts.push('</details>');
  if (collection.skipped.length > 0) {
    parts.push(`<h3>Skipped folders</h3><ul class="notes">`);
    for (const s of collection.skipped) parts.push(`<li><code>${esc(s.path)}</code>: ${esc(s.reason)}</li>`);
    parts.push('</ul>');
  }
  parts.push('</section></main></body></html>\n');
  return parts.join('\n');
}
