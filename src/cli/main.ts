#!/usr/bin/env node
import { buildProgram } from "./program.js";

const [major] = process.versions.node.split(".").map(Number);
if ((major ?? 0) < 22) {
  console.error(`lossbalance needs Node.js 22 or newer (this is ${process.version}); run it through npm scripts, which use the project's Node 22.`);
  process.exit(1);
}

/** Settings of the synthetic experiment used by `toy` and `compare` (see README, "The regime"). */
export { experimentDefaults } from "./program.js";

try {
  await buildProgram().parseAsync(process.argv);
} catch (e) {
  const message = e instanceof Error ? e.message : String(e);
  console.error(message.startsWith("lossbalance") ? message : `lossbalance: ${message}`);
  process.exit(1);
}
