// Runs functions in a page of real Chromium (Debian's `chromium`, driven by playwright-core) and
// prints their results as JSON lines. Its own process: playwright-core probes /proc at import,
// which Deno allows only with --allow-all, more than the test runner has.
//
//   deno run -A tests/helpers/chromium.ts CHROMIUM_PATH  < steps (JSON lines: {url, fn, arg})
//
// A step may instead reload the page ({reload: true}) or save a screenshot ({screenshot: PATH}).

// Pinned here, not in deno.json (see dev_deps.ts); only this helper loads it.
// deno-lint-ignore no-import-prefix
import { chromium } from "npm:playwright-core@1.65.1";

const [executablePath] = Deno.args;
const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
try {
  const page = await browser.newPage();
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let buffered = "";
  for await (const chunk of lines) {
    buffered += chunk;
    let at;
    while ((at = buffered.indexOf("\n")) >= 0) {
      const step = JSON.parse(buffered.slice(0, at));
      buffered = buffered.slice(at + 1);
      try {
        if (step.reload) {
          await page.reload();
          console.log(JSON.stringify({ value: null }));
          continue;
        }
        if (step.screenshot) {
          await page.screenshot({ path: step.screenshot });
          console.log(JSON.stringify({ value: null }));
          continue;
        }
        if (page.url() !== step.url) await page.goto(step.url);
        const value = await page.evaluate(`(${step.fn})(${JSON.stringify(step.arg)})`);
        console.log(JSON.stringify({ value }));
      } catch (err) {
        console.log(JSON.stringify({ error: String(err) }));
      }
    }
  }
} finally {
  await browser.close();
}
