import { resolveRunConfig, type RunConfig } from './config.js';
import { executeRun, runDirFor, type RunResult } from './run.js';
import { UserError } from '../util/errors.js';
import type { ProgressReporter } from '../util/progress.js';

export interface GridSpec {
  models: string[];
  triggers: string[];
  rates: number[];
  seeds: number[];
  configFile?: string;
  /** key=value overrides and flag values, nested (e.g. { train: { epochs: 5 } }). */
  overrides?: Record<string, unknown>;
}

/** A config section given on the command line as a mapping, with one key set (e.g. the trigger's name). */
export function withKey(section: unknown, what: string, key: string, value: unknown): Record<string, unknown> {
  if (section === undefined || section === null) return { [key]: value };
  if (typeof section !== 'object' || Array.isArray(section)) throw new UserError(`config section "${what}" must be a mapping; to set one value write ${what}.name=… or ${what}.<key>=…`);
  return { ...(section as Record<string, unknown>), [key]: value };
}

/** Every combination of the grid as a resolved config; names and values are validated before anything runs. */
export function expandGrid(grid: GridSpec): RunConfig[] {
  const configs: RunConfig[] = [];
  for (const model of grid.models) {
    for (const trigger of grid.triggers) {
      for (const rate of grid.rates) {
        for (const seed of grid.seeds) {
          const base = grid.overrides ?? {};
          const overrides = {
            ...base,
            model: withKey(base.model, 'model', 'name', model),
            trigger: withKey(base.trigger, 'trigger', 'name', trigger),
            poison: withKey(base.poison, 'poison', 'rate', rate),
            seed,
          };
          configs.push(resolveRunConfig({ configFile: grid.configFile, overrides }));
        }
      }
    }
  }
  return configs;
}

export interface BatchOutcome {
  results: RunResult[];
  failures: { dir: string; error: string }[];
}

/**
 * Runs configs one after another. A run that fails on bad input (a UserError) stops the batch, since every
 * other run would fail the same way; any other failure is recorded and the batch goes on.
 */
export async function runBatch(
  configs: RunConfig[],
  options: { runsDir: string; force?: boolean; progress: ProgressReporter; resumeFrom?: string },
): Promise<BatchOutcome> {
  const { progress } = options;
  const results: RunResult[] = [];
  const failures: BatchOutcome['failures'] = [];
  progress.start(configs.length);
  for (const config of configs) {
    const label = runDirFor('', config).replace(/^[\\/]/, '');
    progress.begin(label);
    try {
      const result = await executeRun(config, { runsDir: options.runsDir, force: options.force, resumeFrom: options.resumeFrom, log: (line) => progress.detail(line) });
      results.push(result);
      const m = result.metrics;
      const summary = `AUROC ${m.clean.auroc.toFixed(3)}` + (m.attack ? `, ASR ${m.attack.asr.toFixed(3)}` : '');
      progress.end(label, result.status === 'skipped' ? `skipped (complete): ${summary}` : `${summary} (${result.seconds.toFixed(1)} s)`, true);
    } catch (err) {
      progress.end(label, `failed: ${(err as Error).message}`, false);
      if (err instanceof UserError) {
        progress.finish();
        throw err;
      }
      failures.push({ dir: runDirFor(options.runsDir, config), error: (err as Error).stack ?? String(err) });
    }
  }
  progress.finish();
  return { results, failures };
}
