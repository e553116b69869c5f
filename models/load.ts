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
import { type ModelFile, pickModelFiles } from "./file_set.ts";
import { FAMILIES } from "./registry.ts";

export type { LoadedModel, LoadOptions, LoadProgress };

/**
 * Loads a model directory: one `*.safetensors` weight file, a tokenizer
 * (`tokenizer.json`, or a World-format `*.txt` vocabulary; else the family's
 * default) and an optional `config.json`. The family is detected from them.
 */
export async function loadModel(dir: string, options: LoadOptions = {}): Promise<LoadedModel> {
  const files = await listDir(dir);
  const picked = pickModelFiles(dir, files);
  const bytes = await readWithProgress(`${dir}/${picked.weights}`, options.onProgress);
  return await assembleModel({
    where: dir,
    weights: { name: picked.weights, bytes },
    config: picked.config ? await readJsonObject(`${dir}/${picked.config}`) : undefined,
    tokenizer: picked.tokenizer ? await readJson(`${dir}/${picked.tokenizer}`, JSON.parse) : undefined,
    tokenizerConfig: picked.tokenizerConfig
      ? await readJsonObject(`${dir}/${picked.tokenizerConfig}`)
      : undefined,
    vocab: picked.vocab
      ? { name: picked.vocab, text: await Deno.readTextFile(`${dir}/${picked.vocab}`) }
      : undefined,
    readAsset: (name) => Deno.readTextFile(new URL(`../assets/${name}`, import.meta.url)),
  }, options);
}

/**
 * The files a browser needs to assemble the model of directory `dir` (the model-files route serves
 * them): its weights, config and tokenizer files, plus the family's default vocabulary when the
 * directory has no tokenizer of its own.
 */
export async function modelDirectoryFiles(dir: string, loaded: LoadedModel): Promise<ModelFile[]> {
  const names = await listDir(dir);
  const picked = pickModelFiles(dir, names);
  const file = async (name: string, path: string): Promise<ModelFile> => ({
    name,
    size: (await Deno.stat(path)).size,
    open: async () => (await Deno.open(path, { read: true })).readable,
  });
  const out = await Promise.all(
    Object.values(picked).filter((n): n is string => n !== undefined).map((n) => file(n, `${dir}/${n}`)),
  );
  const fallback = FAMILIES.get(loaded.family)?.defaultVocab;
  if (!picked.tokenizer && !picked.vocab && fallback) {
    out.push(await file(fallback, new URL(`../assets/${fallback}`, import.meta.url).pathname));
  }
  return out;
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
