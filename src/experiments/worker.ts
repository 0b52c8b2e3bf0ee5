/** A sweep worker process: runs the configs its parent sends, one at a time, with its own TF.js engine. */
import { executeRunWithDetection } from './run-with-detection.js';
import { UserError } from '../util/errors.js';
import type { WorkerReply, WorkerRequest } from './batch.js';

function reply(msg: WorkerReply): void {
  process.send?.(msg);
}

process.on('message', (msg: WorkerRequest) => {
  if (msg.type !== 'run') return;
  executeRunWithDetection(msg.config, { runsDir: msg.runsDir, force: msg.force, log: (line) => reply({ type: 'log', line }), notice: (line) => reply({ type: 'note', line }), step: (done, total, unit) => reply({ type: 'step', done, total, unit }) }, msg.detection)
    .then((result) => reply({ type: 'done', result }))
    .catch((err: Error) => reply({ type: 'error', message: err.message, stack: err.stack ?? '', userError: err instanceof UserError }));
});
process.on('disconnect', () => process.exit(0));
