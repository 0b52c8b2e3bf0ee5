/** Series are stored as float32: helpers that keep a value exactly representable and inside its bounds. */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The next float32 after `x` (a float32) in the direction of `dir` (+1 or -1). */
export function nextFloat32(x: number, dir: 1 | -1): number {
  if (x === 0) return dir * 2 ** -149;
  f32[0] = x;
  // Stepping the bit pattern moves away from zero for positives and towards zero for negatives.
  if (x > 0 === dir > 0) u32[0] += 1;
  else u32[0] -= 1;
  return f32[0];
}

/**
 * The float32 nearest to x that still lies inside [lo, hi]. A value clamped in float64 could round just past a
 * plausible bound (e.g. 14.2 °C) once written as float32.
 */
export function clampFloat32(x: number, lo: number, hi: number): number {
  let v = Math.fround(Math.min(hi, Math.max(lo, x)));
  if (v > hi) v = nextFloat32(v, -1);
  if (v < lo) v = nextFloat32(v, 1);
  return v;
}
