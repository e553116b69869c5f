import { z } from "zod";
import { responseFormatSchema } from "./response_format.ts";

/** Limits a server applies to every request. */
export interface Limits {
  /** Most prompt tokens one request may send. */
  readonly maxPromptTokens: number;
  /** Ceiling on max_tokens. */
  readonly maxTokens: number;
  /** Requests per minute per principal (API key, or client address without keys), per instance; 0: unlimited. */
  readonly requestsPerMinute: number;
}

/** The default limits. */
export const DEFAULT_LIMITS: Limits = { maxPromptTokens: 16384, maxTokens: 4096, requestsPerMinute: 600 };

/**
 * Temperatures below this sample as 0 does (greedy), the limit they tend to: dividing logits by
 * almost nothing overflows the sampler's arithmetic (vLLM treats them the same way).
 */
const MIN_TEMPERATURE = 1e-5;

/** Sampling and stopping fields shared by every generating endpoint. */
function samplingFields(limits: Limits, defaultMaxTokens: number) {
  return {
    max_tokens: z.number().int().min(0).max(limits.maxTokens).default(defaultMaxTokens),
    temperature: z.number().min(0).max(2).transform((t) => t < MIN_TEMPERATURE ? 0 : t).default(1),
    top_p: z.number().gt(0).max(1).default(1),
    top_k: z.number().int().min(0).default(0),
    min_p: z.number().min(0).max(1).default(0),
    presence_penalty: z.number().min(-2).max(2).default(0),
    frequency_penalty: z.number().min(-2).max(2).default(0),
    // Logits divided (or multiplied) by at most 100: a smaller penalty would overflow them.
    repetition_penalty: z.number().min(0.01).max(10).default(1),
    stop: z.union([z.string().max(256), z.array(z.string().max(256)).max(16)], {
      error: "stop must be a string or a list of up to 16 strings, each at most 256 characters",
    }).optional(),
    stop_token_ids: z.array(z.number().int().nonnegative()).max(64).optional(),
    seed: z.number().int().optional(),
    ignore_eos: z.boolean().default(false),
    logit_bias: logitBias.optional(),
  };
}

/** Most choices one request may ask for (`n`). */
export const MAX_CHOICES = 16;

/** OpenAI's `logit_bias`: token ids (as JSON object keys) to a bias from -100 to 100 added to their logits. */
const logitBias = z.record(
  z.string().regex(/^(0|[1-9][0-9]{0,9})$/, "logit_bias keys must be token ids"),
  z.number().min(-100).max(100),
).refine((b) => Object.keys(b).length <= 1024, { message: "logit_bias may name at most 1024 tokens" });

/** Fields every OpenAI generating endpoint shares beyond sampling: choices, stream options, output format. */
function openAiFields() {
  return {
    n: z.number().int().min(1).max(MAX_CHOICES).default(1),
    stream_options: z.object({ include_usage: z.boolean().default(false) }).strict().optional(),
    user: z.string().optional(),
  };
}

const prompt = z.union([z.string(), z.array(z.number().int().nonnegative()).min(1)], {
  error: "prompt must be a string or a non-empty array of token ids (whole numbers from 0)",
});
const PARTS_REFUSED = 'Only text content parts ({"type": "text", "text": ...}) are supported by these models';

/** A string, or OpenAI's array of content parts joined into one: only text parts are understood. */
const content = z.unknown().transform((value, ctx) => {
  if (typeof value === "string") return value;
  if (!Array.isArray(value)) {
    ctx.addIssue({ code: "custom", message: "content must be a string or an array of text parts" });
    return z.NEVER;
  }
  const texts: string[] = [];
  for (const p of value as { type?: unknown; text?: unknown }[]) {
    if (p?.type !== "text" || typeof p.text !== "string") {
      ctx.addIssue({ code: "custom", message: PARTS_REFUSED });
      return z.NEVER;
    }
    texts.push(p.text);
  }
  return texts.join("");
});

/**
 * A chat message. `content` may be a string or OpenAI's array of text parts (joined); the
 * `developer` role is OpenAI's newer name for `system` and is read as one.
 */
