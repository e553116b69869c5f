/**
 * OpenAI's `response_format` as the engine takes it, and its compilation to a grammar
 * (recently compiled formats are reused, so repeated schemas share their memoized masks).
 *
 * @module
 */

import type { Grammar } from "./grammar.ts";
import { compileSchema } from "./schema.ts";

/** What a request asks the output to be (OpenAI's `response_format`). */
export type ResponseFormat =
  | { readonly type: "text" }
  | { readonly type: "json_object" }
  | {
    readonly type: "json_schema";
    readonly json_schema: {
      readonly name: string;
      readonly description?: string;
      readonly schema?: Record<string, unknown>;
      readonly strict?: boolean | null;
    };
  };

/** Compiled grammars kept, by their format's text. */
const GRAMMARS_KEPT = 16;
const compiled = new Map<string, Grammar>();

/**
 * The grammar a response format asks for, or undefined for plain text; InvalidRequestError if
 * its schema is not supported.
 */
export function compileResponseFormat(format: ResponseFormat | undefined): Grammar | undefined {
  if (format === undefined || format.type === "text") return undefined;
  const schema = format.type === "json_object" ? { type: "object" } : format.json_schema.schema ?? {};
  const source = JSON.stringify(schema);
  let grammar = compiled.get(source);
  if (grammar) {
    compiled.delete(source);
  } else {
    grammar = compileSchema(schema, source);
    if (compiled.size >= GRAMMARS_KEPT) compiled.delete(compiled.keys().next().value!);
  }
  compiled.set(source, grammar);
  return grammar;
}
