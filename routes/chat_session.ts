import { chatTemplate, type Principal, randomSeed } from "../engine/mod.ts";
import { type Delta, type Finish, fromStored } from "./chat_deltas.ts";
import { checkLogitBias, choiceSeed } from "./choices.ts";
import { promptTokens } from "./completions.ts";
import { type ChatBody, samplingOf, stopsOf } from "./schemas.ts";
import { templateStops } from "./response_format.ts";
import type { ServedModels } from "./served.ts";

/** The generations a chat request on a session runs, and where each one lives. */
export interface SessionChoices {
  /** The session's model. */
  readonly model: string;
  /** Tokens of the rendered new messages. */
  readonly promptLength: number;
  /** Each choice's deltas. */
  readonly choices: AsyncGenerator<Delta | Finish>[];
  /** The session each choice continues: the request's for choice 0, a fork of it for the others. */
  readonly sessionIds: string[];
}

/**
 * Starts a chat request's generations on `body.session_id`: the new messages through the chat
 * template, then one generation on the session itself and, for `n` > 1, one on each of `n - 1`
 * forks taken before it starts (so every choice continues the same conversation, and each fork
 * keeps its own reply). Choice i > 0 is seeded from the request's seed (or at random without
 * one), so forks that share the session's sampler state still differ.
 */
export async function sessionChoices(
  served: ServedModels,
  body: ChatBody & { session_id: string },
  who: Principal,
  options: { maxTokens: number; logprobs: number | undefined },
): Promise<SessionChoices> {
  const { meta } = await served.sessions.info(body.session_id, who);
  const loaded = served.sessions.model(meta.model);
  checkLogitBias(loaded, body.logit_bias);
  const template = chatTemplate(loaded);
  const separate = meta.tokens > 0 && meta.generation?.finishReason !== "stop";
  const prompt = promptTokens(
    loaded,
    template.render(body.messages, { separate }),
    served.limits.maxPromptTokens,
  );
  const sessionIds = [body.session_id];
  for (let i = 1; i < body.n; i++) sessionIds.push((await served.sessions.fork(body.session_id, who)).id);
  const baseSeed = body.seed ?? randomSeed();
  const choices: AsyncGenerator<Delta | Finish>[] = [];
  for (const [i, id] of sessionIds.entries()) {
    const { generationId, start } = await served.sessions.startGeneration(id, {
      prompt,
      maxTokens: options.maxTokens,
      sampling: samplingOf(body),
      seed: i === 0 ? body.seed : choiceSeed(baseSeed, i),
      stop: [...stopsOf(body.stop), ...templateStops(template, body.response_format)],
      stopTokenIds: body.stop_token_ids,
      ignoreEos: body.ignore_eos,
      logprobs: options.logprobs,
      responseFormat: body.response_format,
    }, who);
    const after = start - 1;
    choices.push(fromStored(served.sessions.follow(id, who, { after, generationId, throughPauses: true })));
  }
  return { model: loaded.id, promptLength: prompt.length, choices, sessionIds };
}
