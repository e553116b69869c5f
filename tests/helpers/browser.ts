// Drives tests/helpers/chromium.ts from a test: each call runs one function in the page at a URL
// and returns its result.

const ROOT = new URL("../../", import.meta.url).pathname;

/** Where Debian's chromium is installed, if it is. */
export const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});

/** A browser process: `run` evaluates `fn(arg)` in a page at `url` (navigating there if needed). */
export interface Browser extends AsyncDisposable {
  run<A, R>(url: string, fn: (arg: A) => Promise<R> | R, arg: A): Promise<R>;
  /** Reloads the current page. */
  reload(): Promise<void>;
  /** Saves a PNG of the current page at `path`. */
  screenshot(path: string): Promise<void>;
}

/** Starts Chromium (headless) in a child process. */
export function openBrowser(executablePath: string): Browser {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "tests/helpers/chromium.ts", executablePath],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const nextLine = async (): Promise<string> => {
    while (!buffered.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the browser process ended");
      buffered += value;
    }
    const at = buffered.indexOf("\n");
    const line = buffered.slice(0, at);
    buffered = buffered.slice(at + 1);
    return line;
  };
  const step = async (message: Record<string, unknown>) => {
    await writer.write(new TextEncoder().encode(JSON.stringify(message) + "\n"));
    const out = JSON.parse(await nextLine());
    if ("error" in out) throw new Error(`in the page: ${out.error}`);
    return out.value;
  };
  return {
    run: (url, fn, arg) => step({ url, fn: fn.toString(), arg }),
    reload: () => step({ reload: true }),
    screenshot: (path) => step({ screenshot: path }),
    async [Symbol.asyncDispose]() {
      await writer.close();
      await reader.cancel().catch(() => {});
      await child.status;
    },
  };
}
