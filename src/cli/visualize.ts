import { Command } from 'commander';
import { relative } from 'node:path';
import { buildReport } from '../report/index.js';

export function registerVisualize(program: Command): void {
  program
    .command('visualize')
    .description('Rebuild summary.csv, statistics, figures, slides and report.html from the existing run folders (trains nothing)')
    .option('--runs-dir <dir>', 'folder holding the run folders', 'runs')
    .option('--out <dir>', 'report folder, replaced as a whole (default: beside the runs folder: "report" for runs/, "report-X" for a runs folder X)')
    .option('--json', 'print the written paths as JSON on stdout', false)
    .action(async (flags: { runsDir: string; out?: string; json: boolean }) => {
      const result = await buildReport({ runsDir: flags.runsDir, outDir: flags.out });
      if (flags.json) {
        process.stdout.write(JSON.stringify(result, null, 2) + '\n');
        return;
      }
      const rel = (p: string) => relative(process.cwd(), p) || '.';
      const lines = [
        `Report of ${result.nRuns} run(s) in ${rel(result.outDir)}/`,
        `  ${rel(result.reportHtml)}`,
        `  ${rel(result.summaryCsv)}, ${rel(result.statsJson)}, ${rel(result.statsCsv)}`,
        `  ${result.figures.length} figures in ${rel(result.outDir)}/figures/, ${result.slides.length} slides in ${rel(result.outDir)}/slides/`,
      ];
      for (const s of result.skippedFigures) lines.push(`  not drawn: ${s.name} (${s.reason})`);
      if (result.skippedFolders.length > 0) lines.push(`  skipped ${result.skippedFolders.length} incomplete folder(s), listed in report.html`);
      for (const w of result.warnings) lines.push(`  warning: ${w}`);
      process.stdout.write(lines.join('\n') + '\n');
    });
}