export const chatMessage = z.object({
  role: z.enum(["system", "developer", "user", "assistant"]).transform((r) =>
    r === "developer" ? "system" : r
  ),
  content,
  name: z.string().optional(),
});

/** Body of POST /v1/completions. */
export function completionSchema(limits: Limits) {
  return z.object({
    model: z.string().optional(),
    prompt,
    ...samplingFields(limits, 16),
    logprobs: z.number().int().min(0).max(20).optional(),
    stream: z.boolean().default(false),
    ...openAiFields(),
    echo: z.boolean().default(false),
    response_format: responseFormatSchema.optional(),
    suffix: refused(
      "suffix is not supported: these models only continue text left to right; " +
        "put all the text in prompt",
    ),
    best_of: z.number().int().min(1).max(MAX_CHOICES).optional(),
  }).strict().refine((b) => b.best_of === undefined || b.best_of === b.n, {
    message: "best_of must equal n: this server does not rank extra samples; ask for n choices instead",
    path: ["best_of"],
  });
}

/**
 * A field accepted by the schema only to be refused with `message` (clearer than "unrecognized
 * key"): any value but an empty one fails.
 */
function refused(message: string) {
  return z.unknown().refine((v) => v === undefined || v === "" || (Array.isArray(v) && v.length === 0), {
    message,
  }).optional();
}

/** Body of POST /v1/sessions. */
export const createSessionSchema = z.object({
  model: z.string().optional(),
  prompt: prompt.optional(),
  messages: z.array(chatMessage).min(1).optional(),
}).strict().refine((b) => !(b.prompt && b.messages), { message: "Send prompt or messages, not both" });

/** Body of POST /v1/sessions/{id}/generate. */
export function sessionGenerateSchema(limits: Limits) {
  return z.object({
    prompt: prompt.optional(),
    messages: z.array(chatMessage).min(1).optional(),
    ...samplingFields(limits, 256),
    logprobs: z.number().int().min(0).max(20).optional(),
    stream: z.boolean().default(true),
    response_format: responseFormatSchema.optional(),
  }).strict().refine((b) => !(b.prompt && b.messages), { message: "Send prompt or messages, not both" });
}

/** Body of POST /v1/chat/completions. */
export function chatSchema(limits: Limits) {
  return z.object({
    model: z.string().optional(),
    messages: z.array(chatMessage).min(1),
    session_id: z.string().max(64).optional(),
    ...samplingFields(limits, 256),
    max_completion_tokens: z.number().int().min(0).max(limits.maxTokens).optional(),
    logprobs: z.boolean().default(false),
    top_logprobs: z.number().int().min(0).max(20).optional(),
    stream: z.boolean().default(false),
    ...openAiFields(),
    response_format: responseFormatSchema.optional(),
    tools: refused(TOOLS_REFUSED),
    tool_choice: refused(TOOLS_REFUSED),
    functions: refused(TOOLS_REFUSED),
    function_call: refused(TOOLS_REFUSED),
    parallel_tool_calls: z.boolean().optional(),
  }).strict();
}

const TOOLS_REFUSED = "Tools (function calling) are not supported: the served models' chat templates " +
  "have no tool-call format this server can parse; describe the tools in a message instead";

/** A validated completion request. */
export type CompletionBody = z.infer<ReturnType<typeof completionSchema>>;
/** A validated session generate request. */
export type SessionGenerateBody = z.infer<ReturnType<typeof sessionGenerateSchema>>;
/** A validated chat request. */
export type ChatBody = z.infer<ReturnType<typeof chatSchema>>;

/** The sampling fields of any validated body, as the engine takes them. */
export function samplingOf(b: z.infer<z.ZodObject<ReturnType<typeof samplingFields>>>) {
  return {
    temperature: b.temperature,
    topP: b.top_p,
    topK: b.top_k,
    minP: b.min_p,
    presencePenalty: b.presence_penalty,
    frequencyPenalty: b.frequency_penalty,
    repetitionPenalty: b.repetition_penalty,
    ...(b.logit_bias && Object.keys(b.logit_bias).length ? { logitBias: b.logit_bias } : {}),
  };
}

/** The stop strings of a body as a list. */
export function stopsOf(stop: string | string[] | undefined): string[] {
  return typeof stop === "string" ? [stop] : stop ?? [];
}
