/**
 * The playground page's script: chat or raw completion over the session API, streamed, with live
 * time to first token and tokens/s; sessions kept in localStorage and reattached after a reload
 * (`Last-Event-ID`); fork, export and import of state blobs; and "Continue in this browser": the
 * session's state moves into a local engine (a Web Worker running the same app) and back.
 *
 * Bundled for the browser by `deno task build:playground` into playground/dist/app.js.
 *
 * @module
 */

/// <reference lib="dom" />
import { forgetState, keepState, keptState } from "./kept_states.ts";
import { type LocalEngine, startLocalEngine } from "./local_client.ts";
import { readSse, type SseEvent } from "./sse.ts";

/** One turn of a session's transcript as the page shows it. */
interface Turn {
  role: "user" | "assistant";
  text: string;
}

/** A session as the page remembers it (localStorage). */
interface SavedSession {
  /** The server's session id. */
  id: string;
  model: string;
  turns: Turn[];
  /** Where it generates: the server, or this browser's local engine (as `localId`). */
  where: "server" | "browser";
  localId?: string;
  /** Turns the transcript had when the session moved into this browser. */
  handoffAt?: number;
  /** A generation whose stream has not ended: the last event seen (reattached after a reload). */
  pending?: { last: number };
  tokens?: number;
  stateBytes?: number;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  model: $<HTMLSelectElement>("model"),
  key: $<HTMLInputElement>("key"),
  sessions: $<HTMLUListElement>("sessions"),
  output: $<HTMLDivElement>("output"),
  prompt: $<HTMLTextAreaElement>("prompt"),
  send: $<HTMLButtonElement>("send"),
  stop: $<HTMLButtonElement>("stop"),
  mode: $<HTMLSelectElement>("mode"),
  temperature: $<HTMLInputElement>("temperature"),
  topP: $<HTMLInputElement>("top_p"),
  maxTokens: $<HTMLInputElement>("max_tokens"),
  seed: $<HTMLInputElement>("seed"),
  where: $<HTMLSpanElement>("where"),
  ttft: $<HTMLSpanElement>("ttft"),
  speed: $<HTMLSpanElement>("speed"),
  state: $<HTMLSpanElement>("state"),
  status: $<HTMLSpanElement>("status"),
  handoff: $<HTMLButtonElement>("handoff"),
  handback: $<HTMLButtonElement>("handback"),
  fork: $<HTMLButtonElement>("fork"),
  newSession: $<HTMLButtonElement>("new"),
  exportState: $<HTMLButtonElement>("export"),
  importState: $<HTMLInputElement>("import"),
  remove: $<HTMLButtonElement>("delete"),
};

const STORE = "playground.sessions", ACTIVE = "playground.active", KEY = "playground.key";
let sessions: SavedSession[] = JSON.parse(localStorage.getItem(STORE) ?? "[]");
let active: SavedSession | undefined = sessions.find((s) => s.id === localStorage.getItem(ACTIVE));
let local: LocalEngine | undefined;
/** Ends the stream being shown (Stop). */
let detach: (() => void) | undefined;
/** Timings of the generation in progress, for the live figures. */
let timing: { sent: number; first?: number; last?: number; tokens: number } | undefined;

const save = () => {
  localStorage.setItem(STORE, JSON.stringify(sessions));
  localStorage.setItem(ACTIVE, active?.id ?? "");
};
const setState = (state: "idle" | "generating" | "loading") => {
  document.body.dataset.state = state;
  render();
};
const busy = () => document.body.dataset.state !== "idle";

// ---- requests -------------------------------------------------------------------------------------

function authHeaders(): Record<string, string> {
  const key = ui.key.value.trim();
  return key ? { authorization: `Bearer ${key}` } : {};
}

/** A request to the server, or to the local engine for a session that runs in this browser. */
async function call(
  where: "server" | "browser",
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: BodyInit; signal?: AbortSignal } = {},
): Promise<Response> {
  const res = where === "browser"
    ? await local!.fetch(path, init)
    : await fetch(path, { ...init, headers: { ...authHeaders(), ...init.headers } });
  if (!res.ok) {
    const text = await res.text();
    let message = text;
    try {
      message = JSON.parse(text).error?.message ?? text;
    } catch { /* not JSON */ }
    throw new Error(`${res.status}: ${message}`);
  }
  return res;
}

