export {
  auroc,
  auprc,
  brier,
  accuracy,
  confusionAt,
  precisionRecallF1,
  chooseThreshold,
  classificationMetrics,
} from './classification.js';
export type { Confusion, PrecisionRecallF1, ThresholdRule, ClassificationMetrics } from './classification.js';
export { ece, reliabilityBins } from './calibration.js';
export type { ReliabilityBin } from './calibration.js';
export { asr, confidenceShift, accPoison, falseTriggerRate, attackMetrics } from './attack.js';
export type { TargetLabel, AttackInputs, AttackMetrics } from './attack.js';
export { detectionMetrics, tprAtFpr } from './detection.js';
export type { DetectionMetrics, DetectionNotApplicable, DetectionResult } from './detection.js';
export { defenceEffectivenessRate } from './defence.js';
