import { Command, Option } from 'commander';
import { setupData, SETUP_DEFAULTS, type SetupReport } from '../data/setup.js';
import { BACKEND_CHOICES, selectBackend, type BackendInfo } from '../engine/backend.js';
import { parseIntArg } from './common.js';

/** Where `setup` writes the cohort, and where configs/base.yaml's data paths point. */
export const DEFAULT_DATA_DIR = 'data';

export interface SetupFlags {
  dataDir: string;
  nStays: number;
  devSize: number;
  hours: number;
  dataSeed: number;
  backend: string;
  force: boolean;
  json: boolean;
}

/** Data options of setup; `all` shares them but brings its own --backend and --force. */
export function addSetupOptions(cmd: Command, standalone = true): Command {
  cmd
    .option('--data-dir <dir>', 'folder that receives the cohort files', DEFAULT_DATA_DIR)
    .option('--n-stays <n>', 'stays in the main synthetic cohort', parseIntArg('--n-stays'), SETUP_DEFAULTS.nStays)
    .option('--dev-size <n>', 'stays in the dev subset used by default for runs', parseIntArg('--dev-size'), SETUP_DEFAULTS.devSize)
    .option('--hours <n>', 'observation window in hours', parseIntArg('--hours'), SETUP_DEFAULTS.hours)
    .option('--data-seed <n>', 'generator and split seed', parseIntArg('--data-seed'), SETUP_DEFAULTS.seed);
  if (!standalone) return cmd;
  return cmd
    .addOption(new Option('--backend <name>', 'compute backend to check').choices([...BACKEND_CHOICES]).default('auto'))
    .option('--force', 'regenerate even when the data exist with the same settings', false);
}

export async function runSetup(flags: SetupFlags): Promise<{ data: SetupReport; backend: BackendInfo }> {
  const data = await setupData({ dataDir: flags.dataDir, nStays: flags.nStays, devSize: flags.devSize, hours: flags.hours, seed: flags.dataSeed, force: flags.force });
  const backend = await selectBackend(flags.backend);
  return { data, backend };
}

export function printSetup({ data, backend }: { data: SetupReport; backend: BackendInfo }, write: (s: string) => void): void {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  write(`${data.status === 'existing' ? 'Data already present (same settings; --force regenerates)' : 'Generated the synthetic ICU cohort'}:\n`);
  write(`  ${data.files.main}: ${data.main.nStays} stays, ${data.main.nPatients} patients, mortality ${pct(data.main.prevalence)}, ${data.options.hours} h window\n`);
  write(`  ${data.files.dev}: ${data.dev.nStays} stays (dev subset), mortality ${pct(data.dev.prevalence)}\n`);
  write(`  ${data.files.splits}: train/val/test by patient, stratified by outcome\n`);
  for (const [name, s] of Object.entries(data.dev.splits)) {
    write(`    dev ${name.padEnd(5)} ${String(s.stays).padStart(6)} stays, mortality ${pct(s.prevalence)}, true-risk AUROC ${s.trueRiskAuroc.toFixed(3)}\n`);
  }
  write(`  True-risk AUROC (the ceiling for any model): main ${data.main.trueRiskAuroc.toFixed(3)}, dev ${data.dev.trueRiskAuroc.toFixed(3)}\n`);
  write(`Backend: ${backend.name} (requested ${backend.requested}, tfjs ${backend.tfjsVersion}${backend.name === 'wasm' ? `, matMul fix ${backend.wasmMatmulPatched ? 'on' : 'off'}` : ''})\n`);
  for (const note of backend.notes) write(`  note: ${note}\n`);
}

export function registerSetup(program: Command): void {
  addSetupOptions(
    program
      .command('setup')
      .description('Generate the embedded synthetic ICU cohort (data/main.parquet, data/dev/dev.parquet, data/splits/splits.json) and check the compute backend'),
  )
    .option('--json', 'print the report as JSON on stdout', false)
    .action(async (flags: SetupFlags) => {
      const result = await runSetup(flags);
      if (flags.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
      else printSetup(result, (s) => process.stdout.write(s));
    });
}
