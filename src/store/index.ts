/** The run store (Node-only: not exported from the package root, which is bundled for browsers). */
export { openStore, defaultStorePath, runStatuses, RunStore, type StoreOptions, type RunInfo, type RecorderOptions, type StepInput, type Recorder, type RunRow, type RunSummary, type StepRow, type EvalRow, type RunStatus } from "./store.js";
export { SCHEMA_VERSION, migrations } from "./schema.js";
export { encodeF32, decodeF32, shortF32, gramianSummary, cosinePairs } from "./codec.js";
export { exportCsv, exportJson, parseCsv } from "./export.js";
export { configHash, canonicalJson, packageVersion, provenance } from "./configHash.js";
