import type { Context, Hono } from "hono";
import { streamSSE } from "hono/streaming";
import {
  compileResponseFormat,
  generate,
  type GenerationEvent,
  newSession,
  observeGeneration,
  type PromptTokenLogprob,
  randomSeed,
  scorePrompt,
  type TopLogprob,
} from "../engine/mod.ts";
import type { LoadedModel } from "../models/mod.ts";
import { decodeTokens } from "../tokenizers/mod.ts";
import { ApiError } from "./errors.ts";
import { readJsonBody } from "./body.ts";
import { checkLogitBias, choiceSeed, interleave } from "./choices.ts";
import { type CompletionBody, completionSchema, samplingOf, stopsOf } from "./schemas.ts";
import { type AppEnv, pickModel, requestSignal, type ServedModels } from "./served.ts";
import { type OpenAiUsage, UsageTally } from "./usage.ts";

/** What one choice of a completion yields: the echoed prompt (when asked), then the engine's events. */
type CompletionEvent = GenerationEvent | { type: "echo"; text: string; scored?: PromptTokenLogprob[] };

/** One token in OpenAI's legacy logprobs: its text, logprob and top alternatives. */
interface LogprobEntry {
  readonly text: string;
  readonly logprob: number | null;
  readonly top: readonly Pick<TopLogprob, "text" | "logprob">[] | null;
}

/**
 * POST /v1/completions, OpenAI-compatible (stream and not). Each request is its own session, each
 * of its `n` choices its own generation. `echo` puts the prompt before the text; with `logprobs`
 * it also scores each prompt token.
 */
export function completionRoutes(app: Hono<AppEnv>, served: ServedModels): void {
  const schema = completionSchema(served.limits);
  app.post("/v1/completions", async (c) => {
    const body = schema.parse(await readJsonBody(c));
    const loaded = pickModel(served, body.model);
    checkLogitBias(loaded, body.logit_bias);
    const prompt = promptTokens(loaded, body.prompt, served.limits.maxPromptTokens);
    const seed = body.seed ?? randomSeed();
    const grammar = compileResponseFormat(body.response_format);
    const signal = requestSignal(c, served);
    const choices = Array.from(
      { length: body.n },
      (_, i) => runChoice(loaded, body, prompt, choiceSeed(seed, i), { signal, grammar }),
    );
    const base = {
      id: `cmpl-${crypto.randomUUID().replaceAll("-", "")}`,
      object: "text_completion",
      created: Math.floor(Date.now() / 1000),
      model: loaded.id,
    };
    const events = interleave(choices);
    if (body.stream) return streamCompletion(c, events, body, base, loaded, prompt.length);
    const text: string[] = Array(body.n).fill("");
    const logprobs: LogprobEntry[][] = Array.from({ length: body.n }, () => []);
    const finish: string[] = [];
    const usage = new UsageTally(prompt.length);
    for await (const { index, value: ev } of events) {
      text[index] += ev.text;
      logprobs[index].push(...logprobEntries(loaded, ev));
      if (ev.type === "done") {
        finish[index] = ev.finishReason;
        usage.add(ev.usage.completionTokens);
      }
    }
    return c.json({
      ...base,
      choices: text.map((t, index) => ({
        text: t,
        index,
        logprobs: body.logprobs === undefined ? null : openAiLogprobs(logprobs[index]),
        finish_reason: finish[index],
      })),
      usage: usage.openAi(),
    });
  });
}

/** One choice: a fresh session seeded `seed`, the prompt (scored when echoed with logprobs), the generation. */
async function* runChoice(
  loaded: LoadedModel,
  body: CompletionBody,
  prompt: number[],
  seed: number,
  run: { signal: AbortSignal; grammar: ReturnType<typeof compileResponseFormat> },
): AsyncGenerator<CompletionEvent> {
  const { signal, grammar } = run;
  const session = newSession(loaded, seed);
  let rest = prompt;
  if (body.echo) {
    const text = typeof body.prompt === "string" ? body.prompt : decodeTokens(loaded.tokenizer, prompt);
    if (body.logprobs === undefined) {
      yield { type: "echo", text };
    } else {
      const scored = await scorePrompt(loaded, session, prompt, { topN: body.logprobs, signal });
      rest = [];
      yield { type: "echo", text, scored };
    }
  }
  yield* observeGeneration(
    generate(loaded, session, {
      prompt: rest,
      maxTokens: body.max_tokens,
      sampling: samplingOf(body),
      stop: stopsOf(body.stop),
      stopTokenIds: body.stop_token_ids,
      ignoreEos: body.ignore_eos,
      logprobs: body.logprobs,
      flushAtEnd: true,
      grammar,
      signal,
    }),
    rest.length,
  );
}

