import { mamba2StateSize } from "./state.ts";
import type { Backend, Matrix, MatrixDType } from "../../kernels/mod.ts";
import { ModelLoadError } from "../errors.ts";
import type { TensorMap } from "../formats/tensor.ts";
import { configNumber, configNumbers } from "../shared/config.ts";
import { hostMatrix, tensorBytes, TensorReader } from "../shared/weights.ts";

/** Mamba-2 dimensions, from config.json (HF `Mamba2Config`) checked against the tensor shapes. */
export interface Mamba2Dims {
  readonly nLayer: number;
  /** hidden_size */
  readonly d: number;
  /** intermediate_size = num_heads × head_dim */
  readonly inner: number;
  readonly heads: number;
  readonly headDim: number;
  /** n_groups: B and C are shared by heads/n_groups heads each. */
  readonly groups: number;
  /** state_size */
  readonly n: number;
  /** conv_kernel */
  readonly k: number;
  /** intermediate_size + 2 × n_groups × state_size: the channels the causal conv sees (x, B, C). */
  readonly convDim: number;
  readonly vocab: number;
  readonly eps: number;
  /** time_step_limit: dt is clamped to it. */
  readonly dtMin: number;
  readonly dtMax: number;
}

/** One Mamba-2 block. Matrices are `[out][in]`. */
export interface Mamba2Layer {
  readonly norm: Float32Array; // [d] RMSNorm before the mixer
  readonly inProj: Matrix; // [inner + convDim + heads][d] → z, xBC, dt
  readonly inBias: Float32Array | undefined;
  readonly convW: Float32Array; // [convDim][k]
  readonly convB: Float32Array | undefined; // [convDim]
  readonly dtBias: Float32Array; // [heads]
  readonly negA: Float32Array; // [heads] A = -exp(A_log)
  readonly dSkip: Float32Array; // [heads]
  readonly gatedNorm: Float32Array; // [inner] RMSNorm of y·SiLU(z), over all inner channels (as HF)
  readonly outProj: Matrix; // [d][inner]
  readonly outBias: Float32Array | undefined;
}

/** All weights of a Mamba-2 model. */
export interface Mamba2Weights {
  readonly dims: Mamba2Dims;
  readonly dtype: MatrixDType;
  readonly emb: Matrix; // [vocab][d], host memory
  readonly layers: readonly Mamba2Layer[];
  readonly normF: Float32Array;
  readonly head: Matrix; // [vocab][d]
}

/** Whether a checkpoint is HF's Mamba2ForCausalLM. */
export function isMamba2(tensors: TensorMap, config: Record<string, unknown> | undefined): boolean {
  const arch = config?.architectures;
  if (Array.isArray(arch) && arch.includes("Mamba2ForCausalLM")) return true;
  return tensors.has("backbone.layers.0.mixer.dt_bias") &&
    !tensors.has("backbone.layers.0.mixer.x_proj.weight");
}

