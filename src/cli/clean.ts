import { Command } from 'commander';
import { createInterface } from 'node:readline/promises';
import { executeClean, planClean, type CleanTargets } from '../experiments/outputs.js';
import { defaultOutDir } from '../report/index.js';
import { UserError } from '../util/errors.js';

interface CleanFlags {
  runsDir?: string;
  dataDir?: string;
  reportDir?: string;
  runsOnly: boolean;
  dataOnly: boolean;
  dryRun: boolean;
  yes: boolean;
}

/**
 * Which folders a clean touches. With no folder flag: runs/, the report made from it and data/. With --runs-dir X:
 * X and the report made from X only (data too when --data-dir is also given); with --data-dir only: that data folder.
 */
export function cleanTargets(flags: CleanFlags): CleanTargets {
  if (flags.runsOnly && flags.dataOnly) throw new UserError('--runs-only and --data-only exclude each other; give at most one');
  const noFolderFlag = flags.runsDir === undefined && flags.dataDir === undefined && flags.reportDir === undefined;
  if (flags.dataOnly) return { dataDir: flags.dataDir ?? 'data' };
  const targets: CleanTargets = {};
  if (flags.runsDir !== undefined || flags.reportDir !== undefined || noFolderFlag) {
    targets.runsDir = flags.runsDir ?? 'runs';
    if (!flags.runsOnly) targets.reportDir = flags.reportDir ?? defaultOutDir(targets.runsDir);
  }
  if (!flags.runsOnly && (flags.dataDir !== undefined || noFolderFlag)) targets.dataDir = flags.dataDir ?? 'data';
  return targets;
}

export function registerClean(program: Command): void {
  program
    .command('clean')
    .description(
      'Remove what the project made: run folders, the report made from them, and generated data. Only folders carrying the ' +
        "project's marker are touched, and in a data folder only the files the project wrote; a folder without a marker is refused",
    )
    .option('--runs-dir <dir>', 'runs folder (default: runs); alone, only it and the report made from it are cleaned')
    .option('--data-dir <dir>', 'data folder (default: data)')
    .option('--report-dir <dir>', 'report folder written by visualize (default: the report folder visualize makes for the runs folder: report, or report-X for runs folder X)')
    .option('--runs-only', 'remove only run folders (not the report, not data)', false)
    .option('--data-only', 'remove only generated data', false)
    .option('--dry-run', 'list what would be removed and remove nothing', false)
    .option('-y, --yes', 'do not ask for confirmation', false)
    .action(async (flags: CleanFlags) => {
      const targets = cleanTargets(flags);
      const plan = await planClean(targets);
      const where = [targets.runsDir, targets.reportDir, targets.dataDir].filter((d) => d !== undefined).join(', ');
      for (const note of plan.notes) process.stdout.write(`note: ${note}\n`);
      if (plan.remove.length === 0) {
        process.stdout.write('Nothing to remove.\n');
        return;
      }
      if (flags.dryRun) {
        process.stdout.write(`Would remove ${plan.remove.length} item(s) from ${where}:\n`);
        for (const entry of plan.remove) process.stdout.write(`  ${entry}\n`);
        return;
      }
      if (!flags.yes) {
        if (!process.stdin.isTTY) throw new UserError('clean would remove files but cannot ask for confirmation here; pass --yes (or --dry-run to list them)');
        const rl = createInterface({ input: process.stdin, output: process.stdout });
        const answer = await rl.question(`Remove ${plan.remove.length} item(s) from ${where}? [y/N] `);
        rl.close();
        if (!/^y(es)?$/i.test(answer.trim())) {
          process.stdout.write('Nothing removed.\n');
          return;
        }
      }
      await executeClean(plan, targets.dataDir);
      process.stdout.write(`Removed ${plan.remove.length} item(s) from ${where}.\n`);
    });
}
