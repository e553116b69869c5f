// Starts a real redis-server (Debian's package; .ci/run installs it) on a free port with its files
// in a temporary directory, for tests. No persistence: each test run starts empty.

/** A running redis-server and its URL. */
export interface RedisServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** Why Redis tests cannot run here (redis-server is not installed), or undefined when they can. */
export const redisMissing: string | undefined = await (async () => {
  try {
    const out = await new Deno.Command("redis-server", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return out.success ? undefined : "redis-server --version failed";
  } catch {
    return "redis-server is not installed (apt-get install redis-server; .ci/run does)";
  }
})();

/** A port nobody listens on now. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Starts redis-server and resolves once it answers PING. */
export async function startRedis(): Promise<RedisServer> {
  const dir = await Deno.makeTempDir({ prefix: "redis-test-" });
  const port = freePort();
  const child = new Deno.Command("redis-server", {
    args: ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const deadline = Date.now() + 10_000;
  while (true) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await conn.write(new TextEncoder().encode("PING\r\n"));
      const buf = new Uint8Array(16);
      const n = await conn.read(buf);
      conn.close();
      if (n && new TextDecoder().decode(buf.subarray(0, n)).startsWith("+PONG")) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      await child.status;
      throw new Error(`redis-server did not answer on port ${port} within 10 s`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    url: `redis://127.0.0.1:${port}/0`,
    port,
    stop: async () => {
      child.kill("SIGKILL");
      await child.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
