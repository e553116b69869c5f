/** OpenAI's usage object. */
export interface OpenAiUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/**
 * Token counts of a request over all its choices: the prompt counted once (as OpenAI does for
 * `n` > 1), the generated tokens of every choice summed.
 */
export class UsageTally {
  #completion = 0;

  /** A tally for a prompt of `promptTokens` tokens. */
  constructor(readonly promptTokens: number) {}

  /** Adds one choice's generated tokens. */
  add(completionTokens: number): void {
    this.#completion += completionTokens;
  }

  /** The counts in OpenAI's shape. */
  openAi(): OpenAiUsage {
    return {
      prompt_tokens: this.promptTokens,
      completion_tokens: this.#completion,
      total_tokens: this.promptTokens + this.#completion,
    };
  }
}
