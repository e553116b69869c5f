/**
 * The messages between the playground page and its local engine (a Web Worker running the same
 * app as the server, in the browser). The page loads a model into it, then sends it HTTP requests
 * as messages and reads the answers back as a stream of chunks.
 *
 * @module
 */

/** From the page to the local engine. */
export type ToLocal =
  | {
    readonly type: "load";
    /** The server the model's files come from. */
    readonly origin: string;
    readonly model: string;
    /** The API key for the server's /v1 routes, if it has keys. */
    readonly apiKey?: string;
  }
  | {
    readonly type: "fetch";
    /** Matches the answers to this request. */
    readonly id: number;
    readonly method: string;
    /** Path and query, as on the server. */
    readonly path: string;
    readonly headers: Record<string, string>;
    readonly body?: ArrayBuffer;
  };

/** From the local engine to the page. */
export type FromLocal =
  | { readonly type: "progress"; readonly done: number; readonly total: number }
  | { readonly type: "ready"; readonly model: string; readonly ms: number; readonly backend: string }
  | { readonly type: "failed"; readonly message: string }
  | {
    readonly type: "head";
    readonly id: number;
    readonly status: number;
    readonly headers: Record<string, string>;
  }
  | { readonly type: "chunk"; readonly id: number; readonly bytes: Uint8Array }
  | { readonly type: "end"; readonly id: number }
  | { readonly type: "error"; readonly id: number; readonly message: string };
