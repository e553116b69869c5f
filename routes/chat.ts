import type { Context, Hono } from "hono";
import { streamSSE } from "hono/streaming";
import {
  chatTemplate,
  compileResponseFormat,
  generate,
  newSession,
  randomSeed,
  type StoredEvent,
} from "../engine/mod.ts";
import type { GenerationEvent } from "../engine/mod.ts";
import { readJsonBody } from "./body.ts";
import { promptTokens } from "./completions.ts";
import { type ChatBody, chatSchema, samplingOf, stopsOf } from "./schemas.ts";
import { templateStops } from "./response_format.ts";
import { type AppEnv, pickModel, requestSignal, type ServedModels } from "./served.ts";

interface Delta {
  text: string;
  tokenId?: number;
  logprob?: number;
  top?: { token: string; logprob: number }[];
}

/**
 * POST /v1/chat/completions, OpenAI's shape (stream and not). Messages go through the
 * model family's chat template. With `session_id`, only the new messages are sent: the
 * session's state carries the conversation, and the reply is appended to it.
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
    let deltas: AsyncGenerator<Delta | { done: true; finishReason: string; usage: Usage }>;
    if (body.session_id) {
      const { meta } = await served.sessions.info(body.session_id, who);
      const loaded = served.sessions.model(meta.model);
      model = loaded.id;
      const template = chatTemplate(loaded);
      const separate = meta.tokens > 0 && meta.generation?.finishReason !== "stop";
      const prompt = promptTokens(
        loaded,
        template.render(body.messages, { separate }),
        served.limits.maxPromptTokens,
      );
      const { generationId, start } = await served.sessions.startGeneration(body.session_id, {
        prompt,
        maxTokens,
        sampling: samplingOf(body),
        seed: body.seed,
        stop: [...stopsOf(body.stop), ...templateStops(template, body.response_format)],
        stopTokenIds: body.stop_token_ids,
        ignoreEos: body.ignore_eos,
        logprobs: topN,
        responseFormat: body.response_format,
      }, who);
      deltas = fromStored(served.sessions.follow(body.session_id, who, { after: start - 1, generationId }));
    } else {
      const loaded = pickModel(served, body.model);
      model = loaded.id;
      const template = chatTemplate(loaded);
      const prompt = promptTokens(
        loaded,
        template.render(body.messages, { separate: false }),
        served.limits.maxPromptTokens,
      );
      const session = newSession(loaded, body.seed ?? randomSeed());
      deltas = fromEngine(generate(loaded, session, {
        prompt,
        maxTokens,
        sampling: samplingOf(body),
        stop: [...stopsOf(body.stop), ...templateStops(template, body.response_format)],
        stopTokenIds: body.stop_token_ids,
        ignoreEos: body.ignore_eos,
        logprobs: topN,
        flushAtEnd: true,
        signal: requestSignal(c, served),
        grammar: compileResponseFormat(body.response_format),
      }));
    }
    const base = { id, created, model, ...(body.session_id ? { session_id: body.session_id } : {}) };
    if (body.stream) return streamChat(c, base, deltas, body);
    let text = "";
    const logprobs: Delta[] = [];
    for await (const d of deltas) {
      if ("done" in d) {
        return c.json({
          ...base,
          object: "chat.completion",
          choices: [{
            index: 0,
            message: { role: "assistant", content: text },
            logprobs: body.logprobs ? { content: logprobs.map(chatLogprob) } : null,
            finish_reason: d.finishReason,
          }],
          usage: d.usage,
        });
      }
      text += d.text;
      if (d.tokenId !== undefined) logprobs.push(d);
    }
    throw new Error("The generation ended without a final event");
  });
}

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

function chatLogprob(d: Delta) {
  return { token: d.text, logprob: d.logprob ?? null, top_logprobs: d.top ?? [] };
}

function streamChat(
  c: Context,
  base: Record<string, unknown>,
  deltas: AsyncGenerator<Delta | { done: true; finishReason: string; usage: Usage }>,
  body: ChatBody,
): Response {
  return streamSSE(c, async (sse) => {
    const chunk = (
      delta: Record<string, unknown>,
      finish: string | null,
      extra: Record<string, unknown> = {},
    ) =>
      JSON.stringify({
        ...base,
        object: "chat.completion.chunk",
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finish, ...extra }],
      });
    let aborted = false;
    sse.onAbort(() => {
      aborted = true;
    });
    try {
      await sse.writeSSE({ data: chunk({ role: "assistant", content: "" }, null) });
      for await (const d of deltas) {
        if (aborted) break;
        if ("done" in d) {
          await sse.writeSSE({ data: chunk({}, d.finishReason) });
          break;
        }
        if (d.text === "" && !body.logprobs) continue;
        const extra = body.logprobs ? { logprobs: { content: [chatLogprob(d)] } } : {};
        await sse.writeSSE({ data: chunk({ content: d.text }, null, extra) });
      }
      if (!aborted) await sse.writeSSE({ data: "[DONE]" });
    } catch (err) {
      await sse.writeSSE({
        event: "error",
        data: JSON.stringify({ error: { message: (err as Error).message } }),
      });
    } finally {
      await deltas.return(undefined);
    }
  });
}

async function* fromEngine(events: AsyncGenerator<GenerationEvent>) {
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

async function* fromStored(events: AsyncGenerator<StoredEvent>) {
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
      yield { done: true as const, finishReason: data.finish_reason as string, usage: data.usage as Usage };
    } else {
      throw new Error(data.message);
    }
  }
}
