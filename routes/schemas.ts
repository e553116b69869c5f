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

/** Sampling and stopping fields shared by every generating endpoint. */
function samplingFields(limits: Limits, defaultMaxTokens: number) {
  return {
    max_tokens: z.number().int().min(0).max(limits.maxTokens).default(defaultMaxTokens),
    temperature: z.number().min(0).max(2).default(1),
    top_p: z.number().gt(0).max(1).default(1),
    top_k: z.number().int().min(0).default(0),
    min_p: z.number().min(0).max(1).default(0),
    presence_penalty: z.number().min(-2).max(2).default(0),
    frequency_penalty: z.number().min(-2).max(2).default(0),
    repetition_penalty: z.number().gt(0).max(10).default(1),
    stop: z.union([z.string().max(256), z.array(z.string().max(256)).max(16)]).nullish(),
    stop_token_ids: z.array(z.number().int().nonnegative()).max(64).optional(),
    seed: z.number().int().optional(),
    ignore_eos: z.boolean().default(false),
  };
}

const prompt = z.union([z.string(), z.array(z.number().int().nonnegative()).min(1)]);
const message = z.object({
  role: z.enum(["system", "user", "assistant"]),
  content: z.string(),
  name: z.string().optional(),
});

/** Body of POST /v1/completions. */
export function completionSchema(limits: Limits) {
  return z.object({
    model: z.string().optional(),
    prompt,
    ...samplingFields(limits, 16),
    logprobs: z.number().int().min(0).max(20).nullish(),
    stream: z.boolean().default(false),
    n: z.literal(1).optional(),
    echo: z.literal(false).optional(),
    user: z.string().optional(),
    response_format: responseFormatSchema.optional(),
  }).strict();
}

/** Body of POST /v1/sessions. */
export const createSessionSchema = z.object({
  model: z.string().optional(),
  prompt: prompt.optional(),
  messages: z.array(message).min(1).optional(),
}).strict().refine((b) => !(b.prompt && b.messages), { message: "Send prompt or messages, not both" });

/** Body of POST /v1/sessions/{id}/generate. */
export function sessionGenerateSchema(limits: Limits) {
  return z.object({
    prompt: prompt.optional(),
    messages: z.array(message).min(1).optional(),
    ...samplingFields(limits, 256),
    logprobs: z.number().int().min(0).max(20).nullish(),
    stream: z.boolean().default(true),
    response_format: responseFormatSchema.optional(),
  }).strict().refine((b) => !(b.prompt && b.messages), { message: "Send prompt or messages, not both" });
}

/** Body of POST /v1/chat/completions. */
export function chatSchema(limits: Limits) {
  return z.object({
    model: z.string().optional(),
    messages: z.array(message).min(1),
    session_id: z.string().max(64).optional(),
    ...samplingFields(limits, 256),
    max_completion_tokens: z.number().int().min(0).max(limits.maxTokens).optional(),
    logprobs: z.boolean().default(false),
    top_logprobs: z.number().int().min(0).max(20).optional(),
    stream: z.boolean().default(false),
    n: z.literal(1).optional(),
    user: z.string().optional(),
    response_format: responseFormatSchema.optional(),
  }).strict();
}

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
  };
}

/** The stop strings of a body as a list. */
export function stopsOf(stop: string | string[] | null | undefined): string[] {
  return typeof stop === "string" ? [stop] : stop ?? [];
}
