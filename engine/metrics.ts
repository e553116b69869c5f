/**
 * The server's metrics, one registry per process: HTTP requests, generation speed and
 * latency, sessions and store operations. Routes record requests; the engine records the rest.
 *
 * @module
 */

import { Counter, Gauge, Histogram, Registry } from "./prometheus.ts";

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const TOKENS_PER_SECOND = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

/** The registry `GET /metrics` renders. */
export const registry: Registry = new Registry();

/** The instruments, by what they measure. */
export const metrics = {
  requests: registry.register(
    new Counter("http_requests_total", "HTTP requests answered, by method, route and status"),
  ),
  requestSeconds: registry.register(
    new Histogram("http_request_duration_seconds", "Time to the response's headers, by route", SECONDS),
  ),
  inFlight: registry.register(new Gauge("http_requests_in_flight", "HTTP requests being handled")),
  tokens: registry.register(new Counter("generated_tokens_total", "Tokens generated")),
  promptTokens: registry.register(new Counter("prompt_tokens_total", "Prompt tokens prefilled")),
  prefillSpeed: registry.register(
    new Histogram("prefill_tokens_per_second", "Prompt tokens per second of prefill", TOKENS_PER_SECOND),
  ),
  decodeSpeed: registry.register(
    new Histogram(
      "decode_tokens_per_second",
      "Generated tokens per second after the first",
      TOKENS_PER_SECOND,
    ),
  ),
  firstToken: registry.register(
    new Histogram("time_to_first_token_seconds", "From a generation's start to its first token", SECONDS),
  ),
  active: registry.register(new Gauge("active_generations", "Generations running in this process")),
  queued: registry.register(
    new Gauge("generation_queue_depth", "Generations started that have not produced their first token yet"),
  ),
  sessions: registry.register(
    new Counter(
      "sessions_total",
      "Session operations in this process, by operation (create, import, fork, delete)",
    ),
  ),
  storeSeconds: registry.register(
    new Histogram("store_operation_seconds", "State store operation latency, by operation", SECONDS),
  ),
  storeErrors: registry.register(
    new Counter("store_errors_total", "State store operations that failed, by operation"),
  ),
};
