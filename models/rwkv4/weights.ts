import { rwkv4StateSize } from "./state.ts";
import type { Backend, Matrix, MatrixDType } from "../../kernels/mod.ts";
import { ModelLoadError } from "../errors.ts";
import type { TensorMap } from "../formats/tensor.ts";
import { configNumber, type ModelConfig } from "../shared/config.ts";
import { hostMatrix, type NormParams, tensorBytes, TensorReader } from "../shared/weights.ts";

/** RWKV-4 dimensions, from config.json (HF `RwkvConfig`) checked against the tensor shapes. */
export interface Rwkv4Dims {
  readonly nLayer: number;
  readonly nEmbd: number;
  /** attention_hidden_size: width of the WKV channels. */
  readonly att: number;
  /** intermediate_size: channel-mix hidden width. */
  readonly ffn: number;
  readonly vocab: number;
  readonly eps: number;
  /** Halve the residual stream after every this many blocks (0: never), as HF does at inference. */
  readonly rescaleEvery: number;
}

/** One RWKV-4 block. Matrices are `[out][in]`. */
export interface Rwkv4Layer {
  readonly ln1: NormParams;
  readonly ln2: NormParams;
  readonly att: {
    readonly decay: Float32Array; // [A] -exp(time_decay)
    readonly first: Float32Array; // [A] time_first (the bonus for the current token)
    readonly mixK: Float32Array; // [C]
    readonly mixV: Float32Array; // [C]
    readonly mixR: Float32Array; // [C]
    readonly key: Matrix; // [A][C]
    readonly value: Matrix; // [A][C]
    readonly receptance: Matrix; // [A][C]
    readonly output: Matrix; // [C][A]
  };
  readonly ffn: {
    readonly mixK: Float32Array; // [C]
    readonly mixR: Float32Array; // [C]
    readonly key: Matrix; // [F][C]
    readonly receptance: Matrix; // [C][C]
    readonly value: Matrix; // [C][F]
  };
}

/** All weights of an RWKV-4 model. */
export interface Rwkv4Weights {
  readonly dims: Rwkv4Dims;
  readonly dtype: MatrixDType;
  readonly emb: Matrix; // [vocab][C], host memory
  readonly preLn: NormParams;
  readonly layers: readonly Rwkv4Layer[];
  readonly lnOut: NormParams;
  readonly head: Matrix; // [vocab][C]
}

/** Whether a checkpoint is HF's RwkvForCausalLM (by config or tensor names). */
export function isRwkv4(tensors: TensorMap, config: Record<string, unknown> | undefined): boolean {
  const arch = config?.architectures;
  if (Array.isArray(arch) && arch.includes("RwkvForCausalLM")) return true;
  return tensors.has("rwkv.blocks.0.attention.time_first");
}

const num = (config: ModelConfig, key: string, fallback: number) => configNumber(config, key) ?? fallback;

/** Dimensions from config.json, defaulting to what the tensor shapes say. */
export function rwkv4Dims(tensors: TensorMap, config: Record<string, unknown> | undefined): Rwkv4Dims {
  const t = new TensorReader(tensors, "RWKV-4");
  const [vocab, nEmbd] = t.get("rwkv.embeddings.weight").shape;
  let layers = 0;
  while (t.has(`rwkv.blocks.${layers}.ln1.weight`)) layers++;
  const dims: Rwkv4Dims = {
    nLayer: num(config, "num_hidden_layers", layers),
    nEmbd: num(config, "hidden_size", nEmbd),
    att: num(config, "attention_hidden_size", t.get("rwkv.blocks.0.attention.time_first").shape[0]),
    ffn: num(config, "intermediate_size", t.get("rwkv.blocks.0.feed_forward.key.weight").shape[0]),
    vocab: num(config, "vocab_size", vocab),
    eps: num(config, "layer_norm_epsilon", 1e-5),
    rescaleEvery: num(config, "rescale_every", 6),
  };
  if (dims.nLayer !== layers) {
    throw new ModelLoadError(`config.json says ${dims.nLayer} layers but the checkpoint has ${layers}`);
  }
  if (dims.vocab !== vocab || dims.nEmbd !== nEmbd) {
    throw new ModelLoadError(
      `config.json says vocab ${dims.vocab} × hidden ${dims.nEmbd}, rwkv.embeddings.weight is [${vocab}, ${nEmbd}]`,
    );
  }
  return dims;
}

/** Backend bytes and widest matrix for these weights plus buffers of `chunk` tokens. */
export function rwkv4Footprint(tensors: TensorMap, chunk: number, config?: Record<string, unknown>) {
  const d = rwkv4Dims(tensors, config);
  const weightBytes = tensorBytes(tensors);
  const buffers = chunk * (13 * Math.max(d.nEmbd, d.att) + d.ffn) * 4 + d.vocab * 8 +
    (3 + 2 * d.nLayer) * d.att * 4;
  return {
    capacity: weightBytes + buffers + (1 << 20),
    maxCols: Math.max(d.nEmbd, d.att, d.ffn),
    stateFloats: rwkv4StateSize(d),
    vocab: d.vocab,
  };
}

/** Validates an HF RWKV-4 checkpoint and places its matrices in `backend`. */
export function loadRwkv4Weights(
  tensors: TensorMap,
  backend: Backend,
  config: Record<string, unknown> | undefined,
): Rwkv4Weights {
  const t = new TensorReader(tensors, "RWKV-4");
  const dims = rwkv4Dims(tensors, config);
  const { nEmbd: C, att: A, ffn: F } = dims;
  const layers: Rwkv4Layer[] = [];
  for (let i = 0; i < dims.nLayer; i++) {
    const b = `rwkv.blocks.${i}.`;
    const m = (name: string, rows: number, cols: number) => backend.matrix(t.matrix(b + name, rows, cols));
    layers.push({
      ln1: t.norm(b + "ln1", C, dims.eps),
      ln2: t.norm(b + "ln2", C, dims.eps),
      att: {
        decay: t.vector(b + "attention.time_decay", A).map((w) => -Math.exp(w)),
        first: t.vector(b + "attention.time_first", A),
        mixK: t.vector(b + "attention.time_mix_key", C),
        mixV: t.vector(b + "attention.time_mix_value", C),
        mixR: t.vector(b + "attention.time_mix_receptance", C),
        key: m("attention.key.weight", A, C),
        value: m("attention.value.weight", A, C),
        receptance: m("attention.receptance.weight", A, C),
        output: m("attention.output.weight", C, A),
      },
      ffn: {
        mixK: t.vector(b + "feed_forward.time_mix_key", C),
        mixR: t.vector(b + "feed_forward.time_mix_receptance", C),
        key: m("feed_forward.key.weight", F, C),
        receptance: m("feed_forward.receptance.weight", C, C),
        value: m("feed_forward.value.weight", C, F),
      },
    });
  }
  const emb = t.matrix("rwkv.embeddings.weight", dims.vocab, C);
  const head = t.has("head.weight") ? t.matrix("head.weight", dims.vocab, C) : emb;
  return {
    dims,
    dtype: emb.dtype,
    emb: hostMatrix(emb),
    preLn: t.norm("rwkv.blocks.0.pre_ln", C, dims.eps),
    layers,
    lnOut: t.norm("rwkv.ln_out", C, 1e-5),
    head: backend.matrix(head),
  };
}
