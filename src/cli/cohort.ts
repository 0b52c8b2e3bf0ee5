import { Command, Option } from 'commander';
import { buildMimicCohort, MIMIC_DEFAULT_OUT } from '../data/sources/mimic-iv.js';
import { buildPhysionetCohort, PHYSIONET_DEFAULT_OUT } from '../data/sources/physionet2012.js';
import { buildTableCohort, TABLE_DEFAULT_OUT } from '../data/sources/table.js';
import type { CohortReport } from '../data/sources/report.js';
import { dirname } from 'node:path';
import { markDataFiles } from '../util/markers.js';
import { parseIntArg, parseList } from './common.js';

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function printCohortReport(r: CohortReport, seconds: number, write: (s: string) => void): void {
  write(`Built the ${r.source} cohort from ${r.input} in ${seconds.toFixed(1)} s:\n`);
  write(`  ${r.files.cohort}: ${r.stays} stays, ${r.patients} patients, ${r.deaths} deaths (${pct(r.prevalence)}), ${r.hours} h window, ${r.variables.length} variables\n`);
  write(`  ${r.files.splits}: train ${r.splits.train.stays} / val ${r.splits.val.stays} / test ${r.splits.test.stays} stays, by patient, stratified by outcome\n`);
  write(`  ${r.files.report} (and ${r.files.markdown})\n`);
  write('Inclusion:\n');
  for (const s of r.inclusion) write(`  ${s.step.padEnd(48)} ${String(s.stays).padStart(7)} stays ${String(s.deaths).padStart(6)} deaths\n`);
  const shown = r.variables.slice(0, 40);
  write('Missing stay-hours:\n');
  for (const v of shown) write(`  ${v.name.padEnd(14)} ${pct(v.missingRate).padStart(6)}\n`);
  if (r.variables.length > shown.length) write(`  … ${r.variables.length - shown.length} more in the report\n`);
  for (const note of r.notes) write(`note: ${note}\n`);
}

async function run(flags: { json: boolean }, build: () => Promise<CohortReport>): Promise<void> {
  const started = Date.now();
  const report = await build();
  await markDataFiles(dirname(report.files.cohort), Object.values(report.files));
  if (flags.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else printCohortReport(report, (Date.now() - started) / 1000, (s) => process.stdout.write(s));
}

export function registerCohort(program: Command): void {
  const cohort = program
    .command('cohort')
    .description('Build a cohort (cohort.parquet, splits.json, cohort_report.json/.md) from MIMIC-IV, PhysioNet 2012 or your own table');

  cohort
    .command('mimic-iv')
    .description('First ICU stay of adults in MIMIC-IV (hosp/ and icu/ as .csv.gz, .csv or .parquet), hourly features over the first 24 or 48 h, label in-hospital death')
    .requiredOption('--mimic-dir <dir>', 'MIMIC-IV folder holding hosp/ and icu/')
    .addOption(new Option('--hours <n>', 'observation window in hours').choices(['24', '48']).default('24'))
    .option('--out <dir>', 'output folder', MIMIC_DEFAULT_OUT)
    .option('--seed <n>', 'split seed', parseIntArg('--seed'))
    .option('--memory-limit <size>', 'DuckDB memory limit, e.g. 8GB (DuckDB spills to disk beyond it)')
    .option('--json', 'print the report as JSON on stdout', false)
    .action(async (flags: { mimicDir: string; hours: string; out: string; seed?: number; memoryLimit?: string; json: boolean }) => {
      await run(flags, () =>
        buildMimicCohort({ mimicDir: flags.mimicDir, hours: Number(flags.hours), outDir: flags.out, seed: flags.seed, memoryLimit: flags.memoryLimit }),
      );
    });

  cohort
    .command('physionet2012')
    .description('PhysioNet/CinC Challenge 2012: set-a/, set-b/, set-c/ folders or set-x.tar.gz archives with Outcomes-x.txt, 48 hourly bins')
    .requiredOption('--dir <dir>', 'folder holding the sets and Outcomes-x.txt files')
    .option('--sets <list>', 'sets to read, e.g. a,b (default: every set present)', parseList)
    .option('--out <dir>', 'output folder', PHYSIONET_DEFAULT_OUT)
    .option('--seed <n>', 'split seed', parseIntArg('--seed'))
    .option('--json', 'print the report as JSON on stdout', false)
    .action(async (flags: { dir: string; sets?: string[]; out: string; seed?: number; json: boolean }) => {
      await run(flags, () => buildPhysionetCohort({ dir: flags.dir, sets: flags.sets, outDir: flags.out, seed: flags.seed }));
    });

  cohort
    .command('table')
    .description('Your own Parquet or CSV file with one row per stay (tabular models only)')
    .requiredOption('--file <file>', 'Parquet (.parquet) or CSV (.csv, .csv.gz, .tsv) file')
    .requiredOption('--label <column>', 'outcome column (0/1)')
    .requiredOption('--id <column>', 'stay id column (integers)')
    .option('--patient <column>', 'patient id column for patient-grouped splits (default: the id column)')
    .option('--features <list>', 'feature columns, comma-separated (default: every other numeric column)', parseList)
    .option('--out <dir>', 'output folder', TABLE_DEFAULT_OUT)
    .option('--seed <n>', 'split seed', parseIntArg('--seed'))
    .option('--json', 'print the report as JSON on stdout', false)
    .action(async (flags: { file: string; label: string; id: string; patient?: string; features?: string[]; out: string; seed?: number; json: boolean }) => {
      await run(flags, () =>
        buildTableCohort({ file: flags.file, label: flags.label, id: flags.id, patient: flags.patient, features: flags.features, outDir: flags.out, seed: flags.seed }),
      );
    });
}
