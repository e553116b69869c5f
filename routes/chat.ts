import type { Context, Hono } from "hono";
import { streamSSE } from "hono/streaming";
import {
  chatTemplate,
  generate,
  newSession,
  observeGeneration,
  randomSeed,
  type StoredEvent,
} from "../engine/mod.ts";
import type { GenerationEvent } from "../engine/mod.ts";
import { readJsonBody } from "./body.ts";
import { checkLogitBias, choiceSeed, interleave } from "./choices.ts";
import { promptTokens } from "./completions.ts";
import { ApiError } from "./errors.ts";
import { type ChatBody, chatSchema, samplingOf, stopsOf } from "./schemas.ts";
import { type AppEnv, pickModel, requestSignal, type ServedModels } from "./served.ts";
import { type OpenAiUsage, UsageTally } from "./usage.ts";

interface Delta {
  text: string;
  tokenId?: number;
  logprob?: number;
  top?: { token: string; logprob: number }[];
}

/** The end of one choice. */
interface Finish {
  done: true;
  finishReason: string;
  usage: OpenAiUsage;
}

/**
 * POST /v1/chat/completions, OpenAI's shape (stream and not). Messages go through the
 * model family's chat template. With `session_id`, only the new messages are sent: the
 * session's state carries the conversation, and the reply is appended to it. Without one,
 * each of the `n` choices is its own generation.
 */
export function chatRoutes(app: Hono<AppEnv>, served: ServedModels): void {
  const schema = chatSchema(served.limits);
  app.post("/v1/chat/completions", async (c) => {
    const body = schema.parse(await readJsonBody(c));
    const who = c.get("principal");
    const id = `chatcmpl-${crypto.randomUUID().replaceAll("-", "")}`;
    const created = Math.floor(Date.now() / 1000);
    const maxTokens = body.max_completion_tokens ?? body.max_tokens;
    const topN = body.logprobs ? body.top_logprobs ?? 0 : undefined;
    let model: string;
    let choices: AsyncGenerator<Delta | Finish>[];
    let promptLength: number;
    if (body.session_id) {
      c.set("sessionId", body.session_id);
      if (body.n > 1) {
        throw new ApiError(
          400,
          "n > 1 is not supported with session_id: fork the session (POST /v1/sessions/{id}/fork) once per choice",
          "n",
        );
      }
      const { meta } = await served.sessions.info(body.session_id, who);
      const loaded = served.sessions.model(meta.model);
      checkLogitBias(loaded, body.logit_bias);
      model = loaded.id;
      const template = chatTemplate(loaded);
      const separate = meta.tokens > 0 && meta.generation?.finishReason !== "stop";
      const prompt = promptTokens(
        loaded,
        template.render(body.messages, { separate }),
        served.limits.maxPromptTokens,
      );
      promptLength = prompt.length;
      const { generationId, start } = await served.sessions.startGeneration(body.session_id, {
        prompt,
        maxTokens,
        sampling: samplingOf(body),
        seed: body.seed,
        stop: [...stopsOf(body.stop), ...template.stop],
        stopTokenIds: body.stop_token_ids,
        ignoreEos: body.ignore_eos,
        logprobs: topN,
      }, who);
      choices = [
        fromStored(served.sessions.follow(body.session_id, who, { after: start - 1, generationId })),
      ];
    } else {
      const loaded = pickModel(served, body.model);
      checkLogitBias(loaded, body.logit_bias);
      model = loaded.id;
      const template = chatTemplate(loaded);
      const prompt = promptTokens(
        loaded,
        template.render(body.messages, { separate: false }),
        served.limits.maxPromptTokens,
      );
      promptLength = prompt.length;
      const seed = body.seed ?? randomSeed();
      const signal = requestSignal(c, served);
      choices = Array.from(
        { length: body.n },
        (_, i) =>
          fromEngine(observeGeneration(
            generate(loaded, newSession(loaded, choiceSeed(seed, i)), {
              prompt,
              maxTokens,
              sampling: samplingOf(body),
              stop: [...stopsOf(body.stop), ...template.stop],
              stopTokenIds: body.stop_token_ids,
              ignoreEos: body.ignore_eos,
              logprobs: topN,
              flushAtEnd: true,
              signal,
            }),
            prompt.length,
          )),
      );
    }
    const base = { id, created, model, ...(body.session_id ? { session_id: body.session_id } : {}) };
    const events = interleave(choices);
    if (body.stream) return streamChat(c, base, events, body, promptLength);
    const text: string[] = Array(choices.length).fill("");
    const logprobs: Delta[][] = choices.map(() => []);
    const finish: string[] = [];
    const usage = new UsageTally(promptLength);
    for await (const { index, value: d } of events) {
      if ("done" in d) {
        finish[index] = d.finishReason;
        usage.add(d.usage.completion_tokens);
        continue;
      }
      text[index] += d.text;
      if (d.tokenId !== undefined) logprobs[index].push(d);
    }
    if (finish.filter(Boolean).length !== choices.length) {
      throw new Error("A generation ended without a final event");
    }
    return c.json({
      ...base,
      object: "chat.completion",
      choices: text.map((content, index) => ({
        index,
        message: { role: "assistant", content },
        logprobs: body.logprobs ? { content: logprobs[index].map(chatLogprob) } : null,
        finish_reason: finish[index],
      })),
      usage: usage.openAi(),
    });
  });
}

