"""The blind tab's turns streamed by the page itself, from the battle API.

A Gradio event carries every pane update as a separate message through its queue: one
battle through it cost +40 ms to the first token and 200 at once fell 20 s behind
(docs/benchmarks.md, "Load"). So the page's JavaScript sends the prompt to
``POST /api/battles`` (the same :meth:`arena.battles.Arena.send`, limits and checks as
every other client) and writes the streamed words into the two panes as plain text
(``textContent``: model output never becomes markup in the browser). When the turn
ends, one Gradio event draws the panes from what the server stored, through
:func:`arena.render.render`, and sets the buttons. The API sends no model name, so the
battle stays blind on this path too.

Three pieces of JavaScript, chained on the send button and the prompt's Enter:
:func:`start_js` clears the prompt and starts the stream, :data:`AWAIT_JS` hands its
outcome (JSON) to the server's handler, :data:`CLEAR_JS` removes the live text.
"""

from __future__ import annotations

import json

from arena.ui.i18n import LANGS, t

#: CSS of the live text: shaped like the chat pane's bubbles, shown only while streaming.
LIVE_CSS = """
.ta-live { display: flex; flex-direction: column; gap: 10px; padding: 10px 12px; }
/* Gradio owns the status line: while a turn streams, the page shows its own instead. */
body.ta-busy #arena-status .ta-status:not(.ta-live-status) { display: none; }
.ta-live-user, .ta-live-bot { white-space: pre-wrap; overflow-wrap: anywhere;
  border-radius: 12px; padding: 8px 12px; line-height: 1.6; }
.ta-live-user { align-self: flex-end; max-width: 85%;
  background: var(--color-accent-soft); border: 1px solid var(--border-color-accent-subdued); }
.ta-live-bot { align-self: stretch; background: var(--background-fill-secondary);
  border: 1px solid var(--border-color-primary); min-height: 2.2em; }
.ta-live-bot.ta-waiting::after { content: "…"; opacity: 0.6; }
.ta-streaming .placeholder-content, .ta-streaming .placeholder { display: none !important; }
body.ta-busy #vote-a, body.ta-busy #vote-b, body.ta-busy #vote-tie,
body.ta-busy #vote-bothbad, body.ta-busy #arena-send, body.ta-busy #arena-regenerate,
body.ta-busy #arena-new-round, body.ta-busy #arena-retry-a, body.ta-busy #arena-retry-b {
  pointer-events: none; opacity: 0.5; }
.ta-react { display: flex; gap: 6px; margin: 2px 0 8px 12px; flex: 0 0 100%; }
.message-row:has(> .ta-react) { flex-wrap: wrap; }
.ta-react button { border: 1px solid var(--border-color-primary); border-radius: 999px;
  padding: 0 10px; background: var(--background-fill-primary); cursor: pointer; }
.ta-react button[aria-pressed="true"] { background: #fde68a; border-color: #f59e0b; }
.ta-react svg { width: 16px; height: 16px; vertical-align: middle; fill: none;
  stroke: currentColor; stroke-width: 1.8; stroke-linejoin: round; }
.ta-react-down svg { transform: rotate(180deg); }
.ta-react button[aria-pressed="true"] svg { fill: #f59e0b; }
"""


def suggest_js(category: str, examples: tuple[str, ...]) -> str:
    """JS for an example button: one of ``examples`` at random into the prompt box,
    remembered so that sending it unchanged records ``example:<category>``."""
    return f"""() => {{
  const pool = {json.dumps(list(examples), ensure_ascii=False)};
  const text = pool[Math.floor(Math.random() * pool.length)];
  window.__taSuggested = {{ text, category: {json.dumps(category)} }};
  return text;
}}"""


