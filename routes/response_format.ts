import { z } from "zod";

/**
 * Most bytes a `response_format` may have as JSON: a session keeps it with its generation, in one
 * store record (a Deno KV value holds 64 KiB), beside stop strings and logit_bias.
 */
export const MAX_RESPONSE_FORMAT_BYTES = 32 * 1024;

/**
 * OpenAI's `response_format`: plain text, any JSON object, or JSON following a schema of at most
 * {@linkcode MAX_RESPONSE_FORMAT_BYTES}. The schema itself is checked by the engine's compiler,
 * which names an unsupported keyword.
 */
export const responseFormatSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text") }).strict(),
  z.object({ type: z.literal("json_object") }).strict(),
  z.object({
    type: z.literal("json_schema"),
    json_schema: z.object({
      name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, "Use 1 to 64 letters, digits, _ or -"),
      description: z.string().optional(),
      schema: z.record(z.string(), z.unknown()).optional(),
      strict: z.boolean().nullish(),
    }).strict(),
  }).strict(),
]).refine((f) => new TextEncoder().encode(JSON.stringify(f)).length <= MAX_RESPONSE_FORMAT_BYTES, {
  message: `response_format is over ${MAX_RESPONSE_FORMAT_BYTES} bytes as JSON; shorten its schema`,
});

/**
 * The chat template's stop strings unless the output is structured: a JSON value ends the
 * generation itself, and whitespace such as "\n\n" between its tokens must not cut it.
 */
export function templateStops(
  template: { readonly stop: readonly string[] },
  format: { readonly type: string } | undefined,
): readonly string[] {
  return format && format.type !== "text" ? [] : template.stop;
}
