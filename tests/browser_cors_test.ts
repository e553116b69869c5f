// A page in real Chromium (Debian's `chromium`, driven by playwright-core) on another origin than
// the API: CORS preflights with Authorization and Last-Event-ID, an origin not allowed is refused,
// and an EventSource follows a session's stream with a signed short-lived token (never the key).
import assert from "node:assert/strict";
import { CHROMIUM, openBrowser } from "./helpers/browser.ts";
import { startServer } from "./helpers/server.ts";

/** Serves an empty page on a free port: the origin the browser's scripts run on. */
function pageServer() {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("<!doctype html><title>client</title>", { headers: { "content-type": "text/html" } }),
  );
}

Deno.test({
  name: "from a page on another origin: CORS, Last-Event-ID, and an EventSource with a stream token" +
    (CHROMIUM ? "" : " (skipped: Debian's chromium is not installed; apt-get install chromium)"),
  // Skipped only where Debian's chromium is not installed (.ci/run installs it).
  ignore: CHROMIUM === undefined,
  fn: async () => {
    const allowed = pageServer();
    const refused = pageServer();
    const origin = `http://127.0.0.1:${allowed.addr.port}`;
    const api = await startServer({ STORE: "memory", API_KEYS: "secret-key", CORS_ORIGINS: origin });
    await using browser = openBrowser(CHROMIUM!);
    try {
      const result = await browser.run(`${origin}/`, async ({ base, key }) => {
        const auth = { authorization: `Bearer ${key}`, "content-type": "application/json" };
        const post = async (path: string, body: unknown) =>
          await fetch(base + path, { method: "POST", headers: auth, body: JSON.stringify(body) });
        const session = await (await post("/v1/sessions", { prompt: "In the beginning" })).json();
        const generated = await post(`/v1/sessions/${session.id}/generate`, {
          prompt: " God",
          max_tokens: 12,
          stream: false,
          seed: 5,
        });
        const requestId = generated.headers.get("x-request-id");
        const whole = await generated.json();
        // Last-Event-ID is a header a script may send (it is in the preflight's allowed list).
        const stream = (headers: Record<string, string>) =>
          fetch(`${base}/v1/sessions/${session.id}/stream`, {
            headers: { authorization: `Bearer ${key}`, ...headers },
          });
        const fullText = await (await stream({})).text();
        const firstId = Number(fullText.match(/^id: (\d+)$/m)![1]);
        const resumed = await stream({ "last-event-id": String(firstId + 2) });
        const resumedText = await resumed.text();
        // EventSource cannot send headers: without a token it is refused, with one it streams.
        const refusedSource = await new Promise<string>((resolve) => {
          const es = new EventSource(`${base}/v1/sessions/${session.id}/stream`);
          es.onerror = () => {
            resolve(es.readyState === EventSource.CLOSED ? "closed" : "retrying");
            es.close();
          };
          es.onmessage = () => resolve("message");
        });
        const issued = await (await post(`/v1/sessions/${session.id}/stream_token`, {})).json();
        const streamed = await new Promise<{ text: string; ids: string[]; done: unknown }>(
          (resolve, reject) => {
            const es = new EventSource(base + issued.stream_url);
            let text = "";
            const ids: string[] = [];
            es.addEventListener("token", (e) => {
              text += JSON.parse((e as MessageEvent).data).text;
              ids.push((e as MessageEvent).lastEventId);
            });
            es.addEventListener("done", (e) => {
              es.close();
              resolve({ text: text + (JSON.parse((e as MessageEvent).data).text ?? ""), ids, done: true });
            });
            es.onerror = () => {
              es.close();
              reject(new Error("the EventSource failed"));
            };
          },
        );
        return {
          whole,
          requestId,
          firstId,
          resumedStatus: resumed.status,
          resumedText,
          refusedSource,
          issued,
          streamed,
        };
      }, { base: api.base, key: "secret-key" });

      assert.equal(result.whole.object, "session.generation");
      assert.match(result.requestId ?? "", /^[0-9a-f-]{36}$/, "x-request-id is exposed to scripts");
      assert.equal(result.resumedStatus, 200);
      assert.equal(Number(result.resumedText.match(/^id: (\d+)$/m)?.[1]), result.firstId + 3);
      assert.equal(result.refusedSource, "closed");
      assert.ok(!result.issued.stream_url.includes("secret-key"), "the URL never carries the key");
      assert.ok(result.issued.expires_at > Date.now() / 1000);
      assert.equal(result.streamed.text, result.whole.text);
      assert.equal(result.streamed.ids.length, result.whole.token_ids.length);

      // A token is for its own session only, and a tampered one is refused.
      const other = await (await fetch(`${api.base}/v1/sessions`, {
        method: "POST",
        headers: { authorization: "Bearer secret-key", "content-type": "application/json" },
        body: "{}",
      })).json();
      const token = result.issued.token as string;
      const elsewhere = await fetch(`${api.base}/v1/sessions/${other.id}/stream?token=${token}`);
      assert.equal(elsewhere.status, 401);
      await elsewhere.body?.cancel();
      const tampered = token.replace(/\.(\d+)\./, (_, e) => `.${Number(e) + 1000}.`);
      const forged = await fetch(`${api.base}${result.issued.stream_url.replace(token, tampered)}`);
      assert.equal(forged.status, 401);
      await forged.body?.cancel();

      // A page on an origin not in CORS_ORIGINS cannot read answers (the fetch fails).
      const blocked = await browser.run(`http://127.0.0.1:${refused.addr.port}/`, async (base) => {
        try {
          await fetch(`${base}/v1/models`, { headers: { authorization: "Bearer secret-key" } });
          return "read";
        } catch (err) {
          return (err as Error).name;
        }
      }, api.base);
      assert.equal(blocked, "TypeError");
    } finally {
      api.child.kill("SIGTERM");
      await api.child.status;
      await allowed.shutdown();
      await refused.shutdown();
    }
  },
});

Deno.test("preflight: allowed origin gets the methods and headers, another origin gets no CORS header", async () => {
  const api = await startServer({ STORE: "memory", CORS_ORIGINS: "https://app.example" });
  try {
    const preflight = (origin: string) =>
      fetch(`${api.base}/v1/sessions/x/stream`, {
        method: "OPTIONS",
        headers: {
          origin,
          "access-control-request-method": "GET",
          "access-control-request-headers": "authorization,last-event-id",
        },
      });
    const ok = await preflight("https://app.example");
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get("access-control-allow-origin"), "https://app.example");
    const headers = (ok.headers.get("access-control-allow-headers") ?? "").toLowerCase();
    for (const h of ["authorization", "last-event-id", "content-type"]) assert.ok(headers.includes(h), h);
    const no = await preflight("https://evil.example");
    assert.equal(no.headers.get("access-control-allow-origin"), null);
    await ok.body?.cancel();
    await no.body?.cancel();
  } finally {
    api.child.kill("SIGTERM");
    await api.child.status;
  }
});
