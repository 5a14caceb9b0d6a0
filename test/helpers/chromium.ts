import { chromium, type Browser } from "playwright-core";

/** The system's Chromium (Debian's `chromium` package), or the path in CHROMIUM. */
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/**
 * Flags known to work here in headless mode: no sandbox, no background traffic, WebGL through ANGLE on
 * SwiftShader, and WebGPU on SwiftShader's Vulkan (no GPU here; the GPU process must stay on, so no
 * --disable-gpu).
 */
export const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--use-angle=swiftshader",
  "--enable-unsafe-swiftshader",
  "--enable-unsafe-webgpu",
  "--enable-features=Vulkan",
  "--use-vulkan=swiftshader",
  "--use-webgpu-adapter=swiftshader",
];

/** Headless Chromium through playwright-core (no browser download). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, headless: true, timeout: 30_000 });
}
