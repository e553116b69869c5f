/**
 * Numbers as the automaton writes them (`-?(0|[1-9]d*)(.d+)?`, no exponent, at most
 * {@linkcode MAX_INT_DIGITS} + fracDigits digits), and exact range checks on their
 * prefixes: a prefix is kept only if some completion of it lies in [min, max], so a
 * bounded number never reaches a dead end. Values are BigInts scaled by 10^fracDigits.
 *
 * @module
 */

import { MAX_INT_DIGITS } from "./grammar.ts";

/** A scaled bound pair; undefined means unbounded on that side. */
export interface ScaledBounds {
  readonly min: bigint | undefined;
  readonly max: bigint | undefined;
}

/** `10^n` as a BigInt. */
function pow10(n: number): bigint {
  return 10n ** BigInt(n);
}

/** A finite JS number as an exact decimal: its digits as a BigInt and a power-of-ten exponent. */
function decimalOf(x: number): { digits: bigint; exp: number } {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(x))!;
  const frac = m[3] ?? "";
  const digits = BigInt(m[1] + m[2] + frac);
  return { digits, exp: Number(m[4] ?? 0) - frac.length };
}

/** `x × 10^scale` rounded up (`ceil`) or down. */
function scaled(x: number, scale: number, ceil: boolean): bigint {
  const { digits, exp } = decimalOf(x);
  const e = exp + scale;
  if (e >= 0) return digits * pow10(e);
  const d = pow10(-e);
  const q = digits / d; // truncates toward zero
  const exact = q * d === digits;
  if (exact) return q;
  if (ceil) return digits > 0n ? q + 1n : q;
  return digits < 0n ? q - 1n : q;
}

/** Schema bounds as scaled integers, rounded inward (a generated number always satisfies them). */
export function boundsOf(min: number | undefined, max: number | undefined, fracDigits: number): ScaledBounds {
  return {
    min: min === undefined ? undefined : scaled(min, fracDigits, true),
    max: max === undefined ? undefined : scaled(max, fracDigits, false),
  };
}

/** Whether `text` is a prefix of a number the automaton may write (syntax and digit counts only). */
export function isNumberPrefix(text: string, fracDigits: number): boolean {
  const m = /^-?(?:(0|[1-9]\d*)(\.(\d*))?)?$/.exec(text);
  if (!m) return false;
  if (m[1] !== undefined && m[1].length > MAX_INT_DIGITS) return false;
  if (m[2] !== undefined && (fracDigits === 0 || m[3].length > fracDigits)) return false;
  return true;
}

/** Whether `text` is a whole number (not just a prefix of one). */
export function isCompleteNumber(text: string): boolean {
  return /^-?(0|[1-9]\d*)(\.\d+)?$/.test(text);
}

/** The scaled value of a complete number `text`. */
export function scaledValue(text: string, fracDigits: number): bigint {
  const negative = text.startsWith("-");
  const [int, frac = ""] = (negative ? text.slice(1) : text).split(".");
  const mag = BigInt(int) * pow10(fracDigits) +
    (frac === "" ? 0n : BigInt(frac) * pow10(fracDigits - frac.length));
  return negative ? -mag : mag;
}

/** Whether a complete number `text` lies within `bounds`. */
export function inBounds(text: string, fracDigits: number, bounds: ScaledBounds): boolean {
  if (bounds.min === undefined && bounds.max === undefined) return true;
  const v = scaledValue(text, fracDigits);
  return (bounds.min === undefined || v >= bounds.min) && (bounds.max === undefined || v <= bounds.max);
}

/** Whether some number the automaton may write starting with prefix `text` lies within `bounds`. */
export function canReachBounds(text: string, fracDigits: number, bounds: ScaledBounds): boolean {
  if (bounds.min === undefined && bounds.max === undefined) return true;
  const negative = text.startsWith("-");
  // The magnitude must lie in [lo, hi] (hi undefined: unbounded).
  let lo: bigint, hi: bigint | undefined;
  if (!negative) {
    if (bounds.max !== undefined && bounds.max < 0n) return false;
    lo = bounds.min !== undefined && bounds.min > 0n ? bounds.min : 0n;
    hi = bounds.max;
  } else {
    if (bounds.min !== undefined && bounds.min > 0n) return false;
    lo = bounds.max !== undefined && bounds.max < 0n ? -bounds.max : 0n;
    hi = bounds.min === undefined ? undefined : -bounds.min;
  }
  const meets = (x: bigint, y: bigint) => x <= (hi ?? x) && y >= lo;
  const one = pow10(fracDigits);
  const body = negative ? text.slice(1) : text;
  if (body === "") return meets(0n, pow10(MAX_INT_DIGITS) * one - 1n);
  const [int, frac] = body.split(".");
  if (frac !== undefined) {
    const unit = pow10(fracDigits - frac.length);
    const base = BigInt(int) * one + (frac === "" ? 0n : BigInt(frac) * unit);
    return meets(base, base + unit - 1n);
  }
  if (int === "0") return meets(0n, one - 1n);
  const d = BigInt(int);
  for (let j = 0; j <= MAX_INT_DIGITS - int.length; j++) {
    const p = pow10(j);
    if (meets(d * p * one, (d + 1n) * p * one - 1n)) return true;
  }
  return false;
}
