/** Small summary statistics over plain arrays. */
export function mean(xs: readonly number[]): number {
  return xs.reduce((s, x) => s + x, 0) / xs.length;
}

/** Sample standard deviation (n − 1 denominator); NaN for fewer than two values. */
export function sampleStd(xs: readonly number[]): number {
  if (xs.length < 2) return Number.NaN;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1));
}

/** Sample standard deviation (n − 1); 0 for fewer than two values (one seed has no spread to report). */
export function stdOrZero(xs: readonly number[]): number {
  return xs.length < 2 ? 0 : sampleStd(xs);
}

/** The median; NaN for no values. */
export function median(xs: readonly number[]): number {
  const b = [...xs].sort((x, y) => x - y);
  const n = b.length;
  if (n === 0) return Number.NaN;
  return n % 2 ? b[n >> 1]! : (b[n / 2 - 1]! + b[n / 2]!) / 2;
}
