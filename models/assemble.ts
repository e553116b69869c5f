/**
 * Assembles a servable model from its files' contents, whatever fetched them: a directory on
 * Deno (`load.ts`), a bundled module or an R2 object on Workers, `fetch` in a browser. Nothing
 * here touches a file system: runtime-neutral.
 *
 * @module
 */

import {
  type BackendName,
  chooseBackend,
  createBackend,
  isQuantized,
  type MatrixDType,
  type PrefillForm,
  type QuantFormat,
  wasmThreadsSupported,
} from "../kernels/mod.ts";
import { type QuantizedCount, quantizingBackend, withQuantizedEmbedding } from "./quantize.ts";
import { HuggingFaceTokenizer, type Tokenizer, WorldTokenizer } from "../tokenizers/mod.ts";
import { ModelLoadError } from "./errors.ts";
import { parseSafetensors } from "./formats/safetensors.ts";
import type { TensorMap } from "./formats/tensor.ts";
import { backendSize, FAMILIES } from "./registry.ts";
import { createRecurrentModel, DEFAULT_SLOTS } from "./shared/runner.ts";
import type { Family, RecurrentModel } from "./types.ts";

/** A model ready to serve: weights on a backend, its tokenizer, and what identifies it. */
export interface LoadedModel {
  /** The name clients use (the directory's base name unless given). */
  readonly id: string;
  /** The detected model family. */
  readonly family: Family;
  /** The model, its weights on a kernel backend. */
  readonly model: RecurrentModel;
  /** The directory's tokenizer. */
  readonly tokenizer: Tokenizer;
  /** SHA-256 (hex) of the weight file: a saved state is only valid for this exact model. */
  readonly fingerprint: string;
  /** The format its matrices were quantized into (`--weights`); absent: the checkpoint's precision. */
  readonly weights?: QuantFormat;
  /** Why `--backend auto` chose the backend it did (absent when one was named). */
  readonly backendChoice?: string;
  /** With `weights`: the multiplied weights placed, and how many of them were quantized. */
  readonly quantized?: QuantizedCount;
  /** The checkpoint's own chat template (Jinja, from tokenizer_config.json), if it has one. */
  readonly chatTemplate?: { readonly source: string; readonly bosToken?: string; readonly eosToken?: string };
}

/** Options of {@linkcode assembleModel} (and of the directory loader). */
export interface LoadOptions {
  /** Kernel backend (default: the fastest CPU one); "auto" adds WebGPU where it passes a self-check. */
  backend?: BackendName | "auto";
  /** Tokens per prefill chunk, and most rows of one step (default 64). */
  chunk?: number;
  /** State slots in backend memory: sessions that can decode in one step (default 16). */
  slots?: number;
  /** The model's id (default: the last segment of where it came from). */
  id?: string;
  /** Quantize the multiplied matrices as they load (models/quantize.ts); default: the checkpoint's precision. */
  weights?: QuantFormat;
  /** Told what the load is doing: bytes of the weight file read so far, then each later stage. */
  onProgress?: (progress: LoadProgress) => void;
  /**
   * Kernel threads (WASM backend). Default: 1 for models under 64 MB of weights (too small to
   * gain), else every core the runtime reports.
   */
  threads?: number;
  /** How WebGPU runs a prefill's long runs where the family has a chunked form (default: timed, the faster). */
  prefill?: PrefillForm;
}

/** Where a load is: reading the weight file (`done` of `total` bytes), then the later stages. */
export interface LoadProgress {
  readonly stage: "read" | "weights" | "tokenizer" | "fingerprint";
  /** Bytes read so far (the read stage; 0 for the others). */
  readonly done: number;
  /** Bytes of the weight file. */
  readonly total: number;
}

/** A model's files, already read: what {@linkcode assembleModel} builds from. */
export interface ModelSource {
  /** Where the files came from, for messages and the default id (a directory, a URL, a key). */
  readonly where: string;
  /** The safetensors weight file: its name and bytes. */
  readonly weights: { readonly name: string; readonly bytes: Uint8Array<ArrayBuffer> };
  /** config.json, parsed. */
  readonly config?: Record<string, unknown>;
  /** tokenizer.json, parsed (a Hugging Face tokenizer; preferred over a vocabulary). */
  readonly tokenizer?: unknown;
  /** tokenizer_config.json, parsed (the tokenizer's options and the chat template). */
  readonly tokenizerConfig?: Record<string, unknown>;
  /** A World-format vocabulary: its file name and text. */
  readonly vocab?: { readonly name: string; readonly text: string };
  /** Reads one of the project's own assets by name: the family's default vocabulary, when the source has no tokenizer. */
  readonly readAsset?: (name: string) => Promise<string>;
}

