// A test-only Worker (tests/workers/wrangler.toml) that runs the store contract's checks inside
// workerd against the Durable Object store: GET /checks lists them; POST /checks/<n> runs check n
// on a store of its own (its objects' names under a fresh prefix) and answers { ok } or
// { ok: false, error }.
import { CONTRACT_CHECKS } from "../helpers/store_contract.ts";
import {
  DURABLE_OBJECT_CHECKS,
  type DurableObjectCheck,
  type DurableObjectSubject,
} from "./durable_object_checks.ts";
import { DurableObjectStore, type DurableObjectStoreOptions } from "../../store/durable_object.ts";
import { storeBindings, type StoreEnv } from "../../workers/durable_objects.ts";

export { BlobShardObject, OwnerObject, SessionObject } from "../../workers/durable_objects.ts";

const CHECKS: readonly DurableObjectCheck[] = [...CONTRACT_CHECKS, ...DURABLE_OBJECT_CHECKS];

export default {
  async fetch(request: Request, env: StoreEnv): Promise<Response> {
    const path = new URL(request.url).pathname;
    if (path === "/checks") return Response.json(CHECKS.map((c) => c.name));
    const check = CHECKS[Number(/^\/checks\/(\d+)$/.exec(path)?.[1] ?? NaN)];
    if (!check || request.method !== "POST") return new Response("Not found", { status: 404 });
    const bindings = storeBindings(env)!;
    const subject: DurableObjectSubject = {
      name: "durable object",
      make: (options?: DurableObjectStoreOptions) =>
        Promise.resolve(
          new DurableObjectStore(bindings, { blobShards: 4, prefix: `${crypto.randomUUID()}/`, ...options }),
        ),
      leftovers: (store) => (store as DurableObjectStore).storedBlobs(),
    };
    try {
      await check.run(subject);
      return Response.json({ ok: true });
    } catch (err) {
      return Response.json({
        ok: false,
        error: err instanceof Error ? err.stack ?? err.message : String(err),
      });
    }
  },
};