def start_js() -> str:
    """JS for the send click: start the stream, return the cleared prompt at once.

    Inputs: prompt, voter token, language, the battle id (empty for a new battle).
    The stream's outcome is kept in ``window.__taLive.result`` for :data:`AWAIT_JS`.
    """
    busy = json.dumps({lang: t("status_streaming", lang) for lang in LANGS}, ensure_ascii=False)
    labels = json.dumps(
        {lang: {s: t(f"model_{s}", lang) for s in "ab"} for lang in LANGS}, ensure_ascii=False
    )
    return f"""(prompt, voter, lang, battle) => {{
  const L = window.__taLive = window.__taLive || {{}};
  if (L.busy) return [prompt];
  L.busy = true;
  document.body.classList.add("ta-busy");
  const BUSY = {busy};
  const status = document.getElementById("arena-status");
  if (status) {{
    const line = document.createElement("p");
    line.className = "ta-status ta-live-status";
    line.setAttribute("role", "status");
    line.textContent = BUSY[lang === "en" ? "en" : "ja"];
    status.appendChild(line);
  }}
  // One live box per view: each pane gets its side; the phone's turn-by-turn view gets
  // both, each under its label, so A and B of this turn stand together.
  const LABELS = {labels};
  const live = (id, sides) => {{
    const el = document.getElementById(id);
    if (!el) return {{}};
    const host = el.querySelector(".message-wrap") || el.querySelector("[role=log]") || el;
    const box = document.createElement("div");
    box.className = "ta-live";
    const user = document.createElement("div");
    user.className = "ta-live-user";
    user.textContent = prompt;
    box.append(user);
    const scroller = el.querySelector(".bubble-wrap") || el;
    const adders = {{}};
    for (const side of sides) {{
      if (sides.length > 1) {{
        const tag = document.createElement("div");
        tag.className = `ta-turn-label ta-turn-${{side}}`;
        tag.textContent = LABELS[lang === "en" ? "en" : "ja"][side];
        box.append(tag);
      }}
      const bot = document.createElement("div");
      bot.className = "ta-live-bot ta-waiting";
      bot.setAttribute("aria-busy", "true");
      box.append(bot);
      let words = null;
      adders[side] = (piece) => {{
        const end = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 48;
        if (words === null) {{
          words = document.createTextNode("");
          bot.classList.remove("ta-waiting");
          bot.appendChild(words);
        }}
        words.appendData(piece);
        if (end) scroller.scrollTop = scroller.scrollHeight;
      }};
    }}
    host.appendChild(box);
    el.classList.add("ta-streaming");
    scroller.scrollTop = scroller.scrollHeight;
    return adders;
  }};
  const views = [live("arena-chat-a", ["a"]), live("arena-chat-b", ["b"]),
                 live("arena-turns", ["a", "b"])];
  const panes = {{
    a: {{ add: (piece) => views.forEach((v) => v.a && v.a(piece)) }},
    b: {{ add: (piece) => views.forEach((v) => v.b && v.b(piece)) }},
  }};
  const hint = window.__taSuggested;  // an example sent as it was suggested, or typed
  const source = hint && hint.text === prompt ? "example:" + hint.category : "typed";
  const out = {{ prompt, battle_id: battle || null, started: false, error: null,
    params: {{}}, done: null }};
  const run = async () => {{
    let resp;
    try {{
      resp = await fetch("/api/battles", {{
        method: "POST",
        headers: {{ "Content-Type": "application/json" }},
        body: JSON.stringify({{ voter, prompt, battle_id: battle || null,
          language: lang === "en" ? "en" : "ja", source: battle ? null : source }}),
      }});
    }} catch (e) {{
      out.error = "network";
      return;
    }}
    if (!resp.ok) {{
      let body = {{}};
      try {{ body = await resp.json(); }} catch (e) {{}}
      out.error = typeof body.error === "string" ? body.error : "network";
      out.params = body.params || {{}};
      return;
    }}
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    try {{
      for (;;) {{
        const {{ value, done }} = await reader.read();
        if (done) break;
        buf += value;
        let cut;
        while ((cut = buf.indexOf("\\n\\n")) >= 0) {{
          const frame = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          let event = "message", data = "";
          for (const line of frame.split("\\n")) {{
            if (line.startsWith("event:")) event = line.slice(6).trim();
            else if (line.startsWith("data:")) data += line.slice(5);
          }}
          const msg = data ? JSON.parse(data) : {{}};
          if (event === "turn") {{ out.battle_id = msg.battle_id; out.started = true; }}
          else if (event === "delta") {{
            for (const side of ["a", "b"]) if (msg[side]) panes[side].add(msg[side]);
          }} else if (event === "done") out.done = msg;
          else if (event === "error") out.error = msg.error || "storage";
        }}
      }}
    }} catch (e) {{
      out.error = out.error || "network";
    }}
    if (!out.done && !out.error) out.error = "network";
  }};
  L.result = run().then(() => JSON.stringify(out)).finally(() => {{ L.busy = false; }});
  return [""];
}}"""


#: JS before the server's handler: wait for the stream, pass its outcome as the input.
AWAIT_JS = """async (_outcome, ...rest) => {
  const L = window.__taLive || {};
  const outcome = L.result ? await L.result : "{}";
  L.result = null;
  return [outcome, ...rest];
}"""

#: JS after the handler drew the stored turn: the live text and the busy marks go.
CLEAR_JS = """() => {
  for (const el of document.querySelectorAll(".ta-live, .ta-live-status")) el.remove();
  for (const el of document.querySelectorAll(".ta-streaming")) el.classList.remove("ta-streaming");
  document.body.classList.remove("ta-busy");
  return [];
}"""