function chatLogprob(d: Delta) {
  return { token: d.text, logprob: d.logprob ?? null, top_logprobs: d.top ?? [] };
}

function streamChat(
  c: Context,
  base: Record<string, unknown>,
  events: AsyncGenerator<{ index: number; value: Delta | Finish }>,
  body: ChatBody,
  promptLength: number,
): Response {
  const includeUsage = body.stream_options?.include_usage ?? false;
  return streamSSE(c, async (sse) => {
    const chunk = (choices: unknown[], usage?: OpenAiUsage) =>
      JSON.stringify({
        ...base,
        object: "chat.completion.chunk",
        choices,
        ...(includeUsage ? { usage: usage ?? null } : {}),
      });
    const choice = (
      index: number,
      delta: Record<string, unknown>,
      finish: string | null,
      extra: Record<string, unknown> = {},
    ) => ({ index, delta, logprobs: null, finish_reason: finish, ...extra });
    let aborted = false;
    sse.onAbort(() => {
      aborted = true;
    });
    const usage = new UsageTally(promptLength);
    const started = new Set<number>();
    try {
      for await (const { index, value: d } of events) {
        if (aborted) break;
        if (!started.has(index)) {
          started.add(index);
          await sse.writeSSE({ data: chunk([choice(index, { role: "assistant", content: "" }, null)]) });
        }
        if ("done" in d) {
          usage.add(d.usage.completion_tokens);
          await sse.writeSSE({ data: chunk([choice(index, {}, d.finishReason)]) });
          continue;
        }
        if (d.text === "" && !body.logprobs) continue;
        const extra = body.logprobs ? { logprobs: { content: [chatLogprob(d)] } } : {};
        await sse.writeSSE({ data: chunk([choice(index, { content: d.text }, null, extra)]) });
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

async function* fromEngine(events: AsyncGenerator<GenerationEvent>): AsyncGenerator<Delta | Finish> {
  for await (const ev of events) {
    if (ev.type === "token") {
      yield {
        text: ev.text,
        tokenId: ev.tokenId,
        logprob: ev.logprob,
        top: ev.top?.map((t) => ({ token: t.text, logprob: t.logprob })),
      };
    } else {
      if (ev.text) yield { text: ev.text };
      const u = ev.usage;
      yield {
        done: true as const,
        finishReason: ev.finishReason,
        usage: {
          prompt_tokens: u.promptTokens,
          completion_tokens: u.completionTokens,
          total_tokens: u.totalTokens,
        },
      };
    }
  }
}

async function* fromStored(events: AsyncGenerator<StoredEvent>): AsyncGenerator<Delta | Finish> {
  for await (const e of events) {
    const data = JSON.parse(e.data);
    if (e.event === "token") {
      yield {
        text: data.text as string,
        tokenId: data.token_id as number,
        logprob: data.logprob as number | undefined,
        top: data.top_logprobs,
      };
    } else if (e.event === "done") {
      if (data.text) yield { text: data.text as string };
      yield {
        done: true as const,
        finishReason: data.finish_reason as string,
        usage: data.usage as OpenAiUsage,
      };
      return;
    } else {
      throw new Error(data.message);
    }
  }
}
