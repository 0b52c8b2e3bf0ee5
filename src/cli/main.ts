#!/usr/bin/env node
import { Command, Option } from 'commander';
import { UserError, capMessage, environmentError } from '../util/errors.js';
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

/**
 * The one failure path: a user error is one capped line and exit 2, anything else a bug report and exit 1. It must
 * not itself throw (a thrown non-Error, a getter that throws, a closed stderr), so every step is guarded.
 */
function fail(err: unknown): never {
  let code = 1;
  let line = 'backdoor: internal error: (unprintable error)\n';
  try {
    const e = err as { code?: unknown; message?: unknown; stack?: unknown } | null;
    const commanderCode = typeof e?.code === 'string' ? e.code : '';
    if (commanderCode === 'commander.helpDisplayed' || commanderCode === 'commander.version' || commanderCode === 'commander.help') process.exit(0);
    if (commanderCode.startsWith('commander.')) process.exit(2);
    // The reader of our output went away (`backdoor … | head -1`): nothing is wrong and nobody is listening.
    if (isBrokenPipe(err)) process.exit(0);
    const userError = err instanceof UserError ? err : environmentError(err);
    if (userError) {
      code = 2;
      line = `backdoor: error: ${capMessage(userError.message)}\n`;
    } else {
      const stack = String((err instanceof Error && err.stack) || err);
      const firstLine = stack.indexOf('\n');
      line = `backdoor: internal error: ${capMessage(stack)}${firstLine < 0 ? '' : stack.slice(firstLine)}\n`;
    }
  } catch {
    // Keep the fallback line.
  }
  try {
    process.stderr.write(line);
  } catch {
    // Nowhere left to report; the exit code still tells.
  }
  process.exit(code);
}

function isBrokenPipe(err: unknown): boolean {
  const e = err as { code?: unknown } | null;
  return typeof e === 'object' && e !== null && e.code === 'EPIPE';
}

// A closed stdout pipe surfaces as an 'error' event on the stream; without a listener it becomes an uncaught exception.
process.stdout.on('error', fail);
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  fail(err);
}

export { Option };
