// A tiny HTTP load balancer for tests: each request goes to the next upstream in turn (skipping
// one that refuses the connection), the response streams back as it comes (SSE included), and
// the `x-upstream` header names the upstream that answered.

/** A running proxy: its base URL, the upstreams it cycles through (replaceable), and how to stop it. */
export interface RoundRobinProxy {
  base: string;
  upstreams: string[];
  stop(): Promise<void>;
}

/** Starts the proxy on a free port in front of `upstreams` (base URLs). */
export function startProxy(upstreams: string[]): RoundRobinProxy {
  let turn = 0;
  const list = [...upstreams];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const body = req.body ? new Uint8Array(await req.arrayBuffer()) : undefined;
    for (let tries = 0; tries < list.length; tries++) {
      const upstream = list[turn++ % list.length];
      try {
        const res = await fetch(`${upstream}${url.pathname}${url.search}`, {
          method: req.method,
          headers: req.headers,
          body,
          signal: req.signal,
        });
        const headers = new Headers(res.headers);
        headers.set("x-upstream", upstream);
        return new Response(res.body, { status: res.status, headers });
      } catch (err) {
        if (req.signal.aborted) throw err;
        // Connection refused: that instance is down, try the next one.
      }
    }
    return new Response("no upstream answered", { status: 502 });
  });
  return {
    base: `http://127.0.0.1:${server.addr.port}`,
    upstreams: list,
    stop: () => server.shutdown(),
  };
}
