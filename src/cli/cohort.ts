import { Command, Option } from 'commander';
import type { CohortReport } from '../data/sources/cohort-report.js';
import { referenceAurocLine } from '../data/reference-aurocs.js';
import { COHORT_SOURCES } from '../data/sources/registry.js';
import type { CohortSource } from '../data/sources/types.js';
import { validateParams, type ParamSpec, type ScalarSpec } from '../util/plugin.js';
import { parseIntArg } from './common.js';

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function printCohortReport(r: CohortReport, seconds: number, write: (s: string) => void): void {
  write(`Built the ${r.source} cohort from ${r.input} in ${seconds.toFixed(1)} s:\n`);
  write(`  ${r.files.cohort}: ${r.stays} stays, ${r.patients} patients, ${r.deaths} deaths (${pct(r.prevalence)}), ${r.hours} h window, ${r.variables.length} variables\n`);
  write(`  ${r.files.splits}: train ${r.splits.train.stays} / val ${r.splits.val.stays} / test ${r.splits.test.stays} stays, by patient, stratified by outcome\n`);
  write(`  ${r.files.report} (and ${r.files.markdown})\n`);
  write('Inclusion:\n');
  for (const s of r.inclusion) write(`  ${s.step.padEnd(48)} ${String(s.stays).padStart(7)} stays ${String(s.deaths).padStart(6)} deaths\n`);
  const shown = r.variables.slice(0, 40);
  if (r.reference_aurocs) write(`${referenceAurocLine(r.reference_aurocs)}\n`);
  write('Missing stay-hours:\n');
  for (const v of shown) write(`  ${v.name.padEnd(14)} ${pct(v.missingRate).padStart(6)}\n`);
  if (r.variables.length > shown.length) write(`  … ${r.variables.length - shown.length} more in the report\n`);
  for (const note of r.notes) write(`note: ${note}\n`);
}

/** A command-line string as the value a parameter's schema expects (the schema's validator then checks it). */
function fromText(text: string, spec: ParamSpec | ScalarSpec): unknown {
  if (spec.type === 'list') return text.split(',').map((s) => fromText(s.trim(), spec.items));
  if ((spec.type === 'number' || spec.type === 'integer') && text.trim() !== '' && Number.isFinite(Number(text))) return Number(text);
  if (spec.type === 'boolean' && (text === 'true' || text === 'false')) return text === 'true';
  return text;
}

const optionName = (key: string) => `--${key.replace(/_/g, '-')}`;

/** `backdoor cohort <source>`, generated from the source's parameter schema. */
function registerSource(cohort: Command, source: CohortSource): void {
  const command = cohort.command(source.name).description(source.description);
  const options: [string, Option][] = [];
  for (const [key, spec] of Object.entries(source.params)) {
    const shown = spec.type === 'mapping' || spec.default === null || spec.default === undefined ? '' : ` (default: ${String(spec.default)})`;
    const option = new Option(`${optionName(key)} <value>`, `${spec.description}${spec.unit ? `, ${spec.unit}` : ''}${shown}`);
    if (source.required.includes(key)) option.makeOptionMandatory();
    command.addOption(option);
    options.push([key, option]);
  }
  command
    .option('--out <dir>', 'output folder', source.defaultOut)
    .option('--seed <n>', 'split seed', parseIntArg('--seed'))
    .option('--json', 'print the report as JSON on stdout', false)
    .action(async (flags: Record<string, unknown> & { out: string; seed?: number; json: boolean }) => {
      const raw: Record<string, unknown> = {};
      for (const [key, option] of options) {
        const text = flags[option.attributeName()];
        if (typeof text === 'string') raw[key] = fromText(text, source.params[key]);
      }
      const params = validateParams(source.name, source.params, raw);
      await run(flags, () => source.build(params, { outDir: flags.out, seed: flags.seed }));
    });
}

async function run(flags: { json: boolean }, build: () => Promise<CohortReport>): Promise<void> {
  const started = Date.now();
  const report = await build();
  if (flags.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else printCohortReport(report, (Date.now() - started) / 1000, (s) => process.stdout.write(s));
}

export function registerCohort(program: Command): void {
  const cohort = program
    .command('cohort')
    .description(`Build a cohort (cohort.parquet, splits.json, cohort_report.json/.md) from one source: ${COHORT_SOURCES.names().join(', ')}`);
  for (const source of COHORT_SOURCES.members()) registerSource(cohort, source);
}
