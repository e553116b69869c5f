import type { Context, Hono } from "hono";
import { streamSSE } from "hono/streaming";
import {
  chatTemplate,
  compileResponseFormat,
  generate,
  newSession,
  observeGeneration,
  randomSeed,
} from "../engine/mod.ts";
import { readJsonBody } from "./body.ts";
import { type Delta, type Finish, fromEngine } from "./chat_deltas.ts";
import { sessionChoices } from "./chat_session.ts";
import { checkLogitBias, choiceSeed, interleave } from "./choices.ts";
import { promptTokens } from "./completions.ts";
import { type ChatBody, chatSchema, samplingOf, stopsOf } from "./schemas.ts";
import { templateStops } from "./response_format.ts";
import { type AppEnv, pickModel, requestSignal, type ServedModels } from "./served.ts";
import { type OpenAiUsage, UsageTally } from "./usage.ts";

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
    let sessionIds: string[] = [];
    if (body.session_id) {
      c.set("sessionId", body.session_id);
      const run = await sessionChoices(served, { ...body, session_id: body.session_id }, who, {
        maxTokens,
        logprobs: topN,
      });
      ({ model, promptLength, choices, sessionIds } = run);
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
      const grammar = compileResponseFormat(body.response_format);
      const signal = requestSignal(c, served);
      choices = Array.from(
        { length: body.n },
        (_, i) =>
          fromEngine(observeGeneration(
            generate(loaded, newSession(loaded, choiceSeed(seed, i)), {
              prompt,
              maxTokens,
              sampling: samplingOf(body),
              stop: [...stopsOf(body.stop), ...templateStops(template, body.response_format)],
              stopTokenIds: body.stop_token_ids,
              ignoreEos: body.ignore_eos,
              logprobs: topN,
              flushAtEnd: true,
              grammar,
              signal,
            }),
            prompt.length,
          )),
      );
    }
    const base = { id, created, model, ...(body.session_id ? { session_id: body.session_id } : {}) };
    const events = interleave(choices);
    if (body.stream) return streamChat(c, base, events, body, promptLength, sessionIds);
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
        ...(index > 0 && sessionIds[index] ? { session_id: sessionIds[index] } : {}),
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
  sessionIds: string[],
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
          const forked = index > 0 && sessionIds[index] ? { session_id: sessionIds[index] } : {};
          await sse.writeSSE({
            data: chunk([choice(index, { role: "assistant", content: "" }, null, forked)]),
          });
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