/** Dimensions: heads, state and groups need config.json (the tensors alone cannot tell groups from state). */
export function mamba2Dims(tensors: TensorMap, config: Record<string, unknown> | undefined): Mamba2Dims {
  const t = new TensorReader(tensors, "Mamba-2");
  const [vocab, d] = t.get("backbone.embeddings.weight").shape;
  let nLayer = 0;
  while (t.has(`backbone.layers.${nLayer}.mixer.A_log`)) nLayer++;
  const heads = t.get("backbone.layers.0.mixer.A_log").shape[0];
  const inner = t.get("backbone.layers.0.mixer.norm.weight").shape[0];
  const [convDim, , k] = t.get("backbone.layers.0.mixer.conv1d.weight").shape;
  const n = configNumber(config, "state_size");
  const groups = configNumber(config, "n_groups") ?? 1;
  if (n === undefined) throw new ModelLoadError("Mamba-2 needs config.json with state_size (and n_groups)");
  if (inner + 2 * groups * n !== convDim) {
    throw new ModelLoadError(
      `Mamba-2 conv1d has ${convDim} channels but intermediate ${inner} + 2 × ${groups} groups × state ${n} = ${
        inner + 2 * groups * n
      }`,
    );
  }
  if (inner % heads !== 0 || heads % groups !== 0) {
    throw new ModelLoadError(
      `Mamba-2 with ${heads} heads, ${inner} channels and ${groups} groups is inconsistent`,
    );
  }
  const limit = configNumbers(config, "time_step_limit", { length: 2, infinite: true });
  const [dtMin, dtMax] = [limit?.[0] ?? 0, limit?.[1] ?? Infinity];
  if (config?.hidden_act !== undefined && config.hidden_act !== "silu") {
    throw new ModelLoadError(
      `config.json hidden_act "${config.hidden_act}" is not supported: Mamba-2 uses "silu"`,
    );
  }
  return {
    nLayer,
    d,
    inner,
    heads,
    headDim: inner / heads,
    groups,
    n,
    k,
    convDim,
    vocab,
    eps: configNumber(config, "layer_norm_epsilon") ?? 1e-5,
    dtMin,
    dtMax,
  };
}

/** Backend bytes and widest matrix for these weights plus buffers of `chunk` tokens. */
export function mamba2Footprint(tensors: TensorMap, chunk: number, config?: Record<string, unknown>) {
  const m = mamba2Dims(tensors, config);
  let weightBytes = tensorBytes(tensors);
  if (!tensors.has("lm_head.weight")) {
    weightBytes += tensors.get("backbone.embeddings.weight")!.bytes.byteLength;
  }
  const buffers = chunk * (4 * m.d + 5 * (m.inner + m.convDim + m.heads)) * 4 + m.vocab * 8 +
    (m.heads * m.headDim * m.n + m.nLayer * m.heads) * 4;
  return {
    capacity: weightBytes + buffers + (1 << 20),
    maxCols: Math.max(m.d, m.inner),
    stateFloats: mamba2StateSize(m),
    vocab: m.vocab,
  };
}

/** Validates an HF Mamba-2 checkpoint and places its matrices in `backend`. */
export function loadMamba2Weights(
  tensors: TensorMap,
  backend: Backend,
  config: Record<string, unknown> | undefined,
): Mamba2Weights {
  const t = new TensorReader(tensors, "Mamba-2");
  const dims = mamba2Dims(tensors, config);
  const { d, inner, heads, k, convDim } = dims;
  const proj = inner + convDim + heads;
  const optional = (name: string, size: number) => (t.has(name) ? t.vector(name, size) : undefined);
  const layers: Mamba2Layer[] = [];
  for (let i = 0; i < dims.nLayer; i++) {
    const p = `backbone.layers.${i}.`;
    layers.push({
      norm: t.vector(p + "norm.weight", d),
      inProj: backend.matrix(t.matrix(p + "mixer.in_proj.weight", proj, d)),
      inBias: optional(p + "mixer.in_proj.bias", proj),
      convW: t.vector(p + "mixer.conv1d.weight", convDim * k),
      convB: optional(p + "mixer.conv1d.bias", convDim),
      dtBias: t.vector(p + "mixer.dt_bias", heads),
      negA: t.vector(p + "mixer.A_log", heads).map((v) => -Math.exp(v)),
      dSkip: t.vector(p + "mixer.D", heads),
      gatedNorm: t.vector(p + "mixer.norm.weight", inner),
      outProj: backend.matrix(t.matrix(p + "mixer.out_proj.weight", d, inner)),
      outBias: optional(p + "mixer.out_proj.bias", d),
    });
  }
  const emb = t.matrix("backbone.embeddings.weight", dims.vocab, d);
  const head = t.has("lm_head.weight") ? t.matrix("lm_head.weight", dims.vocab, d) : emb;
  return {
    dims,
    dtype: emb.dtype,
    emb: hostMatrix(emb),
    layers,
    normF: t.vector("backbone.norm_f.weight", d),
    head: backend.matrix(head),
  };
}
