import { Command } from 'commander';
import { relative } from 'node:path';
import { buildReport } from '../report/index.js';
import { UserError } from '../util/errors.js';

export function registerVisualize(program: Command): void {
  program
    .command('visualize')
    .description('Rebuild summary.csv, statistics, figures, slides and report.html from the existing run folders (trains nothing)')
    .option('--runs-dir <dir>', 'folder holding the run folders', 'runs')
    .option('--out <dir>', 'report folder, replaced as a whole (default: beside the runs folder: "report" for runs/, "report-X" for a runs folder X)')
    .option('--auroc-margin <m>', 'equivalence margin of the stealth test on clean AUROC, poisoned − clean (default 0.01)')
    .option('--json', 'print the written paths as JSON on stdout', false)
    .action(async (flags: { runsDir: string; out?: string; aurocMargin?: string; json: boolean }) => {
      let aurocMargin: number | undefined;
      if (flags.aurocMargin !== undefined) {
        aurocMargin = Number(flags.aurocMargin);
        if (!(aurocMargin > 0 && aurocMargin < 1)) throw new UserError(`--auroc-margin must be a number in (0, 1), e.g. 0.01; got "${flags.aurocMargin}"`);
      }
      const result = await buildReport({ runsDir: flags.runsDir, outDir: flags.out, aurocMargin });
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
