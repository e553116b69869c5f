import { mulberry32 } from "../engine/mod.ts";
import type { WeightDType } from "../kernels/mod.ts";
import type { RawTensor, TensorMap } from "../models/mod.ts";
import { toHalf } from "./random_rwkv7.ts";

/** A checkpoint to benchmark: random tensors in a family's real layout, and its config.json. */
export interface RandomCheckpoint {
  readonly name: string;
  readonly tensors: TensorMap;
  readonly config: Record<string, unknown>;
}

/** Builds random f32 tensors (small values) from a list of names and shapes. */
function tensors(spec: [string, number[], number?, number?][], seed: number): TensorMap {
  const rand = mulberry32(seed);
  const out = new Map<string, RawTensor>();
  for (const [name, shape, scale = 0.02, offset = 0] of spec) {
    const n = shape.reduce((a, b) => a * b, 1);
    const f32 = new Float32Array(n);
    for (let i = 0; i < n; i++) f32[i] = offset + (rand() * 2 - 1) * scale;
    out.set(name, { name, dtype: "f32", shape, bytes: new Uint8Array(f32.buffer) });
  }
  return out;
}

/** RWKV-4 169M (Pile): 12 layers × 768, vocab 50277. */
export function rwkv4_169m(): RandomCheckpoint {
  const [L, C, V] = [12, 768, 50277];
  const spec: [string, number[], number?, number?][] = [["rwkv.embeddings.weight", [V, C]]];
  spec.push(["rwkv.blocks.0.pre_ln.weight", [C], 0.1, 1], ["rwkv.blocks.0.pre_ln.bias", [C]]);
  for (let i = 0; i < L; i++) {
    const b = `rwkv.blocks.${i}.`;
    spec.push([b + "ln1.weight", [C], 0.1, 1], [b + "ln1.bias", [C]], [b + "ln2.weight", [C], 0.1, 1], [
      b + "ln2.bias",
      [C],
    ]);
    spec.push([b + "attention.time_decay", [C], 1], [b + "attention.time_first", [C], 1]);
    for (const m of ["key", "value", "receptance"]) {
      spec.push([b + `attention.time_mix_${m}`, [1, 1, C], 0.5, 0.5]);
    }
    for (const m of ["key", "value", "receptance", "output"]) {
      spec.push([b + `attention.${m}.weight`, [C, C]]);
    }
    spec.push([b + "feed_forward.time_mix_key", [1, 1, C], 0.5, 0.5], [
      b + "feed_forward.time_mix_receptance",
      [1, 1, C],
      0.5,
      0.5,
    ]);
    spec.push([b + "feed_forward.key.weight", [4 * C, C]], [b + "feed_forward.receptance.weight", [C, C]]);
    spec.push([b + "feed_forward.value.weight", [C, 4 * C]]);
  }
  spec.push(["rwkv.ln_out.weight", [C], 0.1, 1], ["rwkv.ln_out.bias", [C]], ["head.weight", [V, C]]);
  const config = {
    architectures: ["RwkvForCausalLM"],
    hidden_size: C,
    num_hidden_layers: L,
    vocab_size: V,
    attention_hidden_size: C,
    intermediate_size: 4 * C,
    rescale_every: 6,
    layer_norm_epsilon: 1e-5,
  };
  return { name: "rwkv4 169M shape", tensors: tensors(spec, 4), config };
}

/** Mamba 130M: 24 layers × 768, state 16, conv 4, dt rank 48, vocab 50280, tied embeddings (`smaller`: fewer layers, a smaller vocabulary). */
export function mamba_130m(smaller: { layers?: number; vocab?: number } = {}): RandomCheckpoint {
  const [L, D, N, K, R, V] = [smaller.layers ?? 24, 768, 16, 4, 48, smaller.vocab ?? 50280];
  const I = 2 * D;
  const spec: [string, number[], number?, number?][] = [["backbone.embeddings.weight", [V, D]]];
  for (let i = 0; i < L; i++) {
    const p = `backbone.layers.${i}.`;
    spec.push([p + "norm.weight", [D], 0.1, 1], [p + "mixer.in_proj.weight", [2 * I, D]]);
    spec.push([p + "mixer.conv1d.weight", [I, 1, K], 0.3], [p + "mixer.conv1d.bias", [I]]);
    spec.push([p + "mixer.x_proj.weight", [R + 2 * N, I]], [p + "mixer.dt_proj.weight", [I, R]]);
    spec.push([p + "mixer.dt_proj.bias", [I], 1, -2], [p + "mixer.A_log", [I, N], 1, 1], [
      p + "mixer.D",
      [I],
      0.5,
      1,
    ]);
    spec.push([p + "mixer.out_proj.weight", [D, I]]);
  }
  spec.push(["backbone.norm_f.weight", [D], 0.1, 1]);
  const config = {
    architectures: ["MambaForCausalLM"],
    hidden_size: D,
    num_hidden_layers: L,
    state_size: N,
    conv_kernel: K,
    time_step_rank: R,
    intermediate_size: I,
    vocab_size: V,
    layer_norm_epsilon: 1e-5,
    hidden_act: "silu",
  };
  return { name: "mamba 130M shape", tensors: tensors(spec, 5), config };
}

