/**
 * Models served from an R2 bucket (the `MODELS` binding): each name in `R2_MODELS` is a key prefix
 * holding `model.safetensors` and its tokenizer (`vocab.txt`, or `tokenizer.json` with
 * `tokenizer_config.json`) and optionally `config.json`, as `deno task quantize` or a model
 * directory lays them out. A model is assembled from those bytes by the runtime-neutral
 * `assembleModel`, unless what it needs (the weight file held in the isolate plus the WASM memory
 * it asks for) would pass the isolate's memory budget: then it is refused with a message, checked
 * before its weights are read when the file alone is too large.
 *
 * @module
 */

import { isQuantized, type QuantFormat } from "../kernels/mod.ts";
import {
  assembleModel,
  backendSize,
  FAMILIES,
  type LoadedModel,
  type ModelFile,
  type ModelSource,
  parseSafetensors,
} from "../models/mod.ts";

/** The parts of an R2 object this file reads. */
export interface R2ObjectLike {
  readonly size: number;
  arrayBuffer(): Promise<ArrayBuffer>;
  text(): Promise<string>;
}

/** The parts of an R2 bucket binding this file uses. */
export interface R2BucketLike {
  get(key: string): Promise<R2ObjectLike | null>;
  head(key: string): Promise<{ readonly size: number } | null>;
}

/** The files a model's prefix may hold, the weights first. */
const FILES = [
  "model.safetensors",
  "config.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "vocab.txt",
];

/** State slots per model on Workers (sessions decoding in one step). */
export const WORKER_SLOTS = 4;

/** A model refused because it would not fit the isolate's memory budget (HTTP 503). */
export class ModelTooLargeError extends Error {
  /** Names the model, what it needs and the budget left. */
  constructor(
    model: string,
    neededBytes: number,
    leftBytes: number,
    budgetBytes: number,
  ) {
    const mb = (n: number) => (n / 1e6).toFixed(1);
    super(
      `Model "${model}" needs ~${mb(neededBytes)} MB (its weight file plus WASM memory) but only ${
        mb(leftBytes)
      } MB of the isolate's ${
        mb(budgetBytes)
      } MB budget (MEMORY_BUDGET_MB) are left: serve it quantized (deno task quantize ... --weights q4) or on Deno`,
    );
    this.name = "ModelTooLargeError";
  }
}

/**
 * Bytes a model of `source` takes in an isolate (the weight file held plus the WASM memory it asks
 * for), and the format to load it in: `weights`, unless the file is stored quantized (its own).
 */
export function modelFootprint(
  source: ModelSource,
  weights?: QuantFormat,
): { bytes: number; weights?: QuantFormat } {
  const tensors = parseSafetensors(source.weights.bytes, source.weights.name);
  if ([...tensors.values()].some((t) => isQuantized(t.dtype))) {
    weights = undefined;
  }
  const spec = [...FAMILIES.values()].find((s) => s.detect(tensors, source.config));
  // An unknown family fails in assembleModel with its own message; count only the file here.
  if (!spec) return { bytes: source.weights.bytes.byteLength, weights };
  const wasm = backendSize(spec, tensors, {
    chunk: 64,
    slots: WORKER_SLOTS,
    config: source.config,
    weights,
  });
  return { bytes: source.weights.bytes.byteLength + wasm.capacity, weights };
}

/** Options of {@linkcode loadR2Model}. */
export interface R2LoadOptions {
  /** Bytes of the budget still free. */
  readonly leftBytes: number;
  /** The whole budget (for the message). */
  readonly budgetBytes: number;
  /** Quantize as it loads (WEIGHTS); a file stored quantized keeps its own format. */
  readonly weights?: QuantFormat;
}

/** A model from R2, what it takes of the budget, and its files (read again from R2 when downloaded). */
export interface R2Model {
  readonly loaded: LoadedModel;
  readonly bytes: number;
  readonly files: ModelFile[];
}

/**
 * Assembles model `name` from `bucket`: ModelTooLargeError if it would pass the budget left,
 * Error naming the key when its weights are missing.
 */
export async function loadR2Model(
  bucket: R2BucketLike,
  name: string,
  options: R2LoadOptions,
): Promise<R2Model> {
  const key = (file: string) => `${name}/${file}`;
  const head = await bucket.head(key("model.safetensors"));
  if (!head) {
    throw new Error(
      `R2_MODELS names "${name}" but the bucket has no ${
        key("model.safetensors")
      }: upload it (npx wrangler r2 object put ...)`,
    );
  }
  if (head.size > options.leftBytes) {
    throw new ModelTooLargeError(
      name,
      head.size,
      options.leftBytes,
      options.budgetBytes,
    );
  }
  const [weights, config, tokenizer, tokenizerConfig, vocab] = await Promise
    .all(FILES.map((f) => bucket.get(key(f))));
  const json = async (o: R2ObjectLike | null) => o ? JSON.parse(await o.text()) : undefined;
  const source: ModelSource = {
    where: name,
    weights: {
      name: "model.safetensors",
      bytes: new Uint8Array(await weights!.arrayBuffer()),
    },
    config: await json(config),
    tokenizer: await json(tokenizer),
    tokenizerConfig: await json(tokenizerConfig),
    vocab: vocab ? { name: "vocab.txt", text: await vocab.text() } : undefined,
  };
  const { bytes, weights: format } = modelFootprint(source, options.weights);
  if (bytes > options.leftBytes) {
    throw new ModelTooLargeError(
      name,
      bytes,
      options.leftBytes,
      options.budgetBytes,
    );
  }
  const loaded = await assembleModel(source, {
    id: name,
    threads: 1,
    slots: WORKER_SLOTS,
    weights: format,
  });
  const files: ModelFile[] = [];
  for (
    const [i, object] of [weights, config, tokenizer, tokenizerConfig, vocab]
      .entries()
  ) {
    if (!object) continue;
    const file = FILES[i];
    const open = async () => new Uint8Array(await (await bucket.get(key(file)))!.arrayBuffer());
    files.push({ name: file, size: object.size, open });
  }
  return { loaded, bytes, files };
}
