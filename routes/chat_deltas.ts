import type { GenerationEvent, StoredEvent } from "../engine/mod.ts";
import type { OpenAiUsage } from "./usage.ts";

/** Some text of one choice, with its token and logprobs when it is a token. */
export interface Delta {
  text: string;
  tokenId?: number;
  logprob?: number;
  top?: { token: string; logprob: number }[];
}

/** The end of one choice. */
export interface Finish {
  done: true;
  finishReason: string;
  usage: OpenAiUsage;
}

/** A generation's engine events as deltas. */
export async function* fromEngine(events: AsyncGenerator<GenerationEvent>): AsyncGenerator<Delta | Finish> {
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

/** A session generation's stored events as deltas. */
export async function* fromStored(events: AsyncGenerator<StoredEvent>): AsyncGenerator<Delta | Finish> {
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
