import { ModelLoadError } from "../errors.ts";

/** A checkpoint's parsed config.json (see `parsePythonJson`), or undefined when the directory has none. */
export type ModelConfig = Record<string, unknown> | undefined;

/** Options of {@linkcode configNumber}. */
export interface ConfigNumberOptions {
  /** Whether ±Infinity is a meaningful value of the field (a clamp's open end); NaN never is. */
  infinite?: boolean;
}

/**
 * The number in config.json field `key`, or undefined when the field is absent or null.
 * Anything else (a string, an object, NaN, ±Infinity unless allowed) is a ModelLoadError
 * naming the field, e.g. `config.json field hidden_size is "abc", expected a number`.
 */
export function configNumber(
  config: ModelConfig,
  key: string,
  options: ConfigNumberOptions = {},
): number | undefined {
  return checkConfigNumber(config?.[key], key, options);
}

/**
 * The numbers in the config.json list field `key` (each undefined where null), or undefined when
 * the field is absent or null. A list of another length, or an element that is not a number,
 * is a ModelLoadError naming it, e.g. `config.json field time_step_limit[1] is "abc", expected a number`.
 */
export function configNumbers(
  config: ModelConfig,
  key: string,
  options: ConfigNumberOptions & { length: number },
): (number | undefined)[] | undefined {
  const value = config?.[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length !== options.length) {
    throw new ModelLoadError(
      `config.json field ${key} is ${show(value)}, expected a list of ${options.length} numbers`,
    );
  }
  return value.map((v, i) => checkConfigNumber(v, `${key}[${i}]`, options));
}

function checkConfigNumber(value: unknown, field: string, options: ConfigNumberOptions): number | undefined {
  if (value === undefined || value === null) return undefined;
  // Written as strings by some converters (and accepted here before config.json was read as Python JSON).
  if (options.infinite && (value === "Infinity" || value === "-Infinity")) {
    return value === "Infinity" ? Infinity : -Infinity;
  }
  const ok = typeof value === "number" && !Number.isNaN(value) &&
    (options.infinite || Number.isFinite(value));
  if (!ok) throw new ModelLoadError(`config.json field ${field} is ${show(value)}, expected a number`);
  return value as number;
}

// JSON.stringify shows NaN and ±Infinity as null; name them as Python wrote them.
function show(value: unknown): string {
  return typeof value === "number" ? String(value) : JSON.stringify(value);
}
