// Deno's stand-in for workerd's built-in `cloudflare:workers` module (deno.json's import map points
// the specifier here), declaring only what this project uses, so `deno check` type-checks the
// Durable Object classes. Wrangler bundles the real module; nothing runs this file.
import type { ObjectStorage } from "../store/durable_object/sql.ts";

/** What a Durable Object gets besides its env (workerd's `DurableObjectState`, in part). */
export interface DurableObjectState {
  /** The object's storage: SQLite, transactions, alarm, and its key-value calls. */
  readonly storage: ObjectStorage & {
    /** The value stored under `key`. */
    get<T>(key: string): Promise<T | undefined>;
    /** Stores `value` under `key`. */
    put(key: string, value: unknown): Promise<void>;
  };
}

/** The base class whose subclasses workerd runs as Durable Objects with RPC methods. */
export class DurableObject<Env = unknown> {
  /** The object's state and storage. */
  protected readonly ctx: DurableObjectState;
  /** The Worker's bindings. */
  protected readonly env: Env;

  /** Called by workerd. */
  constructor(ctx: DurableObjectState, env: Env) {
    this.ctx = ctx;
    this.env = env;
  }

  /** Runs when the object's alarm goes off. */
  alarm?(): void | Promise<void>;
}
