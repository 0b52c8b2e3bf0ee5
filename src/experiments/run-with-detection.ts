import type { RunConfig } from './config.js';
import { executeRun, type RunOptions, type RunResult } from './run.js';
import { runDetectionLocked } from './detection.js';
import { detectorParamsHash, missingDetection } from '../runs/detection-records.js';
import { getDetector, mergeDetectorParams, withReferenceDetectors } from '../detectors/registry.js';
import { removeOrphans, runDirFor } from '../runs/layout.js';
import { acquireRunLock } from '../runs/lock.js';
import { markRunsFolder } from '../util/markers.js';

export interface DetectionStep {
  detectors: string[];
  defend: boolean;
  /** The detectors were chosen as `all`: methods that do not apply to the run's model are skipped, not refused. */
  implicit?: boolean;
}

/** Without poisoned rows there is nothing to defend against. */
export function defendsRun(step: DetectionStep, config: RunConfig): boolean {
  return step.defend && config.poison.rate > 0;
}

/**
 * The requested detectors, and the reference detectors always run beside them, whose outputs are not all in place in
 * a finished run folder, or were computed with parameters other than the defaults a sweep runs them with.
 */
export async function detectionToDo(dir: string, step: DetectionStep | undefined, config: RunConfig): Promise<string[]> {
  if (!step || step.detectors.length === 0) return [];
  const methods = withReferenceDetectors(step.detectors);
  const hashes = Object.fromEntries(methods.map((m) => [m, detectorParamsHash(getDetector(m).resolve(mergeDetectorParams(m)))]));
  return missingDetection(dir, methods, defendsRun(step, config), hashes);
}

/**
 * One run and, if asked, its detection, under the run's lock (a second process on the same run waits, then
 * finds it complete). A run is complete only with every requested detection output in place: a rerun trains
 * nothing that is finished and finishes whatever detection is missing. Leftovers of killed attempts are removed.
 */
export async function executeRunWithDetection(config: RunConfig, options: RunOptions, detection?: DetectionStep): Promise<RunResult> {
  const dir = runDirFor(options.runsDir, config);
  // Marked before the lock makes the run's parent folders, or they would be listed as the user's (clean keeps those).
  await markRunsFolder(options.runsDir);
  const lock = await acquireRunLock(dir, options.notice ?? options.log);
  try {
    await removeOrphans(dir);
    const result = await executeRun(config, options);
    if (detection && detection.detectors.length > 0) {
      const defend = defendsRun(detection, config);
      const missing = options.force ? detection.detectors : await detectionToDo(result.dir, detection, config);
      if (missing.length > 0) {
        options.log?.(`detection: ${missing.join(', ')}${defend ? ' with defence' : ''}`);
        await runDetectionLocked(result.dir, { methods: missing, implicit: detection.implicit, defend, backend: config.backend, log: options.log });
      }
    }
    return result;
  } finally {
    await lock.release();
  }
}