const json = (body: unknown) => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});
const octets = (method: string, body: ArrayBuffer) => ({
  method,
  headers: { "content-type": "application/octet-stream" },
  body,
});
/** Where a session's requests go, and under which id. */
const route = (s: SavedSession) => ({ where: s.where, id: s.where === "browser" ? s.localId! : s.id });

// ---- sessions -------------------------------------------------------------------------------------

async function newSession(): Promise<SavedSession> {
  const created = await (await call("server", "/v1/sessions", json({ model: ui.model.value }))).json();
  const s: SavedSession = { id: created.id, model: created.model, turns: [], where: "server" };
  sessions.unshift(s);
  active = s;
  save();
  return s;
}

/** Adopts a server session by id (`?session=ID`): it joins the list and becomes the active one. */
async function adopt(id: string): Promise<void> {
  let s = sessions.find((x) => x.id === id);
  if (!s) {
    const info = await (await call("server", `/v1/sessions/${id}`)).json();
    s = {
      id,
      model: info.model,
      turns: [],
      where: "server",
      tokens: info.tokens,
      stateBytes: info.state_bytes,
    };
    sessions.unshift(s);
  }
  active = s;
  save();
}

async function refreshInfo(s: SavedSession): Promise<void> {
  if (s.where === "browser" && !s.localId) return; // not loaded into this page yet
  const { where, id } = route(s);
  const info = await (await call(where, `/v1/sessions/${id}`)).json();
  s.tokens = info.tokens;
  s.stateBytes = info.state_bytes;
  save();
  render();
}

// ---- generation -----------------------------------------------------------------------------------

async function send(): Promise<void> {
  if (busy()) return;
  const text = ui.prompt.value;
  const chat = ui.mode.value === "chat";
  if (chat && !text.trim()) return status("Type a message first");
  setState("generating");
  try {
    const s = active ?? await newSession();
    await ensureLocal(s);
    const body: Record<string, unknown> = {
      stream: true,
      max_tokens: Number(ui.maxTokens.value) || 128,
      temperature: Number(ui.temperature.value),
      top_p: Number(ui.topP.value) || 1,
      ...(chat ? { messages: [{ role: "user", content: text }] } : { prompt: text }),
    };
    if (ui.seed.value !== "") body.seed = Number(ui.seed.value);
    if (text) s.turns.push({ role: "user", text });
    s.turns.push({ role: "assistant", text: "" });
    ui.prompt.value = "";
    timing = { sent: performance.now(), tokens: 0 };
    const { where, id } = route(s);
    const controller = new AbortController();
    const res = await call(where, `/v1/sessions/${id}/generate`, {
      ...json(body),
      signal: controller.signal,
    });
    s.pending = { last: -1 };
    save();
    render();
    detach = () => controller.abort();
    await show(s, readSse(res.body!));
    if (s.where === "browser") await keepLocal(s);
  } catch (err) {
    if ((err as Error).name !== "AbortError") status(String((err as Error).message));
  } finally {
    detach = undefined;
    setState("idle");
  }
}

/** Shows a generation's events as they come; returns when it is done (or the stream ends). */
async function show(s: SavedSession, events: AsyncIterable<SseEvent>): Promise<void> {
  for await (const e of events) take(s, e);
  if (active) await refreshInfo(s).catch(() => {});
}

function take(s: SavedSession, e: SseEvent): void {
  const data = JSON.parse(e.data);
  let turn = s.turns.at(-1);
  if (turn?.role !== "assistant") s.turns.push(turn = { role: "assistant", text: "" });
  if (e.event === "token") {
    turn.text += data.text;
    if (e.id !== undefined) s.pending = { last: Number(e.id) };
    if (timing) {
      const now = performance.now();
      timing.first ??= now;
      timing.last = now;
      timing.tokens++;
    }
  } else if (e.event === "done") {
    turn.text += data.text ?? "";
    s.pending = undefined;
    status(`done (${data.finish_reason}, ${data.usage?.completion_tokens ?? "?"} tokens)`);
  } else if (e.event === "error") {
    s.pending = undefined;
    status(`error: ${data.message}`);
  }
  if (e.event === "token") return soon();
  save();
  render();
}

