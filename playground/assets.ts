/**
 * The Deno adapter of the playground: reads the page, its built bundles and the WASM kernels from
 * this checkout, for `createApp`'s `playground` (the Workers entry bundles the same files).
 *
 * @module
 */

import type { Playground, PlaygroundAsset } from "../routes/mod.ts";

const root = new URL("../", import.meta.url);
const FILES: Record<string, { path: string; type: string }> = {
  "app.js": { path: "playground/dist/app.js", type: "text/javascript; charset=utf-8" },
  "local_worker.js": { path: "playground/dist/local_worker.js", type: "text/javascript; charset=utf-8" },
  "kernels.wasm": { path: "kernels/wasm/kernels.wasm", type: "application/wasm" },
  "kernels_baseline.wasm": { path: "kernels/wasm/kernels_baseline.wasm", type: "application/wasm" },
};

/** The playground's page and files, read once. */
export async function readPlayground(): Promise<Playground> {
  const assets = new Map<string, PlaygroundAsset>();
  for (const [name, { path, type }] of Object.entries(FILES)) {
    assets.set(name, { body: await Deno.readFile(new URL(path, root)), type });
  }
  return { page: await Deno.readTextFile(new URL("playground/page.html", root)), assets };
}
