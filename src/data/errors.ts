/*
 * Errors for data that cannot train correctly, and the cheap host-side checks that raise them (no
 * engine imported here: the jax-js and the TF.js paths share them).
 */
import { TrainingError } from "../train/observation.js";

/**
 * Data that would not train correctly — arrays whose shapes do not fit each other or the model, an
 * empty data set or batch, class labels out of range, row indices past the data — named with what is
 * wrong: the array (its path in the batch, or the output), the shape or value expected and the one
 * found. A {@link TrainingError}, so that code catching a trainer's errors catches these too; never a
 * {@link NonFiniteError}, so a run's `onNonFinite: "skip"` never skips it.
 */
export class DataError extends TrainingError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message);
    this.name = "DataError";
    if (options && "cause" in options) (this as { cause?: unknown }).cause = options.cause;
  }
}

/** A shape as `[2, 32, 100]`. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** Checks that a size (rows, a dimension) is an integer ≥ `min`: a {@link DataError} naming it otherwise. */
export function checkSize(what: string, value: unknown, min = 1): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw new DataError(`${what} must be an integer ≥ ${min}, got ${typeof value === "number" ? value : JSON.stringify(value)}`);
  }
  return value;
}

/**
 * Checks row indices before they are used to copy rows: at least one (an empty batch has no loss), each
 * an integer in [0, count). A typed array copy past the end, or at a fractional index, would silently
 * give zeros or the wrong rows.
 */
export function checkRowIndices(what: string, idx: ArrayLike<number>, count: number): void {
  if (idx.length < 1) throw new DataError(`${what}: an empty batch (no row indices); a batch needs at least one row`);
  for (let b = 0; b < idx.length; b++) {
    const n = idx[b]!;
    if (!Number.isInteger(n) || n < 0 || n >= count) {
      throw new DataError(`${what}: row index ${n} (position ${b} of the batch) is outside the data's rows 0..${count - 1}`);
    }
  }
}

/**
 * Checks integer class labels: each an integer in [0, classes). `labels` is read on the host (a typed
 * array or the values read back from a tensor); `where` names them (an output, a task). Returns nothing;
 * throws a {@link DataError} naming the first bad label and its row.
 */
export function checkClassLabels(where: string, labels: ArrayLike<number>, classes: number): void {
  const range = Number.isFinite(classes) ? `outside 0..${classes - 1} (${classes} classes)` : "not an integer ≥ 0";
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i]!;
    if (!(Number.isInteger(v) && v >= 0 && v < classes)) {
      throw new DataError(`${where}: class label ${v} at row ${i} is ${range}${Number.isInteger(v) || !Number.isFinite(classes) ? "" : "; labels must be integers"}`);
    }
  }
}
