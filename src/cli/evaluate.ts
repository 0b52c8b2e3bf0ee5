import { Command } from 'commander';
import { evaluateRun } from '../experiments/evaluate.js';
import { triggerNames } from '../triggers/registry.js';

export function registerEvaluate(program: Command): void {
  program
    .command('evaluate')
    .description("Recompute every metric of a finished run from its saved model, config and data; optionally on another trigger or data file")
    .requiredOption('--run-dir <dir>', 'a finished run folder, e.g. runs/mlp/rare_value/0.01/seed_0')
    .option('--checkpoint <epoch|dir>', 'evaluate the weights of a kept checkpoint (an epoch number or a checkpoint folder) instead of the saved model (the epoch train.select chose: best or last)')
    .option('--trigger <name>', `evaluate this trigger instead of the run's own, its defaults resolved on the run's training split (valid: ${triggerNames().join(', ')})`)
    .option('--data <file>', "another cohort Parquet file, keeping the run's trigger parameters (default: the run's own data)")
    .option('--splits <file>', 'splits for --data (default: splits.json beside the file; without one every stay of the file is a test stay)')
    .option('--reresolve-trigger', "with --data: resolve the trigger's configured parameters on the other file instead of keeping the run's", false)
    .option('--json', 'print the result as JSON on stdout', false)
    .action(async (flags: { runDir: string; checkpoint?: string; trigger?: string; data?: string; splits?: string; reresolveTrigger: boolean; json: boolean }) => {
      const result = await evaluateRun(flags.runDir, flags);
      for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
      if (flags.json) {
        process.stdout.write(JSON.stringify(result, null, 2) + '\n');
        return;
      }
      const { clean, attack } = result.evaluation;
      const f = (x: number) => x.toFixed(4);
      process.stdout.write(`${result.runDir} on ${result.data}${result.checkpoint ? ` (checkpoint ${result.checkpoint})` : ''}: ${result.test_set} test set, ${result.n_test} stays, ${result.n_events} events\n`);
      process.stdout.write(`  clean: AUROC ${f(clean.auroc)}  AUPRC ${f(clean.auprc)}  accuracy ${f(clean.accuracy)}  Brier ${f(clean.brier)}  ECE ${f(clean.ece)}  F1 ${f(clean.f1)} @ ${clean.threshold}\n`);
      if (attack) process.stdout.write(`  ${result.trigger} ${JSON.stringify(result.trigger_params)}: ASR ${f(attack.asr)}  confidence shift ${f(attack.confidence_shift)}  acc_poison ${f(attack.acc_poison)}  (n ${attack.n_triggered})\n`);
      if (result.matchesSaved !== null) process.stdout.write(`  matches metrics.json: ${result.matchesSaved ? 'yes' : 'NO'}\n`);
      if (result.matchesSaved === false) process.exitCode = 1;
    });
}
