"""The page's CSS and the few lines of JavaScript behind the language switch.

Gradio's ``gr.I18n`` chooses the locale from the browser. The switch stores the choice
in ``localStorage['tanuki-arena-lang']`` (or takes ``?lang=ja|en`` from the address)
and applies it with ``changeLocale``, the function Gradio's own settings panel uses,
exported by its ``core`` module; that module is found among the page's loaded scripts.
Handlers receive the same choice through the page's ``lang`` state.
"""

from __future__ import annotations

import json

from arena.ui.live import IME_GUARD_JS, LIVE_CSS
from arena.ui.share import SHARE_CSS

STORAGE_KEY = "tanuki-arena-lang"

_SET_LOCALE = """
window.__tanukiSetLocale = async (lang) => {
  const pick = (urls) => urls.find((u) => /\\/assets\\/core-[\\w-]+\\.js(\\?|$)/.test(u));
  const url =
    pick(performance.getEntriesByType("resource").map((e) => e.name)) ||
    pick([...document.querySelectorAll("link[href], script[src]")].map((e) => e.href || e.src));
  if (!url) return false;
  try {
    const core = await import(url);
    if (typeof core.changeLocale !== "function") return false;
    core.changeLocale(lang);
    document.documentElement.lang = lang;
    return true;
  } catch (err) {
    console.warn("tanuki-arena: language switch failed", err);
    return false;
  }
};
"""


# The ALTCHA v1 proof of work, solved in the browser: find n <= maxNumber with
# SHA-256(salt + n) == challenge (Web Crypto), then send the payload back as base64 JSON.
_SOLVE_POW = """
  let proof = "";
  if (!window.localStorage.getItem("tanuki-arena-voter")) {
    try {
      const c = await (await fetch("/api/voters/challenge", {cache: "no-store"})).json();
      const enc = new TextEncoder();
      const hex = (buf) => Array.from(new Uint8Array(buf))
        .map((b) => b.toString(16).padStart(2, "0")).join("");
      for (let n = 0; n <= c.maxNumber; n++) {
        const h = hex(await crypto.subtle.digest("SHA-256", enc.encode(c.salt + n)));
        if (h === c.challenge) {
          proof = btoa(JSON.stringify({algorithm: c.algorithm, challenge: c.challenge,
            number: n, salt: c.salt, signature: c.signature}));
          break;
        }
      }
    } catch (e) { proof = ""; }
  }
"""


def _localise_widgets_js() -> str:
    """JS that puts the page's language on the texts Gradio writes in English only.

    The table's search box has a fixed English placeholder ("Search..."); this keeps
    it in the page's language (``<html lang>``, which the language switch sets).
    """
    from arena.ui.i18n import TEXT

    words = json.dumps({lang: TEXT["table_search"][lang] for lang in ("ja", "en")})
    return f"""
  if (!window.__tanukiLocalised) {{
    window.__tanukiLocalised = true;
    const WORDS = {words};
    const apply = () => {{
      const text = WORDS[document.documentElement.lang === "en" ? "en" : "ja"];
      for (const el of document.querySelectorAll("input.search-input")) {{
        if (el.placeholder !== text) {{
          el.placeholder = text;
          el.title = text;
          el.setAttribute("aria-label", text);
        }}
      }}
    }};
    const watch = {{subtree: true, childList: true, attributes: true,
      attributeFilter: ["placeholder", "lang"]}};
    new MutationObserver(apply).observe(document.documentElement, watch);
    apply();
  }}
"""


