import type { Context, Hono } from "hono";
import { streamSSE } from "hono/streaming";
import {
  compileResponseFormat,
  type DoneEvent,
  generate,
  type GenerateRequest,
  newSession,
  randomSeed,
  type TokenEvent,
} from "../engine/mod.ts";
import type { LoadedModel } from "../models/mod.ts";
import { decodeTokens } from "../tokenizers/mod.ts";
import { ApiError } from "./errors.ts";
import { readJsonBody } from "./body.ts";
import { type CompletionBody, completionSchema, samplingOf, stopsOf } from "./schemas.ts";
import { type AppEnv, pickModel, requestSignal, type ServedModels } from "./served.ts";

/** POST /v1/completions, OpenAI-compatible (stream and not). Each request is its own session. */
export function completionRoutes(app: Hono<AppEnv>, served: ServedModels): void {
  const schema = completionSchema(served.limits);
  app.post("/v1/completions", async (c) => {
    const body = schema.parse(await readJsonBody(c));
    const loaded = pickModel(served, body.model);
    const prompt = promptTokens(loaded, body.prompt, served.limits.maxPromptTokens);
    const session = newSession(loaded, body.seed ?? randomSeed());
    const request = { ...generateRequest(body, prompt), signal: requestSignal(c, served) };
    const id = `cmpl-${crypto.randomUUID().replaceAll("-", "")}`;
    const created = Math.floor(Date.now() / 1000);
    const chunk = (text: string, logprobs: unknown, finish: string | null) => ({
      id,
      object: "text_completion",
      created,
      model: loaded.id,
      choices: [{ text, index: 0, logprobs, finish_reason: finish }],
    });
    const events = generate(loaded, session, request);
    if (body.stream) return streamCompletion(c, events, body, chunk, loaded);
    let text = "";
    const tokens: TokenEvent[] = [];
    let done: DoneEvent | undefined;
    for await (const ev of events) {
      if (ev.type === "token") {
        text += ev.text;
        tokens.push(ev);
      } else {
        done = ev;
        text += ev.text;
      }
    }
    const logprobs = body.logprobs == null ? null : openAiLogprobs(loaded, tokens);
    return c.json({
      ...chunk(text, logprobs, done!.finishReason),
      usage: {
        prompt_tokens: done!.usage.promptTokens,
        completion_tokens: done!.usage.completionTokens,
        total_tokens: done!.usage.totalTokens,
      },
    });
  });
}

function streamCompletion(
  c: Context,
  events: AsyncGenerator<TokenEvent | DoneEvent>,
  body: CompletionBody,
  chunk: (text: string, logprobs: unknown, finish: string | null) => unknown,
  loaded: LoadedModel,
): Response {
  return streamSSE(c, async (sse) => {
    let aborted = false;
    sse.onAbort(() => {
      aborted = true;
    });
    try {
      for await (const ev of events) {
        if (aborted) break;
        if (ev.type === "token") {
          const lp = body.logprobs == null ? null : openAiLogprobs(loaded, [ev]);
          if (ev.text === "" && lp === null) continue;
          await sse.writeSSE({ data: JSON.stringify(chunk(ev.text, lp, null)) });
        } else {
          await sse.writeSSE({ data: JSON.stringify(chunk(ev.text, null, ev.finishReason)) });
        }
      }
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

// A text the vocabulary cannot spell (a byte with no token) is the prompt's problem, not the server's.
function encode(loaded: LoadedModel, text: string): number[] {
  try {
    return loaded.tokenizer.encode(text);
  } catch (err) {
    if (err instanceof RangeError) {
      throw new ApiError(400, `The prompt cannot be tokenized: ${err.message}`, "prompt");
    }
    throw err;
  }
}

function generateRequest(body: CompletionBody, prompt: number[]): GenerateRequest {
  return {
    prompt,
    maxTokens: body.max_tokens,
    sampling: samplingOf(body),
    stop: stopsOf(body.stop),
    stopTokenIds: body.stop_token_ids,
    ignoreEos: body.ignore_eos,
    logprobs: body.logprobs ?? undefined,
    flushAtEnd: true,
    grammar: compileResponseFormat(body.response_format),
  };
}

// OpenAI's legacy completions logprobs: parallel arrays over the generated tokens.
function openAiLogprobs(loaded: LoadedModel, tokens: TokenEvent[]) {
  return {
    tokens: tokens.map((t) => decodeTokens(loaded.tokenizer, [t.tokenId])),
    token_logprobs: tokens.map((t) => t.logprob ?? null),
    top_logprobs: tokens.map((t) => Object.fromEntries((t.top ?? []).map((x) => [x.text, x.logprob]))),
  };
}
