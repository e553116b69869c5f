import type { BackendName, QuantFormat } from "../kernels/mod.ts";
import { type LoadedModel, loadModel, type LoadOptions, type LoadProgress } from "../models/mod.ts";
import { Progress } from "./progress.ts";

const STAGES: Record<Exclude<LoadProgress["stage"], "read">, string> = {
  weights: "placing the weights",
  tokenizer: "reading the tokenizer",
  fingerprint: "fingerprinting the weights",
};

/**
 * Shows a model load on stderr: megabytes of the weight file read, with rate and ETA, then each
 * later stage with its elapsed time (one line each when stderr is not a terminal). `end` clears
 * the line; the caller prints what was loaded.
 */
export function loadProgress(dir: string): { onProgress: (p: LoadProgress) => void; end: () => void } {
  let line: Progress | undefined;
  let stage = "";
  let shownMB = 0;
  const timer = setInterval(() => line?.refresh(), 200);
  const end = () => {
    clearInterval(timer);
    line?.clear();
  };
  return {
    onProgress(p) {
      if (p.stage !== stage) {
        line?.clear();
        stage = p.stage;
        line = p.stage === "read"
          ? new Progress(`loading ${dir}: reading`, { total: Math.round(p.total / 1e6), unit: "MB" })
          : new Progress(`loading ${dir}: ${STAGES[p.stage]}`);
      }
      if (p.stage === "read") {
        const mb = Math.round(p.done / 1e6);
        if (mb > shownMB) line!.tick(mb - shownMB);
        shownMB = mb;
      }
    },
    end,
  };
}

/** Loads a model showing its progress (see {@linkcode loadProgress}), then one line: id, family, backend, time. */
export async function loadWithProgress(
  dir: string,
  options: { backend?: BackendName; threads?: number; weights?: QuantFormat } = {},
): Promise<LoadedModel> {
  const started = performance.now();
  const shown = loadProgress(dir);
  let loaded: LoadedModel;
  try {
    loaded = await loadModel(dir, { ...options, onProgress: shown.onProgress } satisfies LoadOptions);
  } finally {
    shown.end();
  }
  const ms = Math.round(performance.now() - started);
  console.error(`loaded ${loaded.id} (${loaded.family}, ${loaded.model.backend.name} backend) in ${ms} ms`);
  return loaded;
}
