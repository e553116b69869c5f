/**
 * Chat templates: how a list of messages becomes prompt text, per model family.
 *
 * RWKV (World and G1 models) are trained on "User: …\n\nAssistant: …\n\n" turns
 * (BlinkDL's template; "System: …" for a system message). A turn's text must not
 * contain a blank line, so "\n\n" inside a message becomes "\n". Generation
 * stops at the blank line that ends the assistant's turn.
 *
 * @module
 */

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

/** The template for a model family (RWKV's for every family until one defines its own). */
export function chatTemplate(_family: string): ChatTemplate {
  return RWKV_CHAT;
}
