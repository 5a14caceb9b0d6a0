import * as tf from "@tensorflow/tfjs-core";
import { TfjsModelError } from "./graph.js";

/**
 * Kernels the backward pass of a layer class needs beyond the common ones. The `wasm` backend registers
 * no Conv2DBackpropFilter (tfjs#8474), so a convolutional model cannot train there.
 */
const backwardKernels: Readonly<Record<string, readonly string[]>> = {
  Conv1D: ["Conv2DBackpropFilter", "Conv2DBackpropInput"],
  Conv2D: ["Conv2DBackpropFilter", "Conv2DBackpropInput"],
  Conv2DTranspose: ["Conv2DBackpropFilter", "Conv2D"],
  Conv3D: ["Conv3DBackpropFilterV2", "Conv3DBackpropInputV2"],
  DepthwiseConv2D: ["DepthwiseConv2dNativeBackpropFilter", "DepthwiseConv2dNativeBackpropInput"],
  SeparableConv2D: ["DepthwiseConv2dNativeBackpropFilter", "DepthwiseConv2dNativeBackpropInput", "Conv2DBackpropFilter"],
  MaxPooling2D: ["MaxPoolGrad"],
  AveragePooling2D: ["AvgPoolGrad"],
};

/** The backends registered in this process that have `kernel`. */
function backendsWith(kernel: string): string[] {
  const engine = tf.engine() as unknown as { registryFactory: Record<string, unknown> };
  return Object.keys(engine.registryFactory ?? {}).filter((b) => tf.getKernel(kernel, b) !== undefined);
}

function missingKernelMessage(kernel: string, backend: string, layer?: string): string {
  const elsewhere = backendsWith(kernel);
  return (
    `the TF.js backend '${backend}' has no kernel ${kernel}${layer ? `, which training a ${layer} layer needs` : ""}; ` +
    `train on a backend that has it: ${elsewhere.length ? elsewhere.join(", ") : "cpu"} here, webgl or webgpu in browsers, or tensorflow (@tensorflow/tfjs-node)`
  );
}

/** Refuses, before any step, a model whose layers need a backward kernel the active backend lacks. */
export function checkBackend(layerClasses: readonly string[]): void {
  const backend = tf.getBackend();
  for (const cls of layerClasses) {
    for (const k of backwardKernels[cls] ?? []) {
      if (tf.getKernel(k, backend) === undefined) throw new TfjsModelError(missingKernelMessage(k, backend, cls));
    }
  }
}

/** TF.js's "Kernel 'X' not registered for backend 'Y'" turned into an error that names where X exists. */
export function explainKernelError(e: unknown): unknown {
  const m = e instanceof Error ? /Kernel '(\w+)' not registered for backend '(\w+)'/.exec(e.message) : null;
  return m ? new TfjsModelError(missingKernelMessage(m[1]!, m[2]!)) : e;
}
