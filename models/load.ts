/**
 * The Deno adapter of model loading: reads a model directory from the file system and hands its
 * contents to the runtime-neutral {@linkcode assembleModel}. The only file in `models/` that
 * touches `Deno` (tools/check_layers.ts enforces it).
 *
 * @module
 */

import { assembleModel, type LoadedModel, type LoadOptions, type LoadProgress } from "./assemble.ts";
import { ModelLoadError } from "./errors.ts";
import { parsePythonJson } from "./formats/python_json.ts";

export type { LoadedModel, LoadOptions, LoadProgress };

/**
 * Loads a model directory: one `*.safetensors` weight file, a tokenizer
 * (`tokenizer.json`, or a World-format `*.txt` vocabulary; else the family's
 * default) and an optional `config.json`. The family is detected from them.
 */
export async function loadModel(dir: string, options: LoadOptions = {}): Promise<LoadedModel> {
  const files = await listDir(dir);
  const weights = files.filter((f) => f.endsWith(".safetensors"));
  if (weights.length !== 1) {
    const found = weights.length ? weights.join(", ") : "none";
    throw new ModelLoadError(
      `${dir}: expected exactly one .safetensors file, found ${found} (convert a .pth with deno task convert)`,
    );
  }
  const bytes = await readWithProgress(`${dir}/${weights[0]}`, options.onProgress);
  const has = (name: string) => files.includes(name);
  const vocab = files.find((f) => f.endsWith(".txt") && /vocab/i.test(f));
  return await assembleModel({
    where: dir,
    weights: { name: weights[0], bytes },
    config: has("config.json") ? await readJsonObject(`${dir}/config.json`) : undefined,
    tokenizer: has("tokenizer.json") ? await readJson(`${dir}/tokenizer.json`, JSON.parse) : undefined,
    tokenizerConfig: has("tokenizer_config.json")
      ? await readJsonObject(`${dir}/tokenizer_config.json`)
      : undefined,
    vocab: vocab ? { name: vocab, text: await Deno.readTextFile(`${dir}/${vocab}`) } : undefined,
    readAsset: (name) => Deno.readTextFile(new URL(`../assets/${name}`, import.meta.url)),
  }, options);
}

// The whole file, read in 16 MB pieces so a caller can show how far it got.
async function readWithProgress(
  path: string,
  onProgress?: (p: LoadProgress) => void,
): Promise<Uint8Array<ArrayBuffer>> {
  if (!onProgress) return await Deno.readFile(path);
  using file = await Deno.open(path, { read: true });
  const total = (await file.stat()).size;
  const out = new Uint8Array(total);
  let done = 0;
  onProgress({ stage: "read", done, total });
  while (done < total) {
    const n = await file.read(out.subarray(done, Math.min(total, done + (16 << 20))));
    if (n === null) throw new ModelLoadError(`${path} ended after ${done} of ${total} bytes`);
    done += n;
    onProgress({ stage: "read", done, total });
  }
  return out;
}

async function listDir(dir: string): Promise<string[]> {
  try {
    const out: string[] = [];
    for await (const e of Deno.readDir(dir)) if (e.isFile) out.push(e.name);
    return out.sort();
  } catch (cause) {
    throw new ModelLoadError(`Cannot read model directory ${dir}: ${(cause as Error).message}`, { cause });
  }
}

// config.json and tokenizer_config.json are written by Python (bare Infinity, {"__float__": …});
// tokenizer.json by the Rust tokenizers library, plain JSON, often megabytes.
async function readJson(path: string, parse: (text: string) => unknown = parsePythonJson): Promise<unknown> {
  const text = await Deno.readTextFile(path).catch((cause) => {
    throw new ModelLoadError(`Cannot read ${path}: ${(cause as Error).message}`, { cause });
  });
  try {
    return parse(text);
  } catch (cause) {
    throw new ModelLoadError(`${path}: not valid JSON (${(cause as Error).message})`, { cause });
  }
}

async function readJsonObject(path: string): Promise<Record<string, unknown>> {
  const value = await readJson(path);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ModelLoadError(`${path}: expected a JSON object, found ${JSON.stringify(value)?.slice(0, 40)}`);
  }
  return value as Record<string, unknown>;
}
