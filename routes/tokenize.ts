import type { Hono } from "hono";
import { z } from "zod";
import { chatTemplate } from "../engine/mod.ts";
import { decodeTokens } from "../tokenizers/mod.ts";
import { readJsonBody } from "./body.ts";
import { encode } from "./completions.ts";
import { ApiError } from "./errors.ts";
import { chatMessage } from "./schemas.ts";
import { type AppEnv, pickModel, type ServedModels } from "./served.ts";

/**
 * Text in one of the shapes servers use: llama.cpp's `content`, vLLM's `prompt`, or vLLM's chat
 * form `messages` (rendered through the model's chat template first).
 */
const tokenizeSchema = z.object({
  model: z.string().optional(),
  content: z.string().optional(),
  prompt: z.string().optional(),
  messages: z.array(chatMessage).min(1).optional(),
  add_special: z.boolean().optional(),
  add_special_tokens: z.boolean().optional(),
  add_generation_prompt: z.boolean().optional(),
  with_pieces: z.boolean().default(false),
  return_token_strs: z.boolean().default(false),
}).strict().refine(
  (b) => [b.content, b.prompt, b.messages].filter((x) => x !== undefined).length === 1,
  { message: "Send exactly one of content (llama.cpp), prompt or messages (vLLM)" },
);

const detokenizeSchema = z.object({
  model: z.string().optional(),
  tokens: z.array(z.number().int().nonnegative()).max(1_000_000),
}).strict();

/**
 * POST /tokenize and POST /detokenize, answering both llama.cpp's and vLLM's clients: tokenize
 * returns `tokens` (ids; llama.cpp's `[{id, piece}]` with `with_pieces`), `count` and
 * `max_model_len` (vLLM; here the longest prompt taken), plus `token_strs` with
 * `return_token_strs`; detokenize returns the text as `content` (llama.cpp) and `prompt` (vLLM).
 * This tokenizer adds no special tokens, so the `add_special*` flags change nothing.
 */
export function tokenizeRoutes(app: Hono<AppEnv>, served: ServedModels): void {
  app.post("/tokenize", async (c) => {
    const body = tokenizeSchema.parse(await readJsonBody(c));
    const loaded = pickModel(served, body.model);
    const text = body.messages
      ? chatTemplate(loaded).render(body.messages, { separate: false })
      : (body.content ?? body.prompt)!;
    const ids = encode(loaded, text);
    const piece = (id: number) => decodeTokens(loaded.tokenizer, [id]);
    return c.json({
      tokens: body.with_pieces ? ids.map((id) => ({ id, piece: piece(id) })) : ids,
      count: ids.length,
      max_model_len: served.limits.maxPromptTokens,
      ...(body.return_token_strs ? { token_strs: ids.map(piece) } : {}),
    });
  });
  app.post("/detokenize", async (c) => {
    const body = detokenizeSchema.parse(await readJsonBody(c));
    const loaded = pickModel(served, body.model);
    const vocab = loaded.model.info.vocabSize;
    const bad = body.tokens.find((id) => id >= vocab);
    if (bad !== undefined) {
      throw new ApiError(400, `Token id ${bad} is outside the vocabulary (0..${vocab - 1})`, "tokens");
    }
    const text = decodeTokens(loaded.tokenizer, body.tokens);
    return c.json({ content: text, prompt: text });
  });
}
