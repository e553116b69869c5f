// JSON as Python writes it. `json.dumps` writes non-finite floats as the bare tokens `Infinity`,
// `-Infinity` and `NaN` (transformers 4.x Mamba-2 configs: `"time_step_limit": [0.0, Infinity]`),
// which JSON.parse rejects; transformers 5.x writes them as `{"__float__": "Infinity"}` instead.

const SPECIAL = ["-Infinity", "Infinity", "NaN"] as const;

// What Python's float() reads from a string, less hex: a decimal, or inf / infinity / nan in any case.
const FLOAT_TEXT = /^\s*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?|inf(?:inity)?|nan)\s*$/i;

/**
 * Parses JSON as Python's `json.dumps` writes it: the bare tokens `Infinity`,
 * `-Infinity` and `NaN` (outside strings; inside strings they stay text) become
 * numbers, and so do objects of the one key `__float__` whose value is a float's
 * text (`{"__float__": "Infinity"}`, `"-inf"`, `"NaN"`, `"1e-05"`…), at any depth.
 *
 * @throws {SyntaxError} When the text is not such JSON, or a `__float__` value is not a float's text.
 */
export function parsePythonJson(text: string): unknown {
  return JSON.parse(wrapSpecialFloats(text), decodeFloatObject);
}

// Rewrites each bare Infinity / -Infinity / NaN token into {"__float__":"…"}, skipping over strings
// (so "Infinity" inside a string value or key is left alone). The reviver then decodes both forms.
function wrapSpecialFloats(text: string): string {
  if (!text.includes("Infinity") && !text.includes("NaN")) return text;
  let out = "";
  let copied = 0;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      i = stringEnd(text, i);
      continue;
    }
    const word = SPECIAL.find((w) => text.startsWith(w, i) && !/[\w$]/.test(text[i + w.length] ?? ""));
    if (word && !/[\w$.]/.test(text[i - 1] ?? "")) {
      out += text.slice(copied, i) + `{"__float__":"${word}"}`;
      i += word.length;
      copied = i;
      continue;
    }
    i++;
  }
  return out + text.slice(copied);
}

// The index just past the string literal that opens at `start` (or the end of an unterminated one).
function stringEnd(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    const c = text[i];
    if (c === "\\") i += 2;
    else if (c === '"') return i + 1;
    else i++;
  }
  return i;
}

function decodeFloatObject(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  if (keys.length !== 1 || keys[0] !== "__float__") return value;
  const text = (value as { __float__: unknown }).__float__;
  if (typeof text !== "string" || !FLOAT_TEXT.test(text)) {
    throw new SyntaxError(
      `{"__float__": ${
        JSON.stringify(text)
      }} is not a float: expected "Infinity", "-Infinity", "NaN" or a decimal`,
    );
  }
  const t = text.trim().toLowerCase().replace(/^\+/, "");
  if (t === "nan" || t === "-nan") return NaN;
  if (t === "inf" || t === "infinity") return Infinity;
  if (t === "-inf" || t === "-infinity") return -Infinity;
  return Number(t);
}