function streamCompletion(
  c: Context,
  events: AsyncGenerator<{ index: number; value: CompletionEvent }>,
  body: CompletionBody,
  base: Record<string, unknown>,
  loaded: LoadedModel,
  promptLength: number,
): Response {
  const includeUsage = body.stream_options?.include_usage ?? false;
  const chunk = (choices: unknown[], usage?: OpenAiUsage | null) =>
    JSON.stringify({ ...base, choices, ...(includeUsage ? { usage: usage ?? null } : {}) });
  return streamSSE(c, async (sse) => {
    let aborted = false;
    sse.onAbort(() => {
      aborted = true;
    });
    const usage = new UsageTally(promptLength);
    try {
      for await (const { index, value: ev } of events) {
        if (aborted) break;
        const lp = body.logprobs === undefined ? null : openAiLogprobs(logprobEntries(loaded, ev));
        if (ev.type === "done") usage.add(ev.usage.completionTokens);
        else if (ev.text === "" && lp === null) continue;
        const finish = ev.type === "done" ? ev.finishReason : null;
        await sse.writeSSE({ data: chunk([{ text: ev.text, index, logprobs: lp, finish_reason: finish }]) });
      }
      if (!aborted && includeUsage) await sse.writeSSE({ data: chunk([], usage.openAi()) });
      if (!aborted) await sse.writeSSE({ data: "[DONE]" });
    } catch (err) {
      await sse.writeSSE({
        event: "error",
        data: JSON.stringify({ error: { message: (err as Error).message } }),
      });
    } finally {
      await events.return(undefined);
    }
  });
}

/** Token ids of a prompt (text or ids), checked against the vocabulary and the size limit. */
export function promptTokens(loaded: LoadedModel, prompt: string | number[], limit: number): number[] {
  const ids = typeof prompt === "string" ? encode(loaded, prompt) : prompt;
  if (ids.length === 0) {
    throw new ApiError(400, "The prompt is empty: send at least one token of text", "prompt");
  }
  if (ids.length > limit) {
    throw new ApiError(
      413,
      `The prompt has ${ids.length} tokens; this server accepts at most ${limit}`,
      "prompt",
    );
  }
  const vocab = loaded.model.info.vocabSize;
  const bad = ids.find((id) => id >= vocab);
  if (bad !== undefined) {
    throw new ApiError(400, `Token id ${bad} is outside the vocabulary (0..${vocab - 1})`, "prompt");
  }
  return ids;
}

/** Text to token ids; a text the vocabulary cannot spell (a byte with no token) is a 400, not a 500. */
export function encode(loaded: LoadedModel, text: string): number[] {
  try {
    return loaded.tokenizer.encode(text);
  } catch (err) {
    if (err instanceof RangeError) {
      throw new ApiError(400, `The prompt cannot be tokenized: ${err.message}`, "prompt");
    }
    throw err;
  }
}

/** The logprob entries an event adds: one per generated token, one per scored prompt token. */
function logprobEntries(loaded: LoadedModel, ev: CompletionEvent): LogprobEntry[] {
  if (ev.type === "token") {
    return [{
      text: decodeTokens(loaded.tokenizer, [ev.tokenId]),
      logprob: ev.logprob ?? null,
      top: ev.top ?? [],
    }];
  }
  if (ev.type === "echo" && ev.scored) {
    return ev.scored.map((s) => ({
      text: s.text,
      logprob: s.logprob,
      top: s.logprob === null ? null : s.top,
    }));
  }
  return [];
}

// OpenAI's legacy completions logprobs: parallel arrays over the tokens (null where a first
// echoed token has nothing before it).
function openAiLogprobs(entries: LogprobEntry[]) {
  return {
    tokens: entries.map((e) => e.text),
    token_logprobs: entries.map((e) => e.logprob),
    top_logprobs: entries.map((e) => e.top && Object.fromEntries(e.top.map((x) => [x.text, x.logprob]))),
  };
}
