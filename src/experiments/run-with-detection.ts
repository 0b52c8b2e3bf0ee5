import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { RunConfig } from './config.js';
import { executeRun, type RunOptions, type RunResult } from './run.js';
import { runDetection } from '../detectors/run-detection.js';

export interface DetectionStep {
  detectors: string[];
  defend: boolean;
}

/** One run and, if asked, its detection (skipped when its results are already in the folder). */
export async function executeRunWithDetection(config: RunConfig, options: RunOptions, detection?: DetectionStep): Promise<RunResult> {
  const result = await executeRun(config, options);
  if (detection && detection.detectors.length > 0) {
    const missing = detection.detectors.filter(
      (m) => options.force || !existsSync(join(result.dir, 'detection', `${m}.json`)) || (detection.defend && config.poison.rate > 0 && !existsSync(join(result.dir, 'detection', `defence_${m}.json`))),
    );
    if (missing.length > 0) {
      options.log?.(`detection: ${missing.join(', ')}${detection.defend ? ' with defence' : ''}`);
      await runDetection(result.dir, { methods: missing, defend: detection.defend && config.poison.rate > 0, backend: config.backend });
    }
  }
  return result;
}

