/**
 * The npm packages only tests use, pinned here instead of in deno.json's import map:
 * `deno task` installs every package the import map names before it runs any task, so
 * keeping these out of it is what stops `deno task start` from downloading them. playwright-core
 * is imported by `chromium.ts` alone: loading it reads system files at import time.
 *
 * @module
 */

export { Ajv } from "npm:ajv@8.20.0";
export { default as OpenAI } from "npm:openai@7.57.0";
export { default as parsePrometheus } from "npm:parse-prometheus-text-format@1.1.1";
