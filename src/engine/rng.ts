import seedrandom from 'seedrandom';

/**
 * The one seeded random source of the project. Every random choice (data, splits, poison
 * selection, initialization, shuffling, dropout) takes an Rng derived from the run seed with
 * `deriveRng(seed, purpose...)`, so streams for different purposes never interfere and adding
 * a draw in one place does not shift the numbers in another.
 */
export class Rng {
  private readonly prng: seedrandom.StatefulPRNG<seedrandom.State.Xor4096>;
  private spareNormal: number | null = null;

  constructor(seed: string | number, state?: RngState) {
    // xor4096 has a long period and exposes its state, which checkpoints need for exact resume.
    this.prng = seedrandom.xor4096(String(seed), { state: state ? state.prng : true });
    if (state) this.spareNormal = state.spareNormal;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.prng.double();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  bernoulli(p: number): boolean {
    return this.next() < p;
  }

  /** Standard normal by the Marsaglia polar method. */
  normal(mean = 0, sd = 1): number {
    if (this.spareNormal !== null) {
      const z = this.spareNormal;
      this.spareNormal = null;
      return mean + sd * z;
    }
    let u: number, v: number, s: number;
    do {
      u = 2 * this.next() - 1;
      v = 2 * this.next() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const f = Math.sqrt((-2 * Math.log(s)) / s);
    this.spareNormal = v * f;
    return mean + sd * u * f;
  }

  /** In-place Fisher–Yates shuffle. */
  shuffle<T>(items: T[] | Int32Array | Uint32Array): typeof items {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp as never;
    }
    return items;
  }

  /** A permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    this.shuffle(p);
    return p;
  }

  /** k distinct items drawn without replacement, in draw order. */
  sample(population: ArrayLike<number>, k: number): number[] {
    if (k > population.length) throw new Error(`cannot sample ${k} of ${population.length} items`);
    const pool = Array.from(population);
    for (let i = 0; i < k; i++) {
      const j = i + this.int(pool.length - i);
      const tmp = pool[i];
      pool[i] = pool[j];
      pool[j] = tmp;
    }
    return pool.slice(0, k);
  }

  state(): RngState {
    return { prng: this.prng.state(), spareNormal: this.spareNormal };
  }
}

export interface RngState {
  prng: seedrandom.State.Xor4096;
  spareNormal: number | null;
}

/** An independent stream for one purpose of one run, e.g. deriveRng(seed, 'poison'). */
export function deriveRng(seed: string | number, ...purpose: (string | number)[]): Rng {
  return new Rng([seed, ...purpose].join('/'));
}

/** A 31-bit integer seed derived from the run seed, for APIs that take a numeric seed. */
export function deriveIntSeed(seed: string | number, ...purpose: (string | number)[]): number {
  return deriveRng(seed, ...purpose).int(2 ** 31 - 1);
}