/**
 * Saves and redraws at most every 50 ms while tokens stream: the transcript and the last event id
 * are saved together, so a reload replays from exactly what was saved.
 */
function soon(): void {
  if (redraw !== undefined) return;
  redraw = setTimeout(() => {
    redraw = undefined;
    save();
    render();
  }, 50);
}
let redraw: ReturnType<typeof setTimeout> | undefined;

/** Picks up a server session's stream where the page last saw it (after a reload). */
async function reattach(s: SavedSession): Promise<void> {
  if (!s.pending || s.where !== "server") return;
  setState("generating");
  timing = { sent: performance.now(), tokens: 0 };
  const after = s.pending.last;
  try {
    let url = `/v1/sessions/${s.id}/stream?last_event_id=${after}`;
    if (ui.key.value.trim()) {
      // EventSource cannot send an Authorization header: it carries a short-lived stream token.
      const issued = await (await call("server", `/v1/sessions/${s.id}/stream_token`, json({}))).json();
      url += `&token=${encodeURIComponent(issued.token)}`;
    }
    await show(s, eventSource(url));
  } catch (err) {
    if ((err as Error).name !== "AbortError") status(String((err as Error).message));
  } finally {
    detach = undefined;
    setState("idle");
  }
}

/** A session stream through EventSource, as events, until its `done` (or an error). */
async function* eventSource(url: string): AsyncGenerator<SseEvent> {
  const source = new EventSource(url);
  const queue: SseEvent[] = [];
  let wake = () => {}, ended = false;
  const end = () => (ended = true, source.close(), wake());
  detach = end;
  for (const name of ["token", "done", "error"]) {
    source.addEventListener(name, (e) => {
      if (!(e instanceof MessageEvent)) {
        return name === "error" && source.readyState === EventSource.CLOSED && end();
      }
      queue.push({ event: name, data: e.data, id: e.lastEventId });
      if (name !== "token") end();
      wake();
    });
  }
  try {
    while (true) {
      while (queue.length) yield queue.shift()!;
      if (ended) return;
      await new Promise<void>((r) => wake = r);
    }
  } finally {
    source.close();
  }
}

/**
 * Stop: the server ends the generation (finish reason "cancelled") and the stream runs on to its
 * `done`, so the page shows exactly what the session holds. Where it cannot (another instance runs
 * it), the page stops listening.
 */
async function stop(): Promise<void> {
  const s = active;
  if (!s || document.body.dataset.state !== "generating") return;
  const { where, id } = route(s);
  try {
    await call(where, `/v1/sessions/${id}/cancel`, { method: "POST" });
  } catch (err) {
    detach?.();
    status(`stopped listening (${(err as Error).message})`);
  }
}

// ---- continue in this browser, and back -----------------------------------------------------------

async function handoff(): Promise<void> {
  const s = active;
  if (!s || s.where === "browser" || busy()) return;
  setState("loading");
  try {
    await loadLocal(s.model);
    const blob = await (await call("server", `/v1/sessions/${s.id}/state`)).arrayBuffer();
    s.localId = await importLocal(s.model, blob);
    s.where = "browser";
    s.handoffAt = s.turns.length;
    await keepLocal(s);
    save();
    await refreshInfo(s);
  } catch (err) {
    status(`could not continue here: ${(err as Error).message}`);
  } finally {
    setState("idle");
  }
}

/** Starts the local engine with `model`, downloading it unless it is the one loaded. */
async function loadLocal(model: string): Promise<void> {
  local ??= startLocalEngine("/playground/local_worker.js");
  if (local.model === model) return;
  const started = performance.now();
  const { backend } = await local.load(location.origin, model, ui.key.value.trim(), (done, total) => {
    status(`downloading the model: ${(done / 1e6).toFixed(1)} of ${(total / 1e6).toFixed(1)} MB`);
  });
  status(`model ready in this browser (${backend}) in ${Math.round(performance.now() - started)} ms`);
}