#: Page-load JS: the Enter that confirms an IME conversion (Japanese input) never sends.
#: Gradio's textbox sends on a ``keypress`` Enter; browsers order the events of that
#: Enter differently: Blink and Gecko mark its ``keydown`` ``isComposing`` (key code
#: 229) and fire no ``keypress``, WebKit fires ``compositionend``, then ``keydown`` 229,
#: then ``keypress``. A ``keypress`` Enter that is composing, follows a 229 ``keydown``,
#: or comes within 100 ms of ``compositionend`` is stopped before Gradio sees it.
IME_GUARD_JS = """
  if (!window.__taImeGuard) {
    window.__taImeGuard = true;
    let composedAt = -1e9, imeKey = false;
    const field = (e) => e.target instanceof Element && e.target.matches("textarea, input");
    window.addEventListener("compositionend", () => { composedAt = performance.now(); }, true);
    window.addEventListener("keydown", (e) => {
      if (field(e)) imeKey = e.isComposing || e.keyCode === 229;
    }, true);
    window.addEventListener("keyup", () => { imeKey = false; }, true);
    window.addEventListener("keypress", (e) => {
      if (!field(e) || e.key !== "Enter") return;
      if (e.isComposing || imeKey || performance.now() - composedAt < 100) {
        e.stopImmediatePropagation();
        e.preventDefault();
      }
    }, true);
  }
"""


#: After the reveal: a thumbs up and down under each answer, in both panes and in the phone's
#: turn-by-turn view, sent to ``POST /api/battles/{id}/reactions`` (a second click on the
#: same thumb takes it back). Inputs: the voter, the language and the battle id. Gradio
#: redraws the panes' messages (a language switch, a new round) and drops what others put
#: in them, so the buttons are not placed once: a MutationObserver puts them back on every
#: redraw, pressed as the volunteer left them, until :data:`UNREACT_JS` (the next battle).
REACTIONS_JS = """async (voter, lang, battle) => {
  const R = window.__taReact = { voter, battle, pressed: {} };
  const WORDS = { en: { up: "Good answer", down: "Bad answer" },
                  ja: { up: "良い回答", down: "良くない回答" } };
  const bars = () => {
    const found = [];
    for (const side of ["a", "b"]) {
      document.querySelectorAll(`#arena-chat-${side} .message-row.bot-row`)
        .forEach((row, k) => found.push([row, side, k + 1]));
    }
    const seen = { a: 0, b: 0 };
    document.querySelectorAll("#arena-turns .message-row.bot-row").forEach((row) => {
      const tag = row.querySelector(".ta-turn-label");
      const side = !tag ? null : tag.classList.contains("ta-turn-b") ? "b" : "a";
      if (side) found.push([row, side, ++seen[side]]);
    });
    return found;
  };
  const paint = () => {
    for (const b of document.querySelectorAll(".ta-react button")) {
      const v = R.pressed[b.dataset.turn + b.dataset.side] || 0;
      b.setAttribute("aria-pressed", String(v === Number(b.dataset.value)));
    }
  };
  const thumb = () => {  // a thumbs-up; the "down" button turns it over (CSS)
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    const hand = "M8 10l4-8c1.7 0 3 1.3 3 3v3h5.2c1.3 0 2.2 1.2 2 2.4l-1.4 8c-.2 1-1 1.6-2 1.6H8z";
    for (const d of ["M2 10h4v11H2z", hand]) {
      const path = document.createElementNS(ns, "path");
      path.setAttribute("d", d);
      svg.appendChild(path);
    }
    return svg;
  };
  const decorate = () => {
    if (window.__taReact !== R) return;
    const words = WORDS[document.documentElement.lang === "en" ? "en" : "ja"];
    for (const [row, side, turn] of bars()) {
      const old = row.querySelector(".ta-react");
      if (old && old.dataset.lang === words.up) continue;
      if (old) old.remove();
      const bar = document.createElement("div");
      bar.className = "ta-react";
      bar.dataset.lang = words.up;
      for (const [value, label] of [[1, words.up], [-1, words.down]]) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = value > 0 ? "ta-react-up" : "ta-react-down";
        b.appendChild(thumb());  // drawn, not an emoji: no emoji font needed
        b.setAttribute("aria-label", label);
        b.title = label;
        Object.assign(b.dataset, { turn: String(turn), side, value: String(value) });
        b.addEventListener("click", async () => {
          const key = turn + side;
          const next = (R.pressed[key] || 0) === value ? 0 : value;
          const r = await fetch(`/api/battles/${R.battle}/reactions`, {
            method: "POST", headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ voter: R.voter, turn, side, value: next }),
          });
          if (!r.ok) return;
          R.pressed[key] = next;
          paint();
        });
        bar.appendChild(b);
      }
      row.appendChild(bar);
    }
    paint();
  };
  if (!window.__taReactObserver) {
    let queued = false;
    window.__taReactObserver = new MutationObserver(() => {
      if (queued || !window.__taReact) return;
      queued = true;
      requestAnimationFrame(() => { queued = false; window.__taReactDecorate(); });
    });
    window.__taReactObserver.observe(document.body, { childList: true, subtree: true });
  }
  window.__taReactDecorate = decorate;
  const until = Date.now() + 3000;
  while (!document.querySelector("#arena-chat-a .bot-row") && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
  }
  decorate();
  return [];
}"""

#: The next battle: the reactions of the last one stop and their buttons go.
UNREACT_JS = """() => {
  window.__taReact = null;
  for (const el of document.querySelectorAll(".ta-react")) el.remove();
  return [];
}"""
