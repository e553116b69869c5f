/**
 * Which files of a model directory a model is assembled from, picked by name, and reading them
 * into a {@linkcode ModelSource} through any reader: the file system on Deno (`load.ts`), `fetch`
 * in a browser (the playground's local engine). Runtime-neutral.
 *
 * @module
 */

import type { ModelSource } from "./assemble.ts";
import { ModelLoadError } from "./errors.ts";
import { parsePythonJson } from "./formats/python_json.ts";

/** The files of a model directory that matter, by role. */
export interface ModelFileNames {
  /** The one `*.safetensors` weight file. */
  readonly weights: string;
  readonly config?: string;
  readonly tokenizer?: string;
  readonly tokenizerConfig?: string;
  /** A World-format vocabulary (`*.txt` with "vocab" in its name). */
  readonly vocab?: string;
}

/** One file of a served model: what the model-files route streams to browsers. */
export interface ModelFile {
  /** The file's name in the model directory (or the family's default vocabulary's name). */
  readonly name: string;
  /** Its size in bytes. */
  readonly size: number;
  /** Its bytes, as a stream or all at once. */
  open(): Promise<ReadableStream<Uint8Array> | Uint8Array>;
}

/** Picks a model's files from a directory listing; ModelLoadError unless there is exactly one weight file. */
export function pickModelFiles(where: string, names: readonly string[]): ModelFileNames {
  const weights = names.filter((f) => f.endsWith(".safetensors"));
  if (weights.length !== 1) {
    const found = weights.length ? weights.join(", ") : "none";
    throw new ModelLoadError(
      `${where}: expected exactly one .safetensors file, found ${found} (convert a .pth with deno task convert)`,
    );
  }
  const has = (name: string) => names.includes(name) ? name : undefined;
  return {
    weights: weights[0],
    config: has("config.json"),
    tokenizer: has("tokenizer.json"),
    tokenizerConfig: has("tokenizer_config.json"),
    vocab: names.find((f) => f.endsWith(".txt") && /vocab/i.test(f)),
  };
}

/**
 * Reads a model's files through `read` (by name) into a source for `assembleModel`. A listing
 * without a tokenizer may carry the family's default vocabulary under its own name (the
 * model-files route adds it), which is then read as the default asset.
 */
export async function readModelSource(
  where: string,
  names: readonly string[],
  read: (name: string) => Promise<Uint8Array<ArrayBuffer>>,
): Promise<ModelSource> {
  const picked = pickModelFiles(where, names);
  const text = async (name: string) => new TextDecoder().decode(await read(name));
  const object = async (name: string) => {
    const value = parsePythonJson(await text(name));
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new ModelLoadError(`${where}/${name}: expected a JSON object`);
    }
    return value as Record<string, unknown>;
  };
  return {
    where,
    weights: { name: picked.weights, bytes: await read(picked.weights) },
    config: picked.config ? await object(picked.config) : undefined,
    tokenizer: picked.tokenizer ? JSON.parse(await text(picked.tokenizer)) : undefined,
    tokenizerConfig: picked.tokenizerConfig ? await object(picked.tokenizerConfig) : undefined,
    vocab: picked.vocab ? { name: picked.vocab, text: await text(picked.vocab) } : undefined,
    readAsset: (name) => text(name),
  };
}
