import { z } from "zod";

/**
 * OpenAI's `response_format`: plain text, any JSON object, or JSON following a schema. The
 * schema itself is checked by the engine's compiler, which names an unsupported keyword.
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
]);

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