/** A new local session from a state blob; its id. */
async function importLocal(model: string, blob: ArrayBuffer): Promise<string> {
  const query = `?model=${encodeURIComponent(model)}`;
  return (await (await call("browser", `/v1/sessions${query}`, octets("POST", blob))).json()).id;
}

/** Saves a browser session's state (IndexedDB), so a reloaded page continues it. */
async function keepLocal(s: SavedSession): Promise<void> {
  const blob = await (await call("browser", `/v1/sessions/${s.localId}/state`)).arrayBuffer();
  await keepState(s.id, { blob, turns: s.turns.length });
}

/** A browser session the page has not loaded since a reload: its kept state goes into the local engine. */
async function ensureLocal(s: SavedSession): Promise<void> {
  if (s.where !== "browser" || s.localId) return;
  const kept = await keptState(s.id);
  if (!kept) throw new Error("This session's browser state is gone: hand it over again from the server");
  await loadLocal(s.model);
  s.localId = await importLocal(s.model, kept.blob);
  save();
}

async function handback(): Promise<void> {
  const s = active;
  if (!s || s.where !== "browser" || busy()) return;
  setState("loading");
  try {
    await ensureLocal(s);
    const blob = await (await call("browser", `/v1/sessions/${s.localId}/state`)).arrayBuffer();
    try {
      await call("server", `/v1/sessions/${s.id}/state`, octets("PUT", blob));
    } catch (err) {
      if (!String((err as Error).message).startsWith("404")) throw err;
      // The server's copy expired meanwhile: the state becomes a new session there.
      const query = `?model=${encodeURIComponent(s.model)}`;
      s.id = (await (await call("server", `/v1/sessions${query}`, octets("POST", blob))).json()).id;
    }
    s.where = "server";
    s.localId = undefined;
    await forgetState(s.id).catch(() => {});
    save();
    status("handed back: the server continues from here");
    await refreshInfo(s);
  } catch (err) {
    status(`could not hand back: ${(err as Error).message}`);
  } finally {
    setState("idle");
  }
}

// ---- the rest of the controls ---------------------------------------------------------------------

async function fork(): Promise<void> {
  const s = active;
  if (!s || s.where !== "server" || busy()) return;
  const created = await (await call("server", `/v1/sessions/${s.id}/fork`, { method: "POST" })).json();
  active = { ...structuredClone(s), id: created.id, pending: undefined };
  sessions.unshift(active);
  save();
  render();
}

async function exportState(): Promise<void> {
  const s = active;
  if (!s) return;
  await ensureLocal(s);
  const { where, id } = route(s);
  const blob = await (await call(where, `/v1/sessions/${id}/state`)).blob();
  const a = Object.assign(document.createElement("a"), {
    href: URL.createObjectURL(blob),
    download: `session-${s.id.slice(0, 8)}.state`,
  });
  a.click();
  URL.revokeObjectURL(a.href);
}

async function importState(file: File): Promise<void> {
  const query = `?model=${encodeURIComponent(ui.model.value)}`;
  const created =
    await (await call("server", `/v1/sessions${query}`, octets("POST", await file.arrayBuffer())))
      .json();
  active = { id: created.id, model: created.model, turns: [], where: "server" };
  sessions.unshift(active);
  save();
  await refreshInfo(active);
}

async function removeSession(): Promise<void> {
  const s = active;
  if (!s || busy()) return;
  await call("server", `/v1/sessions/${s.id}`, { method: "DELETE" }).catch(() => {});
  sessions = sessions.filter((x) => x !== s);
  active = sessions[0];
  save();
  render();
}

function status(text: string): void {
  ui.status.textContent = text;
}

