import { loadSweepSpec, profilePath, runSweep, type SweepOptions, type SweepOutcome, type SweepSpec } from '../experiments/sweep.js';
import { buildReport, type ReportResult } from '../report/index.js';
import { mergeConfig, type Tree } from '../util/config-files.js';
import { applyGridChoices, dataFolderOverrides, type GridChoices } from './grid.js';
import { runSetup, type SetupStepOptions, type SetupStepResult } from './setup.js';

/** Runs a grid, then builds the report of this grid's runs only (the runs folder may hold other sweeps). */
async function sweepAndReport(spec: SweepSpec, options: SweepOptions): Promise<{ outcome: SweepOutcome; report: ReportResult }> {
  const outcome = await runSweep(spec, options);
  const report = await buildReport({ runsDir: options.runsDir, runs: outcome.runDirs });
  return { outcome, report };
}

export interface AllOptions {
  setup: SetupStepOptions;
  /** Benchmark grid in configs/benchmark/. */
  profile: string;
  choices: GridChoices;
  /** Run-config overrides from flags and key=value pairs. */
  overrides: Tree;
  /** A data file was given: the grid's data path is not moved into the data folder. */
  dataGiven: boolean;
  sweep: SweepOptions;
  /** Called once the data are in place, before the runs. */
  onSetup?: (setup: SetupStepResult) => void;
}

/** The whole pipeline: setup → clean baselines and poisoned runs of a benchmark grid → the report. */
export async function runAll(options: AllOptions): Promise<{ setup: SetupStepResult; outcome: SweepOutcome; report: ReportResult; seconds: number }> {
  const setup = await runSetup(options.setup);
  options.onSetup?.(setup);
  const grid = loadSweepSpec(profilePath(options.profile));
  const overrides = options.dataGiven ? options.overrides : mergeConfig(options.overrides, dataFolderOverrides(grid, options.setup.dataDir));
  const spec = applyGridChoices(grid, options.choices, overrides);
  const started = Date.now();
  const { outcome, report } = await sweepAndReport(spec, options.sweep);
  return { setup, outcome, report, seconds: (Date.now() - started) / 1000 };
}