/** Builds a model from its files' contents: detects the family, places the weights, reads the tokenizer. */
export async function assembleModel(source: ModelSource, options: LoadOptions = {}): Promise<LoadedModel> {
  const { where, config } = source;
  const bytes = source.weights.bytes;
  const total = bytes.byteLength;
  const tensors = parseSafetensors(bytes, source.weights.name);
  const found = [...FAMILIES].find(([, spec]) => spec.detect(tensors, config));
  if (!found) {
    const names = [...tensors.keys()].slice(0, 5).join(", ");
    throw new ModelLoadError(
      `${where}: not a known model family (tensors ${names}…); supported: ${[...FAMILIES.keys()].join(", ")}`,
    );
  }
  const [family, spec] = found;
  const chatTemplate = source.tokenizerConfig ? readChatTemplate(source.tokenizerConfig) : undefined;
  const chunk = options.chunk ?? 64;
  const big = total >= 64 * 1024 * 1024 && wasmThreadsSupported();
  const threads = options.threads ?? (big ? Math.max(1, navigator.hardwareConcurrency ?? 1) : 1);
  const slots = options.slots ?? DEFAULT_SLOTS;
  // A checkpoint `deno task quantize` wrote is in its format already (its matrices stored quantized;
  // those it could not store so, such as a tied head, are quantized here as they load).
  const stored = [...tensors.values()].find((t) => isQuantized(t.dtype))?.dtype as QuantFormat | undefined;
  if (stored && options.weights && options.weights !== stored) {
    throw new ModelLoadError(
      `${where}: its weights are stored as ${stored}; load it without --weights or as ${stored}`,
    );
  }
  const weights = options.weights ?? stored;
  const size = backendSize(spec, tensors, { chunk, slots, config, weights });
  // Runtimes that define Worker but refuse WASM threads (some edge platforms) fall back to one thread.
  const choice = options.backend === "auto"
    ? await chooseBackend({ formats: matrixFormats(tensors, weights), recurrence: spec.recurrence })
    : undefined;
  const backendName = choice?.name ?? (options.backend as BackendName | undefined);
  const prefill = options.prefill;
  const backend = await createBackend({ ...size, threads, prefill }, backendName).catch((err) => {
    if (threads === 1 || options.threads !== undefined) throw err;
    console.warn(`${threads} kernel threads unavailable (${(err as Error).message}); using 1`);
    return createBackend({ ...size, threads: 1, prefill }, backendName);
  });
  let model: RecurrentModel, tokenizer: Tokenizer;
  const quantized: QuantizedCount = { weights: 0, quantized: 0 };
  try {
    options.onProgress?.({ stage: "weights", done: 0, total });
    const placing = weights ? quantizingBackend(backend, weights, quantized) : backend;
    const placed = weights ? withQuantizedEmbedding(tensors, spec.embedding, weights) : tensors;
    model = createRecurrentModel({ ...spec.model(placed, placing, config), backend, chunk, slots });
    options.onProgress?.({ stage: "tokenizer", done: 0, total });
    const picked = await pickTokenizer(source, spec.defaultVocab);
    tokenizer = picked.tokenizer;
    checkVocab(where, model.info.vocabSize, tokenizer.vocabSize, picked.source);
  } catch (err) {
    backend.close();
    throw err;
  }
  options.onProgress?.({ stage: "fingerprint", done: 0, total });
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const fingerprint = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
  const id = options.id ?? where.replace(/\/+$/, "").split("/").pop()!;
  return {
    id,
    family,
    model,
    tokenizer,
    fingerprint,
    chatTemplate,
    weights,
    quantized: weights ? quantized : undefined,
    backendChoice: choice?.why,
  };
}

// The formats of the matrices a backend will multiply: the checkpoint's 2-D tensors' (a superset),
// and the one they are quantized into.
function matrixFormats(tensors: TensorMap, weights?: QuantFormat): MatrixDType[] {
  const formats = new Set<MatrixDType>();
  for (const t of tensors.values()) if (t.shape.length === 2) formats.add(t.dtype);
  if (weights) formats.add(weights);
  return [...formats];
}

// The tokenizer, and what it came from (for messages).
async function pickTokenizer(
  source: ModelSource,
  defaultVocab?: string,
): Promise<{ tokenizer: Tokenizer; source: string }> {
  if (source.tokenizer !== undefined) {
    const tokenizer = new HuggingFaceTokenizer(source.tokenizer, source.tokenizerConfig ?? {});
    return { tokenizer, source: "tokenizer.json" };
  }
  if (source.vocab) {
    return { tokenizer: new WorldTokenizer(source.vocab.text, source.vocab.name), source: source.vocab.name };
  }
  if (defaultVocab && source.readAsset) {
    const tokenizer = new WorldTokenizer(await source.readAsset(defaultVocab), defaultVocab);
    return { tokenizer, source: `the default vocabulary ${defaultVocab}, as the directory has none` };
  }
  throw new ModelLoadError(`${source.where}: no tokenizer.json or vocabulary .txt found`);
}

// Every id the tokenizer can produce must index the embedding. More rows than ids is fine (vocabularies
// padded to a multiple of 8 or 64, e.g. Mamba's 50280 rows for GPT-NeoX's 50277 ids); fewer is not.
function checkVocab(where: string, rows: number, ids: number, source: string): void {
  if (ids <= rows) return;
  throw new ModelLoadError(
    `The model in ${where} has ${rows} embedding rows but its tokenizer (${source}) has ${ids} ids: ` +
      `put the checkpoint's own vocabulary .txt or tokenizer.json beside its weights`,
  );
}

// tokenizer_config.json: chat_template is a string, or a list of {name, template} ("default" first).
function readChatTemplate(config: Record<string, unknown>): LoadedModel["chatTemplate"] {
  let source = config.chat_template;
  if (Array.isArray(source)) {
    const named = source as { name?: string; template?: string }[];
    source = (named.find((t) => t.name === "default") ?? named[0])?.template;
  }
  if (typeof source !== "string" || source === "") return undefined;
  const token = (
    v: unknown,
  ) => (typeof v === "string" ? v : (v as { content?: string } | undefined)?.content);
  return { source, bosToken: token(config.bos_token), eosToken: token(config.eos_token) };
}
