/**
 * Seeded, counter-based random numbers, so that any draw is a pure function of
 * (seed, counter): balancer states stay plain data and runs reproduce exactly.
 * The mixer is SplitMix32-style (Math.imul avalanche); uniform floats have 32 random bits.
 */
export function hash32(seed: number, counter: number): number {
  let z = (Math.imul(seed | 0, 0x9e3779b9) + Math.imul(counter | 0, 0x85ebca6b) + 0x6d2b79f5) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  z ^= z >>> 15;
  return z >>> 0;
}

/** Uniform in [0, 1). */
export function uniformAt(seed: number, counter: number): number {
  return hash32(seed, counter) / 4294967296;
}

/** Standard normal via Box–Muller from draws 2k and 2k+1. */
export function normalAt(seed: number, counter: number): number {
  const u1 = 1 - uniformAt(seed, 2 * counter); // (0, 1]
  const u2 = uniformAt(seed, 2 * counter + 1);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** A stateful stream over the counter-based generator, for bulk data generation. */
export class Rng {
  /**
   * A stream from draw `counter` on (default 0): `new Rng(s, k)` continues where a stream of seed s
   * that has made k draws stands (a uniform or a normal is one draw; `permutation(n)` makes n − 1).
   */
  constructor(
    readonly seed: number,
    private counter = 0,
  ) {}
  /** Draws made so far (the counter of the next one). */
  get position(): number {
    return this.counter;
  }
  uniform(): number {
    return uniformAt(this.seed, this.counter++);
  }
  normal(): number {
    return normalAt(this.seed, this.counter++);
  }
  /** Fills a Float32Array with N(mean, std²) samples. */
  normals(n: number, std = 1, mean = 0): Float32Array<ArrayBuffer> {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = mean + std * this.normal();
    return out;
  }
  /** Fills a Float32Array with U(lo, hi) samples. */
  uniforms(n: number, lo: number, hi: number): Float32Array<ArrayBuffer> {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * this.uniform();
    return out;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }
  /** Fisher–Yates permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i]!;
      p[i] = p[j]!;
      p[j] = t;
    }
    return p;
  }
}

/** Derives an independent seed for a named sub-stream. */
export function deriveSeed(seed: number, label: string): number {
  let h = seed | 0;
  for (let i = 0; i < label.length; i++) h = hash32(h, label.charCodeAt(i));
  return h;
}
