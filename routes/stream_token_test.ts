import assert from "node:assert/strict";
import { keyPrincipal } from "../engine/mod.ts";
import { issueStreamToken, verifyStreamToken } from "./stream_token.ts";

Deno.test("a stream token names its key's principal until it expires, for its own session only", async () => {
  const keys = new Map([[(await keyPrincipal("k1")).id, "k1"], [(await keyPrincipal("k2")).id, "k2"]]);
  const token = await issueStreamToken("k1", "sess-a", 1000);
  assert.ok(!token.includes("k1"));
  assert.deepEqual(await verifyStreamToken(token, "sess-a", keys, 999), await keyPrincipal("k1"));
  assert.equal(await verifyStreamToken(token, "sess-a", keys, 1000), undefined, "expired");
  assert.equal(await verifyStreamToken(token, "sess-b", keys, 999), undefined, "another session");
  assert.equal(
    await verifyStreamToken(token, "sess-a", new Map([...keys].slice(1)), 999),
    undefined,
    "key removed",
  );
  const [who, , sig] = token.split(".");
  assert.equal(
    await verifyStreamToken(`${who}.2000.${sig}`, "sess-a", keys, 999),
    undefined,
    "expiry changed",
  );
  const k2 = (await keyPrincipal("k2")).id.slice(4);
  assert.equal(
    await verifyStreamToken(`${k2}.1000.${sig}`, "sess-a", keys, 999),
    undefined,
    "other key's name",
  );
  assert.equal(await verifyStreamToken("garbage", "sess-a", keys, 0), undefined);
});
