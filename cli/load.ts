import type { BackendName } from "../kernels/mod.ts";
import { type LoadedModel, loadModel } from "../models/mod.ts";
import { withProgress } from "./progress.ts";

/**
 * Loads a model showing elapsed time on a terminal (a load can take seconds of silence) and
 * one line when done: id, family, backend and time.
 */
export async function loadWithProgress(
  dir: string,
  options: { backend?: BackendName; threads?: number } = {},
): Promise<LoadedModel> {
  return await withProgress(
    `loading ${dir}`,
    () => loadModel(dir, options),
    (loaded, ms) =>
      `loaded ${loaded.id} (${loaded.family}, ${loaded.model.backend.name} backend) in ${ms} ms`,
  );
}
