// Starts `main.ts` as a real server process (as `deno task start` does) and waits until it listens.

const ROOT = new URL("../../", import.meta.url).pathname;

/**
 * The arguments `deno task start` passes to deno (read from deno.json), so tests run the server
 * exactly as users do.
 */
export function startArgs(): string[] {
  const task = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)).tasks.start;
  const command: string = typeof task === "string" ? task : task.command;
  const [deno, ...args] = command.split(/\s+/);
  if (deno !== "deno") throw new Error(`the start task does not run deno: ${command}`);
  return args;
}

/** A running server: the process, its base URL, what it printed before listening and the URL it printed. */
export interface ServerProcess {
  child: Deno.ChildProcess;
  base: string;
  log: string;
  /** The URL of the "listening on" line. */
  printedUrl: string;
  /** Everything it has printed to stdout so far (request log lines included). */
  stdout: () => string;
}

/**
 * Spawns the server with `env` (PORT=0 picks a free port) and resolves once it listens; `args`
 * replaces `deno task start`'s arguments to deno (a Deploy-shaped run names its own).
 */
export async function startServer(env: Record<string, string>, args = startArgs()): Promise<ServerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
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
    const m = seen.match(/listening on (http:\/\/[^:]+:(\d+)\S*)/);
    if (m) {
      const log = seen;
      // Keep draining stdout so the child never blocks on a full pipe.
      (async () => {
        while (true) {
          const { value, done } = await reader.read();
          if (done) break;
          seen += value;
        }
      })();
      return { child, base: `http://127.0.0.1:${m[2]}`, log, printedUrl: m[1], stdout: () => seen };
    }
  }
}
