import { Command } from 'commander';
import { createInterface } from 'node:readline/promises';
import { listOutputs, removeOutputs } from '../experiments/outputs.js';
import { UserError } from '../util/errors.js';

export function registerClean(program: Command): void {
  program
    .command('clean')
    .description('Remove generated outputs: run folders and the report, and/or generated data (README files are kept)')
    .option('--runs-dir <dir>', 'runs folder', 'runs')
    .option('--data-dir <dir>', 'data folder', 'data')
    .option('--report-dir <dir>', 'report folder written by visualize', 'report')
    .option('--runs-only', 'remove only run folders', false)
    .option('--data-only', 'remove only generated data', false)
    .option('-y, --yes', 'do not ask for confirmation', false)
    .action(async (flags: { runsDir: string; dataDir: string; reportDir: string; runsOnly: boolean; dataOnly: boolean; yes: boolean }) => {
      if (flags.runsOnly && flags.dataOnly) throw new UserError('--runs-only and --data-only exclude each other; give at most one');
      const dirs = [...(flags.dataOnly ? [] : [flags.runsDir, flags.reportDir]), ...(flags.runsOnly ? [] : [flags.dataDir])];
      const entries = await listOutputs(dirs);
      if (entries.length === 0) {
        process.stdout.write('Nothing to remove.\n');
        return;
      }
      if (!flags.yes) {
        if (!process.stdin.isTTY) throw new UserError('clean would remove files but cannot ask for confirmation here; pass --yes');
        const rl = createInterface({ input: process.stdin, output: process.stdout });
        const answer = await rl.question(`Remove ${entries.length} item(s) from ${dirs.join(' and ')}? [y/N] `);
        rl.close();
        if (!/^y(es)?$/i.test(answer.trim())) {
          process.stdout.write('Nothing removed.\n');
          return;
        }
      }
      await removeOutputs(entries);
      process.stdout.write(`Removed ${entries.length} item(s) from ${dirs.join(' and ')}.\n`);
    });
}
