/**
 * Chat templates: how a list of messages becomes prompt text. A checkpoint that
 * brings its own (HF `tokenizer_config.json` `chat_template`, Jinja) is rendered
 * with @huggingface/jinja; every other model uses the documented default below.
 *
 * The default is RWKV's (World and G1 models are trained on "User: …\n\nAssistant:
 * …\n\n" turns; "System: …" for a system message). A turn's text must not contain
 * a blank line, so "\n\n" inside a message becomes "\n". Generation stops at the
 * blank line that ends the assistant's turn.
 *
 * @module
 */

import { Template } from "@huggingface/jinja";
import type { LoadedModel } from "../models/mod.ts";

/** One chat message. */
export interface ChatMessage {
  /** Who speaks. */
  readonly role: "system" | "user" | "assistant";
  /** What they say. */
  readonly content: string;
}

/** How a family writes a conversation. */
export interface ChatTemplate {
  /**
   * Prompt text for `messages`, ending where the assistant's reply begins. `separate`: the text
   * follows earlier turns that did not end with the turn terminator (a reply cut by max_tokens).
   */
  render(messages: readonly ChatMessage[], options: { separate: boolean }): string;
  /** Stop strings that end the assistant's turn. */
  readonly stop: readonly string[];
}

const ROLE: Record<ChatMessage["role"], string> = { system: "System", user: "User", assistant: "Assistant" };

/** The RWKV World / G1 template (also the documented default for families without their own). */
export const RWKV_CHAT: ChatTemplate = {
  render(messages, { separate }) {
    const turns = messages.map((m) => `${ROLE[m.role]}: ${m.content.trim().replace(/\n\n+/g, "\n")}`);
    return (separate ? "\n\n" : "") + turns.join("\n\n") + "\n\nAssistant:";
  },
  stop: ["\n\n"],
};

/**
 * The template for a model: its checkpoint's own Jinja template if it has one (rendered with
 * add_generation_prompt; it ends turns with its end-of-text token, so it adds no stop strings),
 * else the RWKV default. For a session that continues, only the new messages are rendered.
 */
export function chatTemplate(loaded: Pick<LoadedModel, "chatTemplate">): ChatTemplate {
  const own = loaded.chatTemplate;
  if (!own) return RWKV_CHAT;
  const template = new Template(own.source);
  return {
    render(messages) {
      return template.render({
        messages: messages.map((m) => ({ role: m.role, content: m.content })),
        add_generation_prompt: true,
        bos_token: own.bosToken ?? "",
        eos_token: own.eosToken ?? "",
      });
    },
    stop: [],
  };
}