def detect_language_js(default: str, *, pow_gate: bool = False) -> str:
    """Page-load JS: settle the language (address, saved choice, browser, default).

    With ``pow_gate``, a browser holding no voter yet also solves the proof of work.
    """
    solve = _SOLVE_POW if pow_gate else '\n  const proof = "";\n'
    return f"""async (token, lang, choice, _proof) => {{
  {_SET_LOCALE}
  const KEY = "{STORAGE_KEY}";
  const ok = (v) => v === "ja" || v === "en";
  const query = new URLSearchParams(window.location.search).get("lang");
  if (ok(query)) window.localStorage.setItem(KEY, query);
  const saved = window.localStorage.getItem(KEY);
  const nav = (navigator.language || "").toLowerCase();
  const auto = nav.startsWith("ja") ? "ja" : nav.startsWith("en") ? "en" : "{default}";
  const chosen = ok(query) ? query : ok(saved) ? saved : auto;
  await window.__tanukiSetLocale(chosen);
  document.documentElement.lang = chosen;
  {_localise_widgets_js()}
  {IME_GUARD_JS}
  {_VOTE_KEYS}
  {solve}
  return [token, chosen, chosen, proof];
}}"""


# Keys 1-4 vote and N starts the next battle, in the tab on screen (blind or named), when
# the focus is not in a text field and the button is enabled: the same as a click.
_VOTE_KEYS = """
  if (!window.__taVoteKeys) {
    window.__taVoteKeys = true;
    const KEYS = {"1": "vote-a", "2": "vote-b", "3": "vote-tie", "4": "vote-bothbad",
                  "n": "arena-new-round", "N": "arena-new-round"};
    window.addEventListener("keydown", (e) => {
      const id = KEYS[e.key];
      if (!id || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
      const t = e.target;
      if (t instanceof Element && t.closest("textarea, input, select, [contenteditable]")) return;
      for (const el of [document.getElementById(id), document.getElementById("named-" + id)]) {
        if (el && el.offsetParent !== null && !el.disabled) {
          e.preventDefault();
          el.click();
          return;
        }
      }
    });
  }
"""

SWITCH_LANGUAGE_JS = f"""async (choice, ...rest) => {{
  if (choice === "ja" || choice === "en") {{
    window.localStorage.setItem("{STORAGE_KEY}", choice);
    if (window.__tanukiSetLocale) await window.__tanukiSetLocale(choice);
  }}
  return [choice, ...rest];
}}"""

#: One font for Latin letters and Japanese on the whole page (Gradio's theme font has
#: no Japanese, so kana fell back to another font and capital A/B looked lighter).
FONT_STACK = (
    '"Noto Sans JP", "Noto Sans CJK JP", "Hiragino Sans", "Hiragino Kaku Gothic ProN", '
    '"Yu Gothic UI", "Yu Gothic", Meiryo, sans-serif'
)

