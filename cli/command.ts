/**
 * What every command-line tool here shares: `--help`, and user mistakes (an unknown or malformed
 * option, a missing file, a directory that is not a model) reported as one line and a non-zero
 * exit instead of a stack trace. A bug still shows its stack.
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { ModelLoadError } from "../models/mod.ts";
import { TokenizerLoadError } from "../tokenizers/mod.ts";

/** Exit status for a usage mistake (an unknown option, a missing argument). */
export const USAGE_EXIT = 2;

/** Ends the process with `message` on stderr (one line the user can act on). */
export function fail(message: string, code = 1): never {
  console.error(message);
  Deno.exit(code);
}

/**
 * Parses `args` against `options` (plus `--help`/`-h`, which prints `usage` and exits 0). An
 * unknown option or a missing value ends the process with one line naming it.
 */
export function parseCommand<T extends ParseArgsOptionsConfig>(
  usage: string,
  options: T,
  args: string[] = Deno.args,
) {
  try {
    const parsed = parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
    if ((parsed.values as { help?: boolean }).help) {
      console.log(usage);
      Deno.exit(0);
    }
    return parsed;
  } catch (err) {
    // node:util's message goes on about positionals after "--"; its first sentence says it all.
    if (err instanceof TypeError) {
      fail(`${err.message.split(/\.\s/)[0]} (--help lists the options)`, USAGE_EXIT);
    }
    throw err;
  }
}

/** Whether `err` is the user's mistake (bad input or environment), not a bug in the tool. */
export function isUserMistake(err: unknown): err is Error {
  return err instanceof ModelLoadError || err instanceof TokenizerLoadError || err instanceof TypeError ||
    err instanceof RangeError || err instanceof Deno.errors.NotFound ||
    err instanceof Deno.errors.PermissionDenied ||
    err instanceof Deno.errors.IsADirectory || err instanceof Deno.errors.NotADirectory ||
    err instanceof Deno.errors.AlreadyExists || err instanceof SyntaxError;
}

/**
 * From now on, a user mistake thrown and not caught (top-level code included) ends the process
 * with its message as one line and exit 1; other errors keep their stack trace. Returns a
 * function that stops this (a server does once it is up: then an error is a request's, not the
 * process's).
 */
export function exitOnUserMistakes(): () => void {
  const onRejection = (e: PromiseRejectionEvent) => handle(e, e.reason);
  const onError = (e: ErrorEvent) => handle(e, e.error);
  globalThis.addEventListener("unhandledrejection", onRejection);
  globalThis.addEventListener("error", onError);
  return () => {
    globalThis.removeEventListener("unhandledrejection", onRejection);
    globalThis.removeEventListener("error", onError);
  };
}

function handle(e: Event, err: unknown): void {
  if (!isUserMistake(err)) return;
  e.preventDefault();
  fail(firstLine(err.message));
}

function firstLine(text: string): string {
  return text.split("\n")[0];
}
