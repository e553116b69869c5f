import { mambaStateSize } from "./state.ts";
import type { Backend, Matrix, MatrixDType } from "../../kernels/mod.ts";
import { bytesToF32 } from "../../kernels/mod.ts";
import { ModelLoadError } from "../errors.ts";
import type { TensorMap } from "../formats/tensor.ts";
import { configNumber } from "../shared/config.ts";
import { hostMatrix, tensorBytes, TensorReader } from "../shared/weights.ts";

/** Mamba dimensions, from config.json (HF `MambaConfig`) checked against the tensor shapes. */
export interface MambaDims {
  readonly nLayer: number;
  /** hidden_size */
  readonly d: number;
  /** intermediate_size = expand × hidden_size: the SSM channels. */
  readonly inner: number;
  /** state_size: SSM state per channel. */
  readonly n: number;
  /** conv_kernel */
  readonly k: number;
  /** time_step_rank */
  readonly rank: number;
  readonly vocab: number;
  readonly eps: number;
}

/** One Mamba block (RMSNorm then the mixer). Matrices are `[out][in]`. */
export interface MambaLayer {
  readonly norm: Float32Array; // [d]
  readonly inProj: Matrix; // [2·inner][d]
  readonly inBias: Float32Array | undefined; // [2·inner]
  readonly convW: Float32Array; // [inner][k]
  readonly convB: Float32Array | undefined; // [inner]
  readonly xProj: Matrix; // [rank + 2n][inner]
  readonly dtProj: Matrix; // [inner][rank]
  readonly dtBias: Float32Array; // [inner]
  readonly negA: Float32Array; // [inner][n] A = -exp(A_log)
  readonly dSkip: Float32Array; // [inner]
  readonly outProj: Matrix; // [d][inner]
  readonly outBias: Float32Array | undefined; // [d]
}

/** All weights of a Mamba model. */
export interface MambaWeights {
  readonly dims: MambaDims;
  readonly dtype: MatrixDType;
  readonly emb: Matrix; // [vocab][d], host memory
  readonly layers: readonly MambaLayer[];
  readonly normF: Float32Array; // [d]
  readonly head: Matrix; // [vocab][d] (the embedding when tied)
}

/** Whether a checkpoint is HF's MambaForCausalLM. */
export function isMamba(tensors: TensorMap, config: Record<string, unknown> | undefined): boolean {
  const arch = config?.architectures;
  if (Array.isArray(arch) && arch.includes("MambaForCausalLM")) return true;
  return tensors.has("backbone.layers.0.mixer.A_log") && tensors.has("backbone.layers.0.mixer.x_proj.weight");
}

/** Dimensions from the tensor shapes (config.json is checked against them where it has a field). */
export function mambaDims(tensors: TensorMap, config: Record<string, unknown> | undefined): MambaDims {
  const t = new TensorReader(tensors, "Mamba");
  const [vocab, d] = t.get("backbone.embeddings.weight").shape;
  let nLayer = 0;
  while (t.has(`backbone.layers.${nLayer}.mixer.A_log`)) nLayer++;
  const [inner, n] = t.get("backbone.layers.0.mixer.A_log").shape;
  const k = t.get("backbone.layers.0.mixer.conv1d.weight").shape[2];
  const rank = t.get("backbone.layers.0.mixer.dt_proj.weight").shape[1];
  const eps = configNumber(config, "layer_norm_epsilon") ?? 1e-5;
  const dims = { nLayer, d, inner, n, k, rank, vocab, eps };
  const expect: [string, number][] = [
    ["num_hidden_layers", nLayer],
    ["hidden_size", d],
    ["intermediate_size", inner],
    ["state_size", n],
    ["conv_kernel", k],
    ["time_step_rank", rank],
  ];
  for (const [key, value] of expect) {
    const given = configNumber(config, key);
    if (given !== undefined && given !== value) {
      throw new ModelLoadError(`config.json says ${key} ${given}, the tensors say ${value}`);
    }
  }
  if (config?.hidden_act !== undefined && config.hidden_act !== "silu") {
    throw new ModelLoadError(
      `config.json hidden_act "${config.hidden_act}" is not supported: Mamba uses "silu"`,
    );
  }
  return dims;
}

/** Backend bytes and widest matrix for these weights plus buffers of `chunk` tokens. */
export function mambaFootprint(tensors: TensorMap, chunk: number, config?: Record<string, unknown>) {
  const m = mambaDims(tensors, config);
  let weightBytes = tensorBytes(tensors);
  if (!tensors.has("lm_head.weight")) {
    weightBytes += tensors.get("backbone.embeddings.weight")!.bytes.byteLength;
  }
  const buffers = chunk * (4 * m.d + 7 * m.inner + m.rank + 4 * m.n) * 4 + m.vocab * 8 +
    (m.nLayer + 1) * (m.inner * m.n + m.inner) * 4;
  return {
    capacity: weightBytes + buffers + (1 << 20),
    maxCols: Math.max(m.d, m.inner, m.rank),
    stateFloats: mambaStateSize(m),
    vocab: m.vocab,
  };
}

/** Validates an HF Mamba checkpoint and places its matrices in `backend`. */
export function loadMambaWeights(
  tensors: TensorMap,
  backend: Backend,
  config: Record<string, unknown> | undefined,
): MambaWeights {
  const t = new TensorReader(tensors, "Mamba");
  const dims = mambaDims(tensors, config);
  const { d, inner, n, k, rank } = dims;
  const optional = (name: string, size: number) => (t.has(name) ? t.vector(name, size) : undefined);
  const layers: MambaLayer[] = [];
  for (let i = 0; i < dims.nLayer; i++) {
    const p = `backbone.layers.${i}.`;
    const m = (name: string, rows: number, cols: number) => backend.matrix(t.matrix(p + name, rows, cols));
    const aLog = t.get(p + "mixer.A_log");
    if (aLog.shape[0] !== inner || aLog.shape[1] !== n) {
      throw new ModelLoadError(
        `Tensor "${p}mixer.A_log" has shape [${aLog.shape}] but [${inner}, ${n}] was expected`,
      );
    }
    layers.push({
      norm: t.vector(p + "norm.weight", d),
      inProj: m("mixer.in_proj.weight", 2 * inner, d),
      inBias: optional(p + "mixer.in_proj.bias", 2 * inner),
      convW: t.vector(p + "mixer.conv1d.weight", inner * k),
      convB: optional(p + "mixer.conv1d.bias", inner),
      xProj: m("mixer.x_proj.weight", rank + 2 * n, inner),
      dtProj: m("mixer.dt_proj.weight", inner, rank),
      dtBias: t.vector(p + "mixer.dt_proj.bias", inner),
      negA: bytesToF32(aLog.bytes, aLog.dtype).map((v) => -Math.exp(v)),
      dSkip: t.vector(p + "mixer.D", inner),
      outProj: m("mixer.out_proj.weight", d, inner),
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
