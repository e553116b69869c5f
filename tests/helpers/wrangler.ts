// Starts a real `wrangler dev` (workerd, offline) for tests. Tests that need it are skipped, saying
// so, where `deno task workers:setup` has not installed wrangler.

const ROOT = new URL("../../", import.meta.url).pathname;
const WRANGLER = `${ROOT}node_modules/.bin/wrangler`;

/** Why wrangler cannot run here, or undefined when it can. */
export const wranglerMissing: string | undefined = await Deno.stat(WRANGLER).then(
  () => undefined,
  () => "wrangler is not installed (deno task workers:setup)",
);

/** Why wrangler cannot be killed as a whole here (it is started in a process group of its own by setsid). */
export const setsidMissing: string | undefined = await new Deno.Command("setsid", { args: ["--version"] })
  .output().then((out) => out.success ? undefined : "setsid failed", () => "setsid is not installed");

/** A running `wrangler dev`. */
export interface WranglerDev {
  /** Its base URL. */
  readonly base: string;
  /** Stops it as Ctrl-C does (wrangler stops workerd). */
  stop(): Promise<void>;
  /** SIGKILLs wrangler, workerd and every other process it started, at once: a crash. */
  kill(): Promise<void>;
}

/** Options of {@linkcode startWrangler}. */
export interface WranglerOptions {
  /** Where local storage (Durable Objects) persists; a restart on the same folder finds it. */
  readonly persist: string;
  /** A wrangler config other than the top wrangler.toml (relative to the repository root). */
  readonly config?: string;
  /** `--var` overrides. */
  readonly vars?: Record<string, string>;
  /** The path answering 200 once the Worker is up (default /health). */
  readonly ready?: string;
  /** The status `ready` answers once the Worker is up (default 200). */
  readonly readyStatus?: number;
}

function freePort(): number {
  const listener = Deno.listen({ port: 0, hostname: "127.0.0.1" });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Starts `wrangler dev` offline on a free port and resolves once the Worker answers. */
export async function startWrangler(options: WranglerOptions): Promise<WranglerDev> {
  const port = freePort();
  const args = ["dev", "--port", String(port), "--ip", "127.0.0.1", "--persist-to", options.persist];
  args.push("--log-level", "warn");
  if (options.config) args.push("--config", options.config);
  for (const [k, v] of Object.entries(options.vars ?? {})) args.push("--var", `${k}:${v}`);
  const [command, commandArgs] = setsidMissing ? [WRANGLER, args] : ["setsid", [WRANGLER, ...args]];
  const child = new Deno.Command(command, {
    args: commandArgs,
    cwd: ROOT,
    env: { CI: "true", WRANGLER_SEND_METRICS: "false" },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const base = `http://127.0.0.1:${port}`;
  const signal = async (send: () => void) => {
    try {
      send();
    } catch { /* already gone */ }
    await child.status;
  };
  const dev: WranglerDev = {
    base,
    stop: () => signal(() => child.kill("SIGINT")),
    kill: () => signal(() => setsidMissing ? child.kill("SIGKILL") : Deno.kill(-child.pid, "SIGKILL")),
  };
  for (let i = 0; i < 240; i++) {
    const up = await fetch(`${base}${options.ready ?? "/health"}`).then(
      (r) => (r.body?.cancel(), r.status === (options.readyStatus ?? 200)),
      () => false,
    );
    if (up) return dev;
    await new Promise((r) => setTimeout(r, 500));
  }
  await dev.stop();
  throw new Error("wrangler dev did not answer within 2 minutes");
}

/**
 * Puts `file` (relative to the repository root) into the local R2 bucket `bucket` under `key`, in
 * the `--persist-to` folder a later `wrangler dev` reads: what `wrangler r2 object put` does
 * against Cloudflare, offline.
 */
export async function putLocalR2(persist: string, bucket: string, key: string, file: string): Promise<void> {
  const args = [
    "r2",
    "object",
    "put",
    `${bucket}/${key}`,
    "--file",
    file,
    "--local",
    "--persist-to",
    persist,
  ];
  const out = await new Deno.Command(WRANGLER, {
    args,
    cwd: ROOT,
    env: { CI: "true", WRANGLER_SEND_METRICS: "false" },
    stdin: "null",
  }).output();
  if (!out.success) throw new Error(`wrangler r2 object put failed: ${new TextDecoder().decode(out.stderr)}`);
}
