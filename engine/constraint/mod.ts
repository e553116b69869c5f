/**
 * Structured output: compiles a response format (JSON object, or a JSON Schema
 * subset) to a byte-level automaton and masks the logits at each step to the
 * tokens that keep the output a valid prefix. Does not sample or detokenize.
 *
 * @module
 */

export { ConstraintDeadEndError, JsonConstraint, openConstraint } from "./constraint.ts";
export { type Grammar } from "./grammar.ts";
export { compileResponseFormat, type ResponseFormat } from "./response_format.ts";
export { checkSnapshotShape, type ConstraintSnapshot, MAX_SNAPSHOT_FRAMES } from "./snapshot.ts";
export { buildTokenTrie, type TokenTrie, tokenTrie } from "./token_trie.ts";
