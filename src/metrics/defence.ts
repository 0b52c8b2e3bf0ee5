/**
 * Defence Effectiveness Rate as BackdoorBench defines it (Wu et al. 2022, NeurIPS Datasets & Benchmarks):
 * DER = [max(0, ΔASR) − max(0, ΔACC) + 1] / 2, ΔASR = ASR_before − ASR_after, ΔACC = ACC_before − ACC_after, in
 * [0, 1]; 0.5 = no effect. BackdoorBench's own utils/metric.py (defense_effectiveness_rate) adds max(0, ΔACC)
 * instead of subtracting it, rewarding a defence for destroying clean accuracy; this is the paper's formula.
 */
export function defenceEffectivenessRate(asrBefore: number, asrAfter: number, accBefore: number, accAfter: number): number {
  return (Math.max(0, asrBefore - asrAfter) - Math.max(0, accBefore - accAfter) + 1) / 2;
}
