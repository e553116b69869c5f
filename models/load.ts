import { type BackendName, createBackend, wasmThreadsSupported } from "../kernels/mod.ts";
import { HuggingFaceTokenizer, type Tokenizer, WorldTokenizer } from "../tokenizers/mod.ts";
import { ModelLoadError } from "./errors.ts";
import { parsePythonJson } from "./formats/python_json.ts";
import { parseSafetensors } from "./formats/safetensors.ts";
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
  /** The checkpoint's own chat template (Jinja, from tokenizer_config.json), if it has one. */
  readonly chatTemplate?: { readonly source: string; readonly bosToken?: string; readonly eosToken?: string };
}

/** Options of {@linkcode loadModel}. */
export interface LoadOptions {
  /** Kernel backend (default: the fastest available). */
  backend?: BackendName;
  /** Tokens per prefill chunk, and most rows of one step (default 64). */
  chunk?: number;
  /** State slots in backend memory: sessions that can decode in one step (default 16). */
  slots?: number;
  /** The model's id (default: the directory name). */
  id?: string;
  /** Told what the load is doing: bytes of the weight file read so far, then each later stage. */
  onProgress?: (progress: LoadProgress) => void;
  /**
   * Kernel threads (WASM backend). Default: 1 for models under 64 MB of weights (too small to
   * gain), else every core the runtime reports.
   */
  threads?: number;
}

/** Where a load is: reading the weight file (`done` of `total` bytes), then the later stages. */
export interface LoadProgress {
  readonly stage: "read" | "weights" | "tokenizer" | "fingerprint";
  /** Bytes read so far (the read stage; 0 for the others). */
  readonly done: number;
  /** Bytes of the weight file. */
  readonly total: number;
}

const ASSETS = new URL("../assets/", import.meta.url);

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
  const total = bytes.byteLength;
  const tensors = parseSafetensors(bytes, weights[0]);
  const config = files.includes("config.json") ? await readJsonObject(`${dir}/config.json`) : undefined;
  const found = [...FAMILIES].find(([, spec]) => spec.detect(tensors, config));
  if (!found) {
    const names = [...tensors.keys()].slice(0, 5).join(", ");
    throw new ModelLoadError(
      `${dir}: not a known model family (tensors ${names}…); supported: ${[...FAMILIES.keys()].join(", ")}`,
    );
  }
  const [family, spec] = found;
  const chatTemplate = files.includes("tokenizer_config.json")
    ? readChatTemplate(await readJsonObject(`${dir}/tokenizer_config.json`))
    : undefined;
  const chunk = options.chunk ?? 64;
  const big = bytes.byteLength >= 64 * 1024 * 1024 && wasmThreadsSupported();
  const threads = options.threads ?? (big ? Math.max(1, navigator.hardwareConcurrency ?? 1) : 1);
  const slots = options.slots ?? DEFAULT_SLOTS;
  const size = backendSize(spec, tensors, { chunk, slots, config });
  // Runtimes that define Worker but refuse WASM threads (some edge platforms) fall back to one thread.
  const backend = await createBackend({ ...size, threads }, options.backend).catch((err) => {
    if (threads === 1 || options.threads !== undefined) throw err;
    console.warn(`${threads} kernel threads unavailable (${(err as Error).message}); using 1`);
    return createBackend({ ...size, threads: 1 }, options.backend);
  });
  let model: RecurrentModel, tokenizer: Tokenizer;
  try {
    options.onProgress?.({ stage: "weights", done: 0, total });
    model = createRecurrentModel({ ...spec.model(tensors, backend, config), backend, chunk, slots });
    options.onProgress?.({ stage: "tokenizer", done: 0, total });
    const picked = await loadTokenizer(dir, files, spec.defaultVocab);
    tokenizer = picked.tokenizer;
    checkVocab(dir, model.info.vocabSize, tokenizer.vocabSize, picked.source);
  } catch (err) {
    backend.close();
    throw err;
  }
  options.onProgress?.({ stage: "fingerprint", done: 0, total });
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const fingerprint = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
  const id = options.id ?? dir.replace(/\/+$/, "").split("/").pop()!;
  return { id, family, model, tokenizer, fingerprint, chatTemplate };
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

// The tokenizer, and what it came from (for messages).
async function loadTokenizer(
  dir: string,
  files: string[],
  defaultVocab?: string,
): Promise<{ tokenizer: Tokenizer; source: string }> {
  if (files.includes("tokenizer.json")) {
    const config = files.includes("tokenizer_config.json")
      ? await readJsonObject(`${dir}/tokenizer_config.json`)
      : {};
    const tokenizer = new HuggingFaceTokenizer(await readJson(`${dir}/tokenizer.json`, JSON.parse), config);
    return { tokenizer, source: "tokenizer.json" };
  }
  const vocab = files.filter((f) => f.endsWith(".txt") && /vocab/i.test(f));
  if (vocab.length > 0) {
    const tokenizer = new WorldTokenizer(await Deno.readTextFile(`${dir}/${vocab[0]}`), vocab[0]);
    return { tokenizer, source: vocab[0] };
  }
  if (defaultVocab) {
    const tokenizer = new WorldTokenizer(
      await Deno.readTextFile(new URL(defaultVocab, ASSETS)),
      defaultVocab,
    );
    return { tokenizer, source: `the default vocabulary ${defaultVocab}, as the directory has none` };
  }
  throw new ModelLoadError(`${dir}: no tokenizer.json or vocabulary .txt found`);
}

// Every id the tokenizer can produce must index the embedding. More rows than ids is fine (vocabularies
// padded to a multiple of 8 or 64, e.g. Mamba's 50280 rows for GPT-NeoX's 50277 ids); fewer is not.
function checkVocab(dir: string, rows: number, ids: number, source: string): void {
  if (ids <= rows) return;
  throw new ModelLoadError(
    `The model in ${dir} has ${rows} embedding rows but its tokenizer (${source}) has ${ids} ids: ` +
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
