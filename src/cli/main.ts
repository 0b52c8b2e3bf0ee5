#!/usr/bin/env node
import { Command, Option } from 'commander';
import { UserError } from '../util/errors.js';
import { registerSetup } from './setup.js';
import { registerRunCommands } from './runs.js';
import { registerClean } from './clean.js';
import { registerEvaluate } from './evaluate.js';
import { registerCohort } from './cohort.js';
import { registerDetect } from './detect.js';
import { registerVisualize } from './visualize.js';
import { registerPlugins } from './plugins.js';
import { registerLauncher } from './launch.js';

const program = new Command();
program
  .name('backdoor')
  .description('Reproducible backdoor (data-poisoning) experiments on clinical prediction models')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

registerSetup(program);
registerCohort(program);
registerRunCommands(program);
registerEvaluate(program);
registerDetect(program);
registerVisualize(program);
registerClean(program);
registerPlugins(program);
registerLauncher(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const e = err as Error & { code?: string; exitCode?: number };
  if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') process.exit(0);
  if (e.code?.startsWith('commander.')) process.exit(2);
  if (err instanceof UserError) {
    process.stderr.write(`backdoor: error: ${e.message.split('\n')[0]}\n`);
    process.exit(2);
  }
  process.stderr.write(`backdoor: internal error: ${e.stack ?? e.message}\n`);
  process.exit(1);
}

export { Option };
