/** Option checks shared by the tree optimizers; each names the optimizer, the option and its allowed range. */

export function checkPositive(opt: string, name: string, value: number): void {
  if (!(Number.isFinite(value) && value > 0)) throw new Error(`${opt}: ${name} must be a finite number > 0 (got ${value})`);
}

export function checkNonNegative(opt: string, name: string, value: number): void {
  if (!(Number.isFinite(value) && value >= 0)) throw new Error(`${opt}: ${name} must be a finite number ≥ 0 (got ${value})`);
}

/** 0 ≤ value < 1 (Adam's betas). */
export function checkBeta(opt: string, name: string, value: number): void {
  if (!(value >= 0 && value < 1)) throw new Error(`${opt}: ${name} must be in [0, 1) (got ${value})`);
}

/** 0 ≤ value ≤ 1 (SGD's dampening). */
export function checkUnit(opt: string, name: string, value: number): void {
  if (!(value >= 0 && value <= 1)) throw new Error(`${opt}: ${name} must be in [0, 1] (got ${value})`);
}