/** Mamba-2 130M: 24 layers × 768, 24 heads of 64, state 128, 1 group, vocab 50288 (`smaller`: fewer layers, a smaller vocabulary). */
export function mamba2_130m(smaller: { layers?: number; vocab?: number } = {}): RandomCheckpoint {
  const [L, D, H, P, N, G, K, V] = [smaller.layers ?? 24, 768, 24, 64, 128, 1, 4, smaller.vocab ?? 50288];
  const I = H * P, CD = I + 2 * G * N;
  const spec: [string, number[], number?, number?][] = [["backbone.embeddings.weight", [V, D]]];
  for (let i = 0; i < L; i++) {
    const p = `backbone.layers.${i}.`;
    spec.push([p + "norm.weight", [D], 0.1, 1], [p + "mixer.in_proj.weight", [I + CD + H, D]]);
    spec.push([p + "mixer.conv1d.weight", [CD, 1, K], 0.3], [p + "mixer.conv1d.bias", [CD]]);
    spec.push([p + "mixer.dt_bias", [H], 1, -2], [p + "mixer.A_log", [H], 1, 1], [
      p + "mixer.D",
      [H],
      0.5,
      1,
    ]);
    spec.push([p + "mixer.norm.weight", [I], 0.1, 1], [p + "mixer.out_proj.weight", [D, I]]);
  }
  spec.push(["backbone.norm_f.weight", [D], 0.1, 1]);
  const config = {
    architectures: ["Mamba2ForCausalLM"],
    hidden_size: D,
    num_hidden_layers: L,
    num_heads: H,
    head_dim: P,
    state_size: N,
    n_groups: G,
    conv_kernel: K,
    vocab_size: V,
    layer_norm_epsilon: 1e-5,
    hidden_act: "silu",
  };
  return { name: "mamba2 130M shape", tensors: tensors(spec, 6), config };
}

/** RetNet ~0.1B (without embeddings): 12 layers × 768, value 1536, 3 heads, GLU 1536, vocab 50257 (`smaller`: fewer layers, a smaller vocabulary). */
export function retnet_100m(smaller: { layers?: number; vocab?: number } = {}): RandomCheckpoint {
  const [L, D, DV, H, F, V] = [smaller.layers ?? 12, 768, 1536, 3, 1536, smaller.vocab ?? 50257];
  const spec: [string, number[], number?, number?][] = [["embed_tokens.weight", [V, D]], [
    "output_projection.weight",
    [V, D],
  ]];
  for (let i = 0; i < L; i++) {
    const p = `layers.${i}.`;
    spec.push([p + "retention.q_proj.weight", [D, D]], [p + "retention.k_proj.weight", [D, D]]);
    spec.push([p + "retention.v_proj.weight", [DV, D]], [p + "retention.g_proj.weight", [DV, D]]);
    spec.push([p + "retention.out_proj.weight", [D, DV]], [p + "retention_layer_norm.weight", [D], 0.1, 1]);
    spec.push([p + "ffn.fc1.weight", [F, D]], [p + "ffn.gate.weight", [F, D]], [p + "ffn.fc2.weight", [
      D,
      F,
    ]]);
    spec.push([p + "final_layer_norm.weight", [D], 0.1, 1]);
  }
  spec.push(["layer_norm.weight", [D], 0.1, 1]);
  const config = {
    architectures: ["RetNetDecoder"],
    decoder_embed_dim: D,
    decoder_value_embed_dim: DV,
    decoder_retention_heads: H,
    decoder_ffn_embed_dim: F,
    decoder_layers: L,
    vocab_size: V,
    activation_fn: "gelu",
  };
  return { name: "retnet ~0.1B shape", tensors: tensors(spec, 7), config };
}

/**
 * The same checkpoint with its matrices (tensors of two or more dimensions) stored as `dtype`;
 * vectors stay f32, as real 16-bit checkpoints usually keep them at full precision or widen them.
 */
export function withDtype(tensors: TensorMap, dtype: WeightDType): TensorMap {
  if (dtype === "f32") return tensors;
  const out = new Map<string, RawTensor>();
  for (const [name, t] of tensors) {
    if (t.dtype !== "f32" || t.shape.filter((d) => d > 1).length < 2) {
      out.set(name, t);
      continue;
    }
    const f32 = new Float32Array(t.bytes.slice().buffer);
    const u32 = new Uint32Array(f32.buffer);
    const bits = new Uint16Array(f32.length);
    for (let i = 0; i < f32.length; i++) bits[i] = dtype === "bf16" ? u32[i] >>> 16 : toHalf(f32[i]);
    out.set(name, { name, dtype, shape: t.shape, bytes: new Uint8Array(bits.buffer) });
  }
  return out;
}
