import { z } from "zod";

/** Limits a server applies to every request. */
export interface Limits {
  /** Most prompt tokens one request may send. */
  readonly maxPromptTokens: number;
  /** Ceiling on max_tokens. */
  readonly maxTokens: number;
}

/** The default limits. */
export const DEFAULT_LIMITS: Limits = { maxPromptTokens: 16384, maxTokens: 4096 };

/** Body of POST /v1/completions. */
export function completionSchema(limits: Limits) {
  return z.object({
    model: z.string().optional(),
    prompt: z.union([z.string(), z.array(z.number().int().nonnegative()).min(1)]),
    max_tokens: z.number().int().min(0).max(limits.maxTokens).default(16),
    temperature: z.number().min(0).max(2).default(1),
    top_p: z.number().gt(0).max(1).default(1),
    top_k: z.number().int().min(0).default(0),
    min_p: z.number().min(0).max(1).default(0),
    presence_penalty: z.number().min(-2).max(2).default(0),
    frequency_penalty: z.number().min(-2).max(2).default(0),
    repetition_penalty: z.number().gt(0).max(10).default(1),
    stop: z.union([z.string(), z.array(z.string()).max(16)]).nullish(),
    stop_token_ids: z.array(z.number().int().nonnegative()).max(64).optional(),
    seed: z.number().int().optional(),
    logprobs: z.number().int().min(0).max(20).nullish(),
    stream: z.boolean().default(false),
    ignore_eos: z.boolean().default(false),
    n: z.literal(1).optional(),
    echo: z.literal(false).optional(),
    user: z.string().optional(),
  }).strict();
}

/** A validated completion request. */
export type CompletionBody = z.infer<ReturnType<typeof completionSchema>>;
