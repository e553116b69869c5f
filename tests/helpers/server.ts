// Starts `main.ts` as a real server process (as `deno task start` does) and waits until it listens.

const ROOT = new URL("../../", import.meta.url).pathname;

/** A running server: the process, its base URL and what it printed before listening. */
export interface ServerProcess {
  child: Deno.ChildProcess;
  base: string;
  log: string;
}

/** Spawns the server with `env` (PORT=0 picks a free port) and resolves once it listens. */
export async function startServer(env: Record<string, string>): Promise<ServerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", "--allow-net", "--allow-write", "--unstable-kv", "main.ts"],
    cwd: ROOT,
    env: { PORT: "0", HOST: "127.0.0.1", ...env },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (true) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`server exited before listening: ${seen}`);
    seen += value;
    const m = seen.match(/listening on http:\/\/[^:]+:(\d+)/);
    if (m) {
      // Keep draining stdout so the child never blocks on a full pipe.
      (async () => {
        while (!(await reader.read()).done) { /* drain */ }
      })();
      return { child, base: `http://127.0.0.1:${m[1]}`, log: seen };
    }
  }
}