function render(): void {
  const s = active;
  ui.sessions.replaceChildren(...sessions.map((x) => {
    const li = document.createElement("li");
    li.className = x === s ? "active" : "";
    li.dataset.id = x.id;
    const first = x.turns.find((t) => t.role === "user")?.text ?? "(empty)";
    li.append(first.slice(0, 40) || "(empty)");
    const small = document.createElement("small");
    small.textContent = `${x.model} · ${x.where}${x.tokens !== undefined ? ` · ${x.tokens} tokens` : ""}`;
    li.append(small);
    li.onclick = () => {
      if (busy()) return;
      active = x;
      save();
      render();
      void reattach(x);
    };
    return li;
  }));
  ui.output.replaceChildren(...(s?.turns ?? []).map((t) => {
    const div = document.createElement("div");
    div.className = `turn ${t.role}`;
    const b = document.createElement("b");
    b.textContent = t.role === "user" ? "You" : "Model";
    div.append(b, t.text);
    return div;
  }));
  ui.output.scrollTop = ui.output.scrollHeight;
  const generating = document.body.dataset.state === "generating";
  ui.send.disabled = busy();
  ui.stop.disabled = !generating;
  ui.handoff.disabled = busy() || !s || s.where === "browser";
  ui.handback.disabled = busy() || s?.where !== "browser";
  ui.fork.disabled = busy() || !s || s.where !== "server";
  ui.where.textContent = s?.where === "browser" ? "this browser" : "server";
  ui.state.textContent = s?.stateBytes !== undefined
    ? `${s.tokens} tokens in ${(s.stateBytes / 1024).toFixed(0)} KB (constant)`
    : "–";
  if (timing?.first !== undefined) {
    ui.ttft.textContent = `${Math.round(timing.first - timing.sent)} ms`;
    const seconds = (timing.last! - timing.first) / 1000;
    ui.speed.textContent = timing.tokens > 1 && seconds > 0
      ? `${((timing.tokens - 1) / seconds).toFixed(1)} tokens/s`
      : "–";
  }
}

async function start(): Promise<void> {
  ui.key.value = localStorage.getItem(KEY) ?? "";
  ui.key.onchange = () => (localStorage.setItem(KEY, ui.key.value.trim()), void listModels());
  ui.send.onclick = () => void send();
  ui.prompt.onkeydown = (e) => (e.key === "Enter" && e.ctrlKey) && void send();
  ui.stop.onclick = () => void stop();
  ui.handoff.onclick = () => void handoff();
  ui.handback.onclick = () => void handback();
  ui.fork.onclick = () => void fork().catch((e) => status(e.message));
  ui.newSession.onclick = () => {
    if (busy()) return;
    active = undefined;
    save();
    render();
  };
  ui.exportState.onclick = () => void exportState().catch((e) => status(e.message));
  ui.importState.onchange = () => {
    const file = ui.importState.files?.[0];
    if (file) void importState(file).catch((e) => status(e.message));
  };
  ui.remove.onclick = () => void removeSession().catch((e) => status(e.message));
  setState("loading");
  // A session that ran in this browser continues from the state kept after its last generation
  // there (loaded into the local engine on its next use); without one (the page closed mid-way
  // through the first), from the server's copy, the handoff point.
  for (const s of sessions) {
    if (s.where !== "browser") continue;
    s.localId = undefined;
    s.pending = undefined;
    const kept = await keptState(s.id).catch(() => undefined);
    s.turns = s.turns.slice(0, kept ? kept.turns : s.handoffAt);
    if (!kept) {
      s.where = "server";
      status("A session that ran in this browser lost its local state: it continues from its handoff point");
    }
  }
  await listModels();
  const wanted = new URLSearchParams(location.search).get("session");
  if (wanted) await adopt(wanted).catch((e) => status(e.message));
  setState("idle");
  if (active) await reattach(active);
}

async function listModels(): Promise<void> {
  try {
    const list = await (await call("server", "/v1/models")).json();
    ui.model.replaceChildren(...list.data.map((m: { id: string; family: string }) => {
      return Object.assign(document.createElement("option"), {
        value: m.id,
        textContent: `${m.id} (${m.family})`,
      });
    }));
  } catch (err) {
    status(`models: ${(err as Error).message}`);
  }
}

void start();
