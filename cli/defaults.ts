import type { QuantFormat } from "../kernels/mod.ts";
import { parseStateDType, type StateDType } from "../engine/mod.ts";
import { WEIGHT_FORMATS } from "../models/mod.ts";

/** The model served when none is named: the small RWKV-7 trained on the KJV Bible (see assets/README.md). */
export const DEFAULT_MODEL_DIR = new URL("../assets/rwkv7-kjv-4m", import.meta.url).pathname;

/** Parses a non-negative integer flag; throws a TypeError naming the flag otherwise. */
export function intFlag(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new TypeError(`--${name} must be a non-negative integer, got "${value}"`);
  }
  return n;
}

/** Parses a number flag. */
export function numberFlag(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new TypeError(`--${name} must be a number, got "${value}"`);
  return n;
}

/** `--state-dtype` / STATE_DTYPE: how session states are stored (f32 unless bf16 is named). */
export function stateDTypeFlag(value: string | undefined): StateDType {
  return parseStateDType(value, "--state-dtype");
}

/** Parses `--weights` (int8 or q4; empty: the checkpoint's precision); throws a TypeError otherwise. */
export function weightsFlag(value: string | undefined): QuantFormat | undefined {
  if (value === undefined || value === "" || value === "checkpoint") return undefined;
  const format = WEIGHT_FORMATS[value];
  if (!format) throw new TypeError(`--weights must be int8 or q4, got "${value}"`);
  return format;
}
