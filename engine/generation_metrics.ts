import type { GenerationEvent } from "./generate.ts";
import { metrics } from "./metrics.ts";

/**
 * Passes a generation's events through, recording its time to first token, prefill and decode
 * speed, tokens generated and whether it is running or still waiting for its first token.
 * `promptTokens`: how many tokens the generation prefills before its first token (0 when the
 * prompt was fed beforehand).
 */
export async function* observeGeneration(
  events: AsyncGenerator<GenerationEvent>,
  promptTokens: number,
): AsyncGenerator<GenerationEvent> {
  const started = performance.now();
  let first: number | undefined;
  metrics.active.inc();
  metrics.queued.inc();
  try {
    for await (const ev of events) {
      const now = performance.now();
      if (ev.type === "token") {
        metrics.tokens.inc();
        if (first === undefined) {
          first = now;
          metrics.queued.inc({}, -1);
          metrics.firstToken.observe((now - started) / 1000);
          if (promptTokens > 0) {
            metrics.promptTokens.inc({}, promptTokens);
            metrics.prefillSpeed.observe(promptTokens / Math.max((now - started) / 1000, 1e-6));
          }
        }
      } else if (first !== undefined && ev.usage.completionTokens > 1 && now > first) {
        metrics.decodeSpeed.observe((ev.usage.completionTokens - 1) / ((now - first) / 1000));
      }
      yield ev;
    }
  } finally {
    metrics.active.inc({}, -1);
    if (first === undefined) metrics.queued.inc({}, -1);
  }
}
