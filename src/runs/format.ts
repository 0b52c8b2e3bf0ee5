import { UserError } from '../util/errors.js';

/**
 * Version of the run-folder records, written as `format_version` into run_metadata.json. Runs written before the
 * field existed read as version 0; their records have the same shape (version 1 added only the detection manifest).
 */
export const RUN_FORMAT_VERSION = 1;

/** The version a run's metadata declares (0 when absent); a newer or malformed one is refused. */
export function checkFormatVersion(metadata: { format_version?: unknown }, dir: string): number {
  const v = metadata.format_version;
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new UserError(`${dir}: run format_version ${JSON.stringify(v)} is not a version number; this build reads versions 0 to ${RUN_FORMAT_VERSION}`);
  if (v > RUN_FORMAT_VERSION) throw new UserError(`${dir}: run format_version ${v} is newer than this build reads (0 to ${RUN_FORMAT_VERSION}); update backdoor`);
  return v;
}
