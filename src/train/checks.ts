import { tree } from "@jax-js/jax";

export * from "./observation.js";

/**
 * Runs `f` (which may return a promise); if it throws or rejects, frees `owned` — what the step made
 * and would otherwise hand on — before passing the error on. A trainer step is all or nothing.
 */
export function freeOnError<R>(owned: unknown, f: () => R): R {
  const fail = (e: unknown): never => {
    tree.dispose(owned as never);
    throw e;
  };
  let result: R;
  try {
    result = f();
  } catch (e) {
    return fail(e);
  }
  return result instanceof Promise ? (result.catch(fail) as R) : result;
}
