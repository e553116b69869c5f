import { retnetStateSize } from "./state.ts";
import type { Backend, Matrix, MatrixDType } from "../../kernels/mod.ts";
import { ModelLoadError } from "../errors.ts";
import type { TensorMap } from "../formats/tensor.ts";
import { configNumber } from "../shared/config.ts";
import { hostMatrix, tensorBytes, TensorReader } from "../shared/weights.ts";

/** RetNet dimensions: torchscale's `RetNetConfig` fields from config.json, checked against the shapes. */
export interface RetNetDims {
  readonly nLayer: number;
  /** decoder_embed_dim */
  readonly d: number;
  /** decoder_value_embed_dim */
  readonly dv: number;
  readonly heads: number;
  /** key (and query) width per head: d / heads. */
  readonly keyDim: number;
  /** value width per head: dv / heads. */
  readonly headDim: number;
  readonly ffn: number;
  readonly vocab: number;
  readonly eps: number;
  readonly activation: "gelu" | "swish" | "relu";
  /** sqrt(d) unless no_scale_embedding. */
  readonly embedScale: number;
}

/** One RetNet decoder layer (pre-norm). Matrices are `[out][in]`. */
export interface RetNetLayer {
  readonly retentionNorm: Float32Array; // [d]
  readonly q: Matrix; // [d][d]
  readonly k: Matrix; // [d][d]
  readonly v: Matrix; // [dv][d]
  readonly g: Matrix; // [dv][d]
  readonly out: Matrix; // [d][dv]
  readonly ffnNorm: Float32Array; // [d]
  readonly fc1: Matrix; // [ffn][d]
  readonly gate: Matrix; // [ffn][d]
  readonly fc2: Matrix; // [d][ffn]
}

/** All weights of a RetNet decoder. */
export interface RetNetWeights {
  readonly dims: RetNetDims;
  readonly dtype: MatrixDType;
  readonly emb: Matrix; // [vocab][d], host memory
  readonly embNorm: Float32Array | undefined; // layernorm_embedding (RMSNorm), if configured
  readonly layers: readonly RetNetLayer[];
  readonly finalNorm: Float32Array; // [d]
  readonly head: Matrix; // [vocab][d]
  /** [keyDim] rotation frequency of each key channel (pairs share one). */
  readonly angle: Float32Array;
  /** [heads] per-head decay γ = 1 - 2^(-5-h). */
  readonly decay: Float32Array;
}

/** Whether a checkpoint is torchscale's RetNetDecoder. */
export function isRetNet(tensors: TensorMap, config: Record<string, unknown> | undefined): boolean {
  const arch = config?.architectures;
  if (Array.isArray(arch) && arch.includes("RetNetDecoder")) return true;
  return tensors.has("layers.0.retention.q_proj.weight");
}

function cfg<T>(config: Record<string, unknown> | undefined, key: string, fallback: T): T {
  const v = config?.[key];
  return v === undefined || v === null ? fallback : v as T;
}

/** Dimensions from config.json (RetNetConfig field names), checked against the tensors. */
export function retnetDims(tensors: TensorMap, config: Record<string, unknown> | undefined): RetNetDims {
  const t = new TensorReader(tensors, "RetNet");
  const [vocab, d] = t.get("embed_tokens.weight").shape;
  let nLayer = 0;
  while (t.has(`layers.${nLayer}.retention.q_proj.weight`)) nLayer++;
  const dv = t.get("layers.0.retention.v_proj.weight").shape[0];
  const heads = configNumber(config, "decoder_retention_heads") ??
    (t.has("retnet_rel_pos.decay") ? t.get("retnet_rel_pos.decay").shape[0] : 0);
  if (!heads || d % heads !== 0 || dv % heads !== 0) {
    throw new ModelLoadError(
      `RetNet needs decoder_retention_heads dividing ${d} and ${dv} (config.json), got ${heads}`,
    );
  }
  if (cfg(config, "decoder_normalize_before", true) !== true) {
    throw new ModelLoadError("RetNet with decoder_normalize_before false (post-norm) is not supported");
  }
  if (cfg(config, "deepnorm", false) || configNumber(config, "moe_freq") || cfg(config, "multiway", false)) {
    throw new ModelLoadError("RetNet with deepnorm, MoE or multiway layers is not supported");
  }
  const activation = cfg<string>(config, "activation_fn", "gelu");
  if (activation !== "gelu" && activation !== "swish" && activation !== "relu") {
    throw new ModelLoadError(
      `RetNet activation_fn "${activation}" is not supported: use gelu, swish or relu`,
    );
  }
  const expectLayers = configNumber(config, "decoder_layers") ?? nLayer;
  if (expectLayers !== nLayer) {
    throw new ModelLoadError(`config.json says ${expectLayers} layers, the checkpoint has ${nLayer}`);
  }
  return {
    nLayer,
    d,
    dv,
    heads,
    keyDim: d / heads,
    headDim: dv / heads,
    ffn: t.get("layers.0.ffn.fc1.weight").shape[0],
    vocab,
    eps: configNumber(config, "layernorm_eps") ?? 1e-6,
    activation,
    embedScale: cfg(config, "no_scale_embedding", true) ? 1 : Math.sqrt(d),
  };
}