CSS = (
    (
        """
:root, .gradio-container { --font: FONT_STACK; }
body, .gradio-container, .gradio-container *:not(code):not(pre):not(kbd):not(samp) {
  font-family: FONT_STACK !important; }
.ta-header { align-items: center; }
.ta-header h1 { margin: 0; font-size: 1.6em; }
#arena-reveal, #named-arena-reveal { font-size: 1.05em; }
.ta-status { margin: 0; min-height: 1.4em; font-weight: 600; color: var(--body-text-color); }
.ta-status.ta-warning { color: #b91c1c; border-left: 4px solid #b91c1c; padding-left: 8px; }
/* A chat pane must not be cleared in the browser alone: the battle lives on the server. */
.ta-pane .icon-button-wrapper.top-panel { display: none !important; }
.ta-votes button { white-space: normal; }
#vote-reasons { border: 2px solid #f59e0b; border-radius: 10px; padding: 10px;
  background: var(--background-fill-secondary); }
#vote-reasons-a label[data-testid="block-label"], #vote-reasons-a > span { color: #1d4ed8; }
#vote-reasons-b label[data-testid="block-label"], #vote-reasons-b > span { color: #c2410c; }
/* The vote row: A in blue, B in orange (the panes' headers too), icons, and the key that
   votes; once both answers are in, the buttons pulse twice to draw the eye. */
.ta-vote::before { margin-right: 0.35em; }
.ta-vote::after { margin-left: 0.5em; font-size: 0.8em; padding: 0 0.4em; border-radius: 4px;
  border: 1px solid currentColor; opacity: 0.7; font-family: monospace; }
.ta-vote-a::before { content: "◀"; } .ta-vote-a::after { content: "1"; }
.ta-vote-b::before { content: "▶"; } .ta-vote-b::after { content: "2"; }
.ta-vote-tie::before { content: "＝"; } .ta-vote-tie::after { content: "3"; }
.ta-vote-bothbad::before { content: "×"; } .ta-vote-bothbad::after { content: "4"; }
#arena-new-round::after, #named-arena-new-round::after { content: "N"; margin-left: 0.5em;
  font-size: 0.8em; padding: 0 0.4em; border-radius: 4px; border: 1px solid currentColor;
  opacity: 0.7; font-family: monospace; }
.ta-vote-a:enabled { border: 2px solid #2563eb !important; background: #eff6ff !important;
  color: #1e3a8a !important; }
.ta-vote-b:enabled { border: 2px solid #ea580c !important; background: #fff7ed !important;
  color: #7c2d12 !important; }
.ta-vote:enabled { animation: ta-pulse 0.9s ease-in-out 2; font-weight: 700; }
@keyframes ta-pulse { 50% { transform: scale(1.04); box-shadow: 0 0 0 4px #fde68a; } }
@media (prefers-reduced-motion: reduce) { .ta-vote:enabled { animation: none; } }
.ta-panes > div:first-child .ta-pane label[data-testid="block-label"] { color: #1d4ed8;
  border-color: #93c5fd; }
.ta-panes > div:last-child .ta-pane label[data-testid="block-label"] { color: #c2410c;
  border-color: #fdba74; }
/* On a phone one view shows the answers turn by turn (A and B of a turn together), and
   only once a prompt was sent; a desktop keeps the two panes side by side. */
@media (min-width: 641px) { .ta-turns { display: none !important; } }
@media (max-width: 640px) {
  .ta-panes .ta-pane { display: none !important; }
  .ta-turns:not(:has(.message-row, .ta-live)) { display: none !important; }
}
.ta-turn-label { font-weight: 700; font-size: 0.85em; margin: 0 0 4px; }
.ta-turn-a { color: #1d4ed8; }
.ta-turn-b { color: #c2410c; }
/* The reveal's cards: A blue, B orange, the volunteer's choice ringed and badged. */
.ta-cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0; }
.ta-card { flex: 1 1 280px; border: 2px solid; border-radius: 10px; padding: 10px 14px;
  color: #111827; }
.ta-card-a { border-color: #93c5fd; background: #eff6ff; }
.ta-card-b { border-color: #fdba74; background: #fff7ed; }
.ta-card-a .ta-card-title { color: #1d4ed8; }
.ta-card-b .ta-card-title { color: #c2410c; }
.ta-card-title { margin: 0 0 4px; font-size: 1.1em; }
.ta-card ul { list-style: none; padding: 0; margin: 6px 0; }
.ta-card li { margin: 2px 0; }
.ta-card-desc { font-size: 0.9em; color: #374151; margin: 4px 0 0; }
.ta-card-is-chosen { border-width: 4px; box-shadow: 0 0 0 3px #fde68a; }
.ta-card-chosen { display: inline-block; background: #f59e0b; color: #111827;
  border-radius: 999px; padding: 0 10px; font-weight: 700; font-size: 0.9em; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; }
button:focus-visible, textarea:focus-visible, input:focus-visible {
  outline: 3px solid #2563eb !important; outline-offset: 2px; }
/* charts */
.ta-chart { margin: 0.5em 0 1.5em; }
.ta-chart figcaption { font-weight: 600; margin-bottom: 0.5em; }
.ta-iv { list-style: none; margin: 0; padding: 0; }
.ta-iv-row, .ta-iv-axis { display: flex; align-items: center; gap: 8px; min-height: 22px; }
.ta-iv-name { flex: 0 0 34%; text-align: right; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; font-size: 0.85em; }
.ta-iv-track { position: relative; flex: 1 1 auto; height: 16px;
  border-left: 1px solid #bbb; background: repeating-linear-gradient(90deg, transparent 0,
  transparent calc(20% - 1px), #eee calc(20% - 1px), #eee 20%); }
.ta-iv-axis .ta-iv-track { background: none; border-left: 0; height: 1.2em; }
.ta-iv-bar { position: absolute; top: 7px; height: 3px; background: #4b7bd0; border-radius: 2px; }
.ta-iv-dot { position: absolute; top: 3px; width: 10px; height: 10px; margin-left: -5px;
  border-radius: 50%; background: #d9480f; }
.ta-iv-value { flex: 0 0 3.2em; font-variant-numeric: tabular-nums; font-size: 0.85em; }
.ta-tick { position: absolute; transform: translateX(-50%); font-size: 0.75em; color: #666;
  white-space: nowrap; }
.ta-axis-title { text-align: center; font-size: 0.8em; color: #666; }
.ta-heat-wrap { max-width: 100%; overflow-x: auto; }
.ta-heat { border-collapse: collapse; font-size: 0.75em; font-variant-numeric: tabular-nums; }
.ta-heat th, .ta-heat td { border: 1px solid #ddd; padding: 2px 4px; text-align: center;
  color: #111; }
.ta-heat thead th { vertical-align: bottom; height: 9em; white-space: nowrap; }
.ta-heat thead th span { writing-mode: vertical-rl; transform: rotate(180deg); }
.ta-heat tbody th { text-align: right; white-space: nowrap; }
/* The two heatmaps side by side where they fit, one under the other on a phone. */
#leaderboard-winfrac, #leaderboard-counts { flex: 1 1 320px !important;
  min-width: min(320px, 100%) !important; }
.ta-heat td { white-space: nowrap; }  /* a number never breaks ("0." / "33") on a phone */
/* The board's column headers on one line ("順位(UB)" broke after every character on a
   phone): the table scrolls sideways in its box instead. */
#leaderboard-table th .header { white-space: nowrap; word-break: keep-all; }
.ta-heat .ta-diag { background: #f3f3f3; }
.ta-heat .ta-none { color: #999; font-size: 0.8em; }
.ta-note { font-size: 0.85em; color: var(--body-text-color-subdued); }
.ta-iv-open { position: absolute; top: 0; font-size: 12px; line-height: 16px; color: #4b7bd0; }
.ta-iv-open-low { left: -2px; }
.ta-iv-open-high { right: -2px; }
.ta-history { width: 100%; max-width: 720px; height: auto; font-size: 12px; }
.ta-history text { fill: var(--body-text-color); }
.ta-history .ta-grid { stroke: #ddd; stroke-width: 1; }
.ta-legend { list-style: none; display: flex; flex-wrap: wrap; gap: 4px 14px; padding: 0;
  margin: 0.3em 0; font-size: 0.85em; }
.ta-swatch { display: inline-block; width: 12px; height: 3px; margin-right: 5px;
  vertical-align: middle; }
/* Gradio folds tabs that do not fit into an unlabelled overflow menu; on a phone, wrap
   them onto two lines instead (its width measurement uses the hidden copies below). */
#tabs .tab-container.visually-hidden button { font-size: 1px !important; padding: 0 !important; }
#tabs .tab-wrapper { height: auto !important; }
#tabs [role="tablist"] { flex-wrap: wrap; height: auto !important; overflow: visible;
  row-gap: 6px; }
#tabs [role="tablist"] button { flex: 0 0 auto; }
@media (max-width: 640px) {
  .gradio-container { padding: 4px !important; }
  .ta-iv-name { flex-basis: 40%; }
  .ta-header h1 { font-size: 1.25em; }
  .ta-header > * { min-width: 100% !important; }
}
"""
    ).replace("FONT_STACK", FONT_STACK)
    + LIVE_CSS
    + SHARE_CSS
)
