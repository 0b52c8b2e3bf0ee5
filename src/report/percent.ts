/** A poison rate as a percentage, 0.01 → 1, without float noise (0.07·100 = 7.000000000000001). */
function ratePercent(rate: number): number {
  return Number((rate * 100).toPrecision(8));
}

/** A poison rate as the report prints it: 0.01 → "1%" (run folders name rates "0.01"). */
export function percentLabel(rate: number): string {
  return `${ratePercent(rate)}%`;
}
