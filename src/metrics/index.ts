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
export { rankingMetrics, targetClassDetectionMetrics } from './detection.js';
export type { RankingMetrics, FlagRuleMetrics, TargetClassDetection, TargetClassDetectionInput } from './detection.js';
export { normalCdf, normalQuantile, studentTCdf, studentTQuantile } from './distributions.js';
export { midranks, delongComponents, delongCovariance, delongVarianceParts, satterthwaiteDf, aurocVariance, delongTest } from './delong.js';
export type { AurocCovariance, DelongTest } from './delong.js';
export { seedTestInterval, seedTestPValues, aurocSeedInterval, metricSeedInterval, bootstrapTestSetCovariance, twoStageBootstrap } from './intervals.js';
export type { SeedPredictions, RowMetric, SeedTestInterval, SeedTestOptions, TwoStageBootstrapInterval, IntervalOptions, BootstrapOptions } from './intervals.js';
export { EQUIVALENCE_ALPHA, DEFAULT_AUROC_MARGIN, tost, pairedAurocDifferences, aurocEquivalence } from './equivalence.js';
export type { EquivalenceVerdict, TostResult, PairedScores } from './equivalence.js';
export { balancedAccuracy, aurocUtilityLoss, defenceEffectivenessRate, defenceEffect, beatsControl, BEATS_CONTROL_RULE, CONTROL_ASR_MARGIN } from './defence.js';
export type { DefenceOutcome, DefenceEffect } from './defence.js';
export { cleanMatchKey, netAsr } from './net-asr.js';
export type { CleanMatchFields, CleanBaseline, NetAsr } from './net-asr.js';
