/** The library API behind the CLI: every command is a thin shell over these. */
export * from './data/cohort.js';
export * from './data/parquet.js';
export * from './data/splits.js';
export * from './data/setup.js';
export * from './data/features/index.js';
export { generateSynthetic, SYNTHETIC_DEFAULTS } from './data/sources/synthetic.js';
export { syntheticSchema } from './data/sources/synthetic-schema.js';
export * from './triggers/types.js';
export * from './triggers/registry.js';
export * from './triggers/poison.js';
export * from './models/types.js';
export * from './models/registry.js';
export { hasAttention, type AttentionModel } from './models/tabtransformer.js';
export * from './train/trainer.js';
export * from './metrics/index.js';
export * from './engine/index.js';
export * from './experiments/config.js';
export * from './experiments/dataset.js';
export * from './experiments/run.js';
export * from './experiments/batch.js';
export { DETECTORS, detectorNames, getDetector } from './detectors/registry.js';
export {
  runDetection,
  defend,
  inputFromRun,
  detectionSummaryColumns,
  detectionSummaryColumnNames,
  defenceEffectivenessRate,
  DETECTION_DIR,
  DETECTION_FILES,
  type DetectionOptions,
  type DetectionRunResult,
  type MethodResult,
  type DefenceReport,
} from './detectors/run-detection.js';
export type { Detector, DetectionInput, DetectorOutput } from './detectors/types.js';
export { UserError } from './util/errors.js';
export { buildReport } from './report/index.js';