/** Backend bytes and widest matrix for these weights plus buffers of `chunk` tokens. */
export function retnetFootprint(tensors: TensorMap, chunk: number, config?: Record<string, unknown>) {
  const m = retnetDims(tensors, config);
  const weightBytes = tensorBytes(tensors);
  const buffers = chunk * (6 * m.d + 4 * m.dv + 2 * m.ffn + 2 * m.heads) * 4 + m.vocab * 8 +
    m.heads * m.headDim * m.keyDim * 4;
  return {
    capacity: weightBytes + buffers + (1 << 20),
    maxCols: Math.max(m.d, m.dv, m.ffn),
    stateFloats: retnetStateSize(m),
    vocab: m.vocab,
  };
}

/** Validates a torchscale RetNetDecoder state dict and places its matrices in `backend`. */
export function loadRetNetWeights(
  tensors: TensorMap,
  backend: Backend,
  config: Record<string, unknown> | undefined,
): RetNetWeights {
  const t = new TensorReader(tensors, "RetNet");
  const dims = retnetDims(tensors, config);
  const { d, dv, ffn, heads, keyDim } = dims;
  const layers: RetNetLayer[] = [];
  for (let i = 0; i < dims.nLayer; i++) {
    const p = `layers.${i}.`;
    const m = (name: string, rows: number, cols: number) => backend.matrix(t.matrix(p + name, rows, cols));
    layers.push({
      retentionNorm: t.vector(p + "retention_layer_norm.weight", d),
      q: m("retention.q_proj.weight", d, d),
      k: m("retention.k_proj.weight", d, d),
      v: m("retention.v_proj.weight", dv, d),
      g: m("retention.g_proj.weight", dv, d),
      out: m("retention.out_proj.weight", d, dv),
      ffnNorm: t.vector(p + "final_layer_norm.weight", d),
      fc1: m("ffn.fc1.weight", ffn, d),
      gate: m("ffn.gate.weight", ffn, d),
      fc2: m("ffn.fc2.weight", d, ffn),
    });
  }
  // The rotation and decay buffers, as the reference computes them, when the file lacks them.
  const angle = t.has("retnet_rel_pos.angle") ? t.vector("retnet_rel_pos.angle", keyDim) : Float32Array.from(
    { length: keyDim },
    (_, j) => 1 / 10000 ** ((Math.floor(j / 2)) / Math.max(1, keyDim / 2 - 1)),
  );
  const logDecay = t.has("retnet_rel_pos.decay")
    ? t.vector("retnet_rel_pos.decay", heads)
    : Float32Array.from({ length: heads }, (_, h) => Math.log(1 - 2 ** (-5 - h)));
  const emb = t.matrix("embed_tokens.weight", dims.vocab, d);
  const head = t.has("output_projection.weight") ? t.matrix("output_projection.weight", dims.vocab, d) : emb;
  return {
    dims,
    dtype: emb.dtype,
    emb: hostMatrix(emb),
    embNorm: t.has("layernorm_embedding.weight") ? t.vector("layernorm_embedding.weight", d) : undefined,
    layers,
    finalNorm: t.vector("layer_norm.weight", d),
    head: backend.matrix(head),
    angle,
    decay: Float32Array.from(logDecay, (v) => Math.exp(v)),
  };
}
