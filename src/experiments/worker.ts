/** A sweep worker process: runs the configs its parent sends, one at a time, with its own TF.js engine. */
import { executeRunWithDetection } from './run-with-detection.js';
import { UserError, environmentError } from '../util/errors.js';
import type { WorkerReply, WorkerRequest } from './batch.js';

function reply(msg: WorkerReply): void {
  process.send?.(msg);
}

process.on('message', (msg: WorkerRequest) => {
  if (msg.type !== 'run') return;
  executeRunWithDetection(msg.config, { runsDir: msg.runsDir, force: msg.force, log: (line) => reply({ type: 'log', line }), notice: (line) => reply({ type: 'note', line }), step: (done, total, unit) => reply({ type: 'step', done, total, unit }) }, msg.detection)
    .then((result) => reply({ type: 'done', result }))
    .catch((err: Error) => {
      const userError = err instanceof UserError ? err : environmentError(err);
      reply({ type: 'error', message: (userError ?? err).message, stack: userError ? '' : (err.stack ?? ''), userError: userError !== null });
    });
});
process.on('disconnect', () => process.exit(0));
