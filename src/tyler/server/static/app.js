// The chat page of `tyler serve`: a client of the server's native events protocol
// (POST /v1/threads/{id}/runs as SSE, /v1/threads for the conversation list, /v1/runs/{id}/cancel).
// No build step and no CDN: plain browser JavaScript plus two vendored libraries (marked, DOMPurify).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const KEY_STORE = "tyler.apiKey";
  const THEME_STORE = "tyler.theme";
  const ACTIVE_RUN = "tyler.activeRun"; // {threadId, runId, lastEventId} while a reply streams

  const state = {
    threadId: null,
    models: [],
    run: null, // {threadId, runId, controller, view, stopping}
  };

  // ---- HTTP --------------------------------------------------------------------------------

  class HttpError extends Error {
    constructor(status, message, code) { super(message); this.status = status; this.code = code; }
  }

  function authHeaders(extra) {
    const headers = Object.assign({}, extra || {});
    const key = localStorage.getItem(KEY_STORE);
    if (key) headers.authorization = "Bearer " + key;
    return headers;
  }

  async function errorFrom(response) {
    let message = response.status + " " + response.statusText;
    let code;
    try {
      const body = await response.json();
      const err = body.error || body.detail || body;
      if (typeof err === "string") message = err;
      else if (err && err.message) { message = err.message; code = err.code || err.type; }
    } catch (_) { /* not JSON: the status line says enough */ }
    return new HttpError(response.status, message, code);
  }

  // fetch that asks for the API key once on 401 and retries with it.
  async function api(path, options) {
    for (;;) {
      const opts = Object.assign({}, options || {});
      opts.headers = authHeaders(opts.headers);
      let response;
      try {
        response = await fetch(path, opts);
      } catch (err) {
        if (err.name === "AbortError") throw err;
        throw new HttpError(0, "The server cannot be reached (" + err.message + ").");
      }
      if (response.status === 401) {
        await askForKey(localStorage.getItem(KEY_STORE) ? "That key was refused." : "");
        continue;
      }
      if (!response.ok) throw await errorFrom(response);
      return response;
    }
  }

  function askForKey(problem) {
    const dialog = $("key-dialog");
    $("key-error").hidden = !problem;
    $("key-error").textContent = problem || "";
    $("key-input").value = "";
    return new Promise((resolve) => {
      const onSubmit = (ev) => {
        ev.preventDefault();
        const key = $("key-input").value.trim();
        if (!key) return;
        localStorage.setItem(KEY_STORE, key);
        $("key-form").removeEventListener("submit", onSubmit);
        dialog.close();
        resolve();
      };
      $("key-form").addEventListener("submit", onSubmit);
      if (!dialog.open) dialog.showModal();
      $("key-input").focus();
    });
  }

  // Reads an SSE body, yielding {id, event, data} per event; comments (": ping") are skipped.
  async function* sseEvents(response) {
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let frame = { id: null, event: "message", data: [] };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let nl;
        while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + (buffer.startsWith("\r\n", nl) ? 2 : 1));
          if (line === "") {
            if (frame.data.length) yield { id: frame.id, event: frame.event, data: frame.data.join("\n") };
            frame = { id: null, event: "message", data: [] };
          } else if (!line.startsWith(":")) {
            const colon = line.indexOf(":");
            const field = colon < 0 ? line : line.slice(0, colon);
            let val = colon < 0 ? "" : line.slice(colon + 1);
            if (val.startsWith(" ")) val = val.slice(1);
            if (field === "data") frame.data.push(val);
            else if (field === "event") frame.event = val;
            else if (field === "id") frame.id = val;
          }
        }
      }
    } finally {
      reader.releaseLock();
    }
  }

  // ---- Rendering ---------------------------------------------------------------------------

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  // Model output never loads anything: links open elsewhere without referrer, media is dropped.
  function sanitize(html) {
    return DOMPurify.sanitize(html, {
      FORBID_TAGS: ["img", "picture", "video", "audio", "source", "track", "iframe", "object", "embed",
        "form", "input", "button", "style", "link", "meta", "svg", "math"],
      FORBID_ATTR: ["style", "srcset", "src", "action", "formaction", "background", "poster"],
    });
  }
  DOMPurifyHook();
  function DOMPurifyHook() {
    if (!window.DOMPurify) return;
    DOMPurify.addHook("afterSanitizeAttributes", (node) => {
      if (node.tagName === "A") {
        const href = node.getAttribute("href") || "";
        if (!/^(https?:|mailto:|#)/i.test(href)) node.removeAttribute("href");
        node.setAttribute("target", "_blank");
        node.setAttribute("rel", "noopener noreferrer nofollow");
      }
    });
  }

  function renderMarkdown(target, text) {
    target.innerHTML = sanitize(marked.parse(text || "", { gfm: true, breaks: false }));
    for (const pre of target.querySelectorAll("pre")) {
      const button = el("button", "copy", "Copy");
      button.type = "button";
      button.setAttribute("aria-label", "Copy code");
      button.addEventListener("click", async () => {
        const code = pre.querySelector("code");
        try {
          await navigator.clipboard.writeText(code ? code.textContent : pre.textContent);
          button.textContent = "Copied";
        } catch (_) {
          button.textContent = "Copy failed";
        }
        setTimeout(() => { button.textContent = "Copy"; }, 1500);
      });
      pre.appendChild(button);
    }
  }

  function scrollToEnd(force) {
    const log = $("log");
    const near = log.scrollHeight - log.scrollTop - log.clientHeight < 120;
    if (force || near) log.scrollTop = log.scrollHeight;
  }

  function addUser(text) {
    $("empty").hidden = true;
    const wrap = el("div", "msg user");
    wrap.appendChild(el("div", "bubble", text));
    $("log").appendChild(wrap);
    scrollToEnd(true);
    return wrap;
  }

  function pretty(value) {
    if (typeof value !== "string") return JSON.stringify(value, null, 2);
    try { return JSON.stringify(JSON.parse(value), null, 2); } catch (_) { return value; }
  }

  // One assistant reply: text blocks, thinking sections and tool cards in arrival order.
  class ReplyView {
    constructor() {
      $("empty").hidden = true;
      this.root = el("div", "msg assistant");
      this.root.setAttribute("aria-busy", "true");
      $("log").appendChild(this.root);
      this.text = null;       // {node, source, messageId}
      this.thinking = null;   // {node, body, messageId}
      this.tools = new Map(); // tool_call_id -> card
      this.dirty = new Set();
      this.frame = 0;
    }

    appendText(chunk, messageId) {
      if (!this.text || this.text.messageId !== messageId || this.root.lastChild !== this.text.node) {
        const node = el("div", "md cursor");
        this.root.appendChild(node);
        this.text = { node, source: "", messageId };
      }
      this.text.source += chunk;
      this.schedule(this.text);
    }

    appendThinking(chunk, messageId) {
      if (!this.thinking || this.thinking.messageId !== messageId || this.root.lastChild !== this.thinking.node) {
        const node = el("details", "thinking");
        node.open = true;
        node.appendChild(el("summary", null, "Thinking"));
        const body = el("div", "body");
        node.appendChild(body);
        this.root.appendChild(node);
        this.thinking = { node, body, messageId };
      }
      this.thinking.body.textContent += chunk;
      scrollToEnd(false);
    }

    // Markdown is re-rendered at most once per animation frame, however fast chunks arrive.
    schedule(block) {
      this.dirty.add(block);
      if (this.frame) return;
      this.frame = requestAnimationFrame(() => this.flush());
    }

    flush() {
      this.frame = 0;
      for (const block of this.dirty) renderMarkdown(block.node, block.source);
      this.dirty.clear();
      scrollToEnd(false);
    }

    tool(id, name) {
      let card = this.tools.get(id);
      if (!card) {
        card = el("div", "tool");
        card.dataset.toolCallId = id;
        const head = el("div", "tool-head");
        head.appendChild(el("span", "tool-name", name || "tool"));
        card.status = el("span", "tool-status", "preparing");
        head.appendChild(card.status);
        card.appendChild(head);
        card.args = el("pre", "tool-args");
        card.args.setAttribute("aria-label", "Arguments");
        card.appendChild(card.args);
        card.argsSource = "";
        this.root.appendChild(card);
        this.tools.set(id, card);
        if (this.thinking) this.thinking.node.open = false;
      }
      if (name) card.querySelector(".tool-name").textContent = name;
      return card;
    }

    toolArgsDelta(d) {
      const card = this.tool(d.tool_call_id, d.tool_name);
      card.argsSource += d.arguments_delta || "";
      card.args.textContent = card.argsSource;
      scrollToEnd(false);
    }

    toolExecuting(d) {
      const card = this.tool(d.tool_call_id, d.tool_name);
      card.args.textContent = pretty(d.arguments !== undefined ? d.arguments : card.argsSource);
      card.status.textContent = "running…";
      card.classList.add("running");
    }

    toolProgress(d) {
      const card = this.tool(d.tool_call_id, d.tool_name);
      if (!card.bar) {
        card.bar = el("progress");
        card.bar.setAttribute("aria-label", "Tool progress");
        card.progressText = el("div", "progress-text");
        card.appendChild(card.bar);
        card.appendChild(card.progressText);
      }
      if (typeof d.total === "number" && d.total > 0) { card.bar.max = d.total; card.bar.value = d.progress || 0; }
      else card.bar.removeAttribute("value");
      card.progressText.textContent = d.message || (d.total ? `${d.progress} / ${d.total}` : String(d.progress ?? ""));
    }

    toolEnd(d, failed) {
      const card = this.tool(d.tool_call_id, d.tool_name);
      card.classList.remove("running");
      card.classList.add(failed ? "failed" : "done");
      const secs = typeof d.duration_ms === "number" ? ` · ${(d.duration_ms / 1000).toFixed(2)} s` : "";
      card.status.textContent = (failed ? "error" : "done") + secs;
      if (card.bar) { card.bar.remove(); card.progressText.remove(); card.bar = null; }
      const out = el("pre", failed ? "tool-error error-text" : "tool-result",
        failed ? String(d.error || "the tool failed") : String(d.result ?? ""));
      out.setAttribute("aria-label", failed ? "Error" : "Result");
      card.appendChild(out);
      scrollToEnd(false);
    }

    error(message) {
      this.root.appendChild(el("div", "error-box", message));
      scrollToEnd(true);
    }

    notice(message) { this.root.appendChild(el("p", "notice", message)); }

    finish(meta) {
      if (this.frame) { cancelAnimationFrame(this.frame); this.flush(); }
      for (const node of this.root.querySelectorAll(".cursor")) node.classList.remove("cursor");
      for (const card of this.tools.values()) {
        if (card.classList.contains("running") || card.status.textContent === "preparing") {
          card.status.textContent = "not run";
          card.classList.remove("running");
        }
      }
      if (this.thinking) this.thinking.node.open = false;
      if (meta) this.root.appendChild(el("div", "meta", meta));
      this.root.removeAttribute("aria-busy");
      scrollToEnd(false);
    }
  }

  function usageLine(d) {
    const parts = [];
    const usage = d.usage || {};
    const prompt = usage.prompt_tokens, completion = usage.completion_tokens;
    if (typeof prompt === "number" || typeof completion === "number") {
      parts.push(`${prompt ?? 0} in · ${completion ?? 0} out tokens`);
    } else if (typeof d.total_tokens === "number") {
      parts.push(`${d.total_tokens} tokens`);
    }
    if (typeof d.duration_ms === "number") parts.push(`${(d.duration_ms / 1000).toFixed(2)} s`);
    return parts.join(" · ");
  }

  // Applies one native event to the reply; returns true on the terminal event.
  function applyEvent(view, type, ev) {
    const d = ev.data || {};
    switch (type) {
      case "llm_stream_chunk": view.appendText(d.content_chunk || "", d.message_id); break;
      case "llm_thinking_chunk": view.appendThinking(d.thinking_chunk || "", d.message_id); break;
      case "llm_tool_call_chunk": view.toolArgsDelta(d); break;
      case "tool_selected": view.tool(d.tool_call_id, d.tool_name); break;
      case "tool_executing": view.toolExecuting(d); break;
      case "tool_progress": view.toolProgress(d); break;
      case "tool_result": view.toolEnd(d, false); break;
      case "tool_error": view.toolEnd(d, true); break;
      case "iteration_limit": view.notice(`Stopped after ${d.iterations_used} steps (the agent's limit).`); break;
      case "execution_complete": view.finish(usageLine(d)); return true;
      case "execution_error":
        if (d.error_type === "RunCancelledError") view.notice("Stopped.");
        else view.error(errorText(d.error_type, d.message));
        view.finish(typeof d.duration_ms === "number" ? `${(d.duration_ms / 1000).toFixed(2)} s` : "");
        return true;
      default: break;
    }
    return false;
  }

  function errorText(type, message) {
    const hints = {
      RateLimitError: "The model is rate limited; try again in a moment.",
      AuthenticationError: "The model provider refused the server's credentials.",
      ModelConnectionError: "The model cannot be reached.",
      ModelTimeoutError: "The model did not answer in time.",
      StallTimeoutError: "The model stopped sending mid-reply.",
    };
    const hint = hints[type] ? hints[type] + " " : "";
    return `${hint}${type ? type + ": " : ""}${message || "the run failed"}`;
  }

  // Renders a stored conversation (after a switch or a reload).
  function renderThread(messages) {
    const log = $("log");
    for (const node of [...log.querySelectorAll(".msg")]) node.remove();
    $("empty").hidden = messages.length > 0;
    let view = null;
    const results = new Map();
    for (const m of messages) if (m.role === "tool" && m.tool_call_id) results.set(m.tool_call_id, m);
    for (const m of messages) {
      if (m.role === "user") { view = null; addUser(textOf(m.content)); continue; }
      if (m.role !== "assistant") continue;
      if (!view) view = new ReplyView();
      if (m.reasoning_content) view.appendThinking(m.reasoning_content, m.id);
      const text = textOf(m.content);
      if (text) view.appendText(text, m.id);
      for (const call of m.tool_calls || []) {
        const fn = call.function || {};
        const card = view.tool(call.id, fn.name);
        card.args.textContent = pretty(fn.arguments || "");
        const result = results.get(call.id);
        if (result) {
          const failed = Boolean(result.attributes && result.attributes.error);
          view.toolEnd({ tool_call_id: call.id, tool_name: fn.name, result: textOf(result.content),
            error: textOf(result.content), duration_ms: result.metrics && result.metrics.duration_ms }, failed);
        }
      }
      if (m.interrupted) view.notice("This reply was interrupted.");
      view.finish(""); // renders the pending markdown at once
    }
    scrollToEnd(true);
  }

  function textOf(content) {
    if (typeof content === "string") return content;
    if (Array.isArray(content)) {
      return content.filter((p) => p && p.type === "text").map((p) => p.text).join("");
    }
    return "";
  }

  // ---- Runs --------------------------------------------------------------------------------

  function newId() {
    return (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2));
  }

  function setBusy(busy) {
    $("send").hidden = busy;
    $("stop").hidden = !busy;
  }

  async function send(text) {
    if (state.run || !text.trim()) return;
    if (!state.threadId) state.threadId = newId();
    const threadId = state.threadId;
    addUser(text);
    const view = new ReplyView();
    const controller = new AbortController();
    state.run = { threadId, runId: null, controller, view, stopping: false };
    setBusy(true);
    const body = { input: text };
    if (state.models.length > 1) body.model = $("model").value;
    let response;
    try {
      response = await api(`v1/threads/${encodeURIComponent(threadId)}/runs`, {
        method: "POST", signal: controller.signal,
        headers: { "content-type": "application/json", accept: "text/event-stream" },
        body: JSON.stringify(body),
      });
      state.run.runId = response.headers.get("x-run-id");
      remember({ threadId, runId: state.run.runId, lastEventId: null });
    } catch (err) {
      failRun(view, err);
      endRun();
      refreshThreads();
      return;
    }
    refreshThreads(); // the conversation is listed as soon as the server has it
    await follow(response, view);
  }

  async function consume(response, view) {
    let terminal = false;
    for await (const frame of sseEvents(response)) {
      let ev;
      try { ev = JSON.parse(frame.data); } catch (_) { continue; }
      if (frame.id) remember({ ...readRemembered(), lastEventId: frame.id });
      const type = ev.type || frame.event;
      if (type === "error" || (ev.error && !ev.type)) {
        const err = ev.error || {};
        view.error(err.message || "the server reported an error");
        view.finish("");
        return;
      }
      if (applyEvent(view, type, ev)) { terminal = true; break; }
    }
    if (!terminal) {
      view.error("The connection to the server was lost before the reply ended.");
      view.finish("");
    }
  }

  function failRun(view, err) {
    if (err && err.name === "AbortError") { view.notice("Stopped."); view.finish(""); return; }
    view.error(err instanceof HttpError ? err.message : `Error: ${err && err.message ? err.message : err}`);
    view.finish("");
  }

  function endRun() {
    state.run = null;
    forget();
    setBusy(false);
    $("input").focus();
  }

  // Stop asks the server to cancel (the run ends with its own terminal event); if that cannot
  // reach the run, closing the request stops it too.
  async function stop() {
    const run = state.run;
    if (!run || run.stopping) return;
    run.stopping = true;
    if (run.runId) {
      try {
        await api(`v1/runs/${encodeURIComponent(run.runId)}/cancel`, { method: "POST" });
        return;
      } catch (_) { /* fall through: abort the request */ }
    }
    run.controller.abort();
  }

  function remember(value) { sessionStorage.setItem(ACTIVE_RUN, JSON.stringify(value)); }
  function readRemembered() {
    try { return JSON.parse(sessionStorage.getItem(ACTIVE_RUN) || "null") || {}; } catch (_) { return {}; }
  }
  function forget() { sessionStorage.removeItem(ACTIVE_RUN); }

  // ---- Conversations -----------------------------------------------------------------------

  async function refreshThreads() {
    let threads = [];
    try {
      threads = (await (await api("v1/threads?limit=100")).json()).data || [];
    } catch (err) {
      showBanner(err.message);
      return;
    }
    const list = $("threads");
    list.replaceChildren();
    for (const t of threads) {
      const li = el("li");
      li.dataset.threadId = t.id;
      if (t.id === state.threadId) li.classList.add("active");
      const open = el("button", "open", t.title || `Conversation ${t.id.slice(0, 8)}`);
      open.type = "button";
      open.title = t.title || t.id;
      open.addEventListener("click", () => openThread(t.id));
      const del = el("button", "delete", "✕");
      del.type = "button";
      del.setAttribute("aria-label", `Delete ${t.title || "conversation"}`);
      del.addEventListener("click", () => deleteThread(t.id));
      li.append(open, del);
      list.appendChild(li);
    }
  }

  async function openThread(id) {
    if (state.run) return;
    state.threadId = id;
    location.hash = encodeURIComponent(id);
    closeSidebar();
    try {
      const thread = await (await api(`v1/threads/${encodeURIComponent(id)}`)).json();
      $("title").textContent = thread.title || "tyler";
      renderThread(thread.messages || []);
    } catch (err) {
      renderThread([]);
      if (err.status !== 404) showBanner(err.message);
    }
    refreshThreads();
  }

  async function deleteThread(id) {
    if (state.run && state.run.threadId === id) return;
    try {
      await api(`v1/threads/${encodeURIComponent(id)}`, { method: "DELETE" });
    } catch (err) {
      showBanner(err.message);
    }
    if (state.threadId === id) newChat();
    refreshThreads();
  }

  function newChat() {
    if (state.run) return;
    state.threadId = null;
    history.replaceState(null, "", location.pathname);
    $("title").textContent = "tyler";
    renderThread([]);
    closeSidebar();
    refreshThreads();
    $("input").focus();
  }

  function showBanner(message) {
    const view = new ReplyView();
    view.error(message);
    view.finish("");
  }

  async function loadModels() {
    try {
      state.models = ((await (await api("v1/models")).json()).data || []).map((m) => m.id);
    } catch (err) {
      showBanner(err.message);
      return;
    }
    const select = $("model");
    select.replaceChildren(...state.models.map((id) => { const o = el("option", null, id); o.value = id; return o; }));
    $("model-label").hidden = state.models.length < 2;
  }

  // A reload during a reply. On a resumable server (`tyler serve --resumable`) the run went on
  // without the page: show the conversation up to its question, replay the run's events from the
  // start and follow it live. Otherwise the closed request stopped the run and its partial reply
  // was saved: show the stored conversation (waiting briefly for that save to land).
  async function restore() {
    const pending = readRemembered();
    forget();
    const id = pending.threadId || decodeURIComponent(location.hash.slice(1));
    if (!id) return;
    if (pending.runId && await resume(id, pending.runId)) return;
    await openThread(id);
    if (!pending.threadId) return;
    for (let i = 0; i < 20 && lastRole() === "user"; i++) {
      await new Promise((r) => setTimeout(r, 250));
      await openThread(id);
    }
  }

  async function resume(threadId, runId) {
    const controller = new AbortController();
    let response;
    try {
      response = await api(`v1/runs/${encodeURIComponent(runId)}/events`, {
        signal: controller.signal, headers: { accept: "text/event-stream" },
      });
    } catch (_) {
      return false; // 404: runs do not outlive their request on this server, or this one expired
    }
    state.threadId = threadId;
    location.hash = encodeURIComponent(threadId);
    let messages = [];
    try {
      const thread = await (await api(`v1/threads/${encodeURIComponent(threadId)}`)).json();
      $("title").textContent = thread.title || "tyler";
      messages = thread.messages || [];
    } catch (_) { /* a new thread: nothing stored yet */ }
    const question = messages.map((m) => m.role).lastIndexOf("user");
    renderThread(question >= 0 ? messages.slice(0, question + 1) : messages);
    const view = new ReplyView();
    state.run = { threadId, runId, controller, view, stopping: false };
    remember({ threadId, runId, lastEventId: null });
    setBusy(true);
    follow(response, view); // not awaited: the page is usable (Stop, Esc) while the run goes on
    return true;
  }

  async function follow(response, view) {
    try {
      await consume(response, view);
    } catch (err) {
      failRun(view, err);
    } finally {
      endRun();
      refreshThreads();
    }
  }

  function lastRole() {
    const msgs = $("log").querySelectorAll(".msg");
    if (!msgs.length) return null;
    return msgs[msgs.length - 1].classList.contains("user") ? "user" : "assistant";
  }

  // ---- Wiring ------------------------------------------------------------------------------

  function applyTheme(theme) {
    if (theme) document.documentElement.dataset.theme = theme;
    else delete document.documentElement.dataset.theme;
  }

  function toggleTheme() {
    const dark = document.documentElement.dataset.theme
      ? document.documentElement.dataset.theme === "dark"
      : matchMedia("(prefers-color-scheme: dark)").matches;
    const next = dark ? "light" : "dark";
    localStorage.setItem(THEME_STORE, next);
    applyTheme(next);
  }

  function closeSidebar() { $("app").classList.remove("sidebar-open"); }

  function autosize() {
    const input = $("input");
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, window.innerHeight * 0.4) + "px";
  }

  function wire() {
    applyTheme(localStorage.getItem(THEME_STORE));
    $("composer").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const text = $("input").value;
      if (!text.trim() || state.run) return;
      $("input").value = "";
      autosize();
      send(text);
    });
    $("input").addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        $("composer").requestSubmit();
      }
    });
    $("input").addEventListener("input", autosize);
    document.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape" && state.run) { ev.preventDefault(); stop(); }
    });
    $("stop").addEventListener("click", stop);
    $("new-chat").addEventListener("click", newChat);
    $("theme").addEventListener("click", toggleTheme);
    $("open-sidebar").addEventListener("click", () => $("app").classList.add("sidebar-open"));
    $("close-sidebar").addEventListener("click", closeSidebar);
    $("key-dialog").addEventListener("cancel", (ev) => ev.preventDefault());
  }

  async function main() {
    wire();
    await loadModels();
    await refreshThreads();
    await restore();
    document.body.dataset.ready = "true";
    $("input").focus();
  }

  window.addEventListener("DOMContentLoaded", main);
})();
