"""The injection corpus in Chromium, as model output and as prompts, on the real page.

The app runs as users launch it, on two models served by the loopback vLLM server; each
battle's answers are batches of corpus payloads and its prompt another batch. Throughout,
nothing may leave 127.0.0.1 (every request the page makes is recorded: a remote image or
a stylesheet would show here even if the CSP blocked it), no dialog may open and no
payload's script may run (``window.__pwned``). After each battle the panes' messages may
hold only the renderer's elements (plus KaTeX's output), no form, input, button, frame,
object, embed, image or SVG image, only http(s)/mailto links, and nothing painted
outside the pane (the overlay check: each element's box, clipped as the browser clips
it, lies inside the pane; nothing is ``position: fixed``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from arena.render import TAGS
from tests.conftest import OPEN_LIMITS, RunningApp, loopback_config, settle, skip_reasons
from tests.loopback import Behaviour, LoopbackLLM

pytestmark = pytest.mark.browser

CORPUS = json.loads((Path(__file__).parent / "data" / "injection_corpus.json").read_text("utf-8"))
MODELS = {"Injector-One": "loop/injector-one", "Injector-Two": "loop/injector-two"}
PANES = ["arena-chat-a", "arena-chat-b"]
ANSWER_BATCH = 10  # payloads per answer
PROMPT_CHARS = 3800  # under max_prompt_chars (4000)

# What the panes' messages may hold. Outside KaTeX: the renderer's elements, the
# "prose" wrapper and auto-render's bare <span>; inside KaTeX only what it draws.
INSPECT_JS = """
([paneIds, allowed, allowedAttrs]) => {
  const found = [];
  const forbidden = "form, input, button, textarea, select, option, iframe, frame, object, "
    + "embed, script, style, link, meta, base, video, audio, source, img, image, picture, "
    + "foreignObject, dialog, details, portal, use";
  const clipBox = (el) => {
    const r = el.getBoundingClientRect();
    let box = [r.left, r.top, r.right, r.bottom];
    let pos = getComputedStyle(el).position;
    for (let a = el.parentElement; a && a !== document.documentElement; a = a.parentElement) {
      const cs = getComputedStyle(a);
      const contains = pos === "fixed" ? cs.transform !== "none"
        : pos === "absolute" ? (cs.position !== "static" || cs.transform !== "none") : true;
      if (!contains) continue;  // a does not clip el
      if (cs.overflowX !== "visible" || cs.overflowY !== "visible") {
        const c = a.getBoundingClientRect();
        box = [Math.max(box[0], c.left), Math.max(box[1], c.top),
               Math.min(box[2], c.right), Math.min(box[3], c.bottom)];
      }
      pos = cs.position;
    }
    return box;
  };
  for (const id of paneIds) {
    const pane = document.getElementById(id);
    const p = pane.getBoundingClientRect();
    for (const img of pane.querySelectorAll("img")) {
      const src = new URL(img.getAttribute("src") || "", location.href);
      if (src.origin !== location.origin && !["data:", "blob:"].includes(src.protocol)) {
        found.push(`${id}: remote img ${src}`);
      }
    }
    const roots = pane.querySelectorAll(".message-content");
    if (roots.length === 0) found.push(`${id}: no messages`);
    for (const root of roots) {
      for (const el of root.querySelectorAll(forbidden)) {
        found.push(`${id}: element ${el.outerHTML.slice(0, 120)}`);
      }
      for (const el of root.querySelectorAll("*")) {
        const tag = el.localName;
        const inKatex = el.closest(".katex, .katex-error") !== null;
        for (const attr of el.attributes) {
          const name = attr.name.toLowerCase();
          if (name.startsWith("on") || name.endsWith("href") && tag !== "a") {
            found.push(`${id}: attribute ${name} on <${tag}>`);
          } else if (!inKatex && !(allowedAttrs[tag] || []).includes(name)
                     && !(tag === "div" && name === "class" && attr.value === "prose")
                     && !(tag === "span" && name === "class" && /^(md|katex)/.test(attr.value))) {
            found.push(`${id}: attribute ${name}="${attr.value.slice(0, 60)}" on <${tag}>`);
          }
        }
        if (!inKatex && !allowed.includes(tag) && tag !== "span" && tag !== "div") {
          found.push(`${id}: unexpected <${tag}>`);
        }
        if (tag === "a" && el.hasAttribute("href")) {
          const url = new URL(el.getAttribute("href"), location.href);
          if (!["http:", "https:", "mailto:"].includes(url.protocol)) {
            found.push(`${id}: link to ${url}`);
          }
          if (!/noopener/.test(el.rel) || el.target !== "_blank") {
            found.push(`${id}: link without rel/target ${el.outerHTML.slice(0, 120)}`);
          }
        }
        if (getComputedStyle(el).position === "fixed") {
          found.push(`${id}: fixed <${tag}>`);
        }
        const [l, t, r, b] = clipBox(el);
        if (r > l && b > t && (l < p.left - 1 || t < p.top - 1 || r > p.right + 1
                               || b > p.bottom + 1)) {
          found.push(`${id}: <${tag}> painted outside the pane (${[l, t, r, b].map(Math.round)})`);
        }
      }
    }
  }
  return found;
}
"""
# The renderer's elements and their attributes; KaTeX's inline styles stay inside
# .katex (or .katex-error), where they are not compared with these lists.
ALLOWED = sorted(TAGS)
ALLOWED_ATTRS = {"a": ["href", "target", "rel"], "ol": ["start"], "th": ["align"], "td": ["align"]}


def answer_batches() -> list[str]:
    texts = [p["text"] for p in CORPUS]
    return ["\n\n".join(texts[i : i + ANSWER_BATCH]) for i in range(0, len(texts), ANSWER_BATCH)]


def prompt_batches() -> list[str]:
    """Every payload short enough to be typed, in prompts under the length limit."""
    batches, current = [], ""
    for text in (p["text"] for p in CORPUS if len(p["text"]) <= 1500):
        if current and len(current) + 2 + len(text) > PROMPT_CHARS:
            batches.append(current)
            current = ""
        current = f"{current}\n\n{text}" if current else text
    return [*batches, current]


@pytest.fixture(scope="module")
def inject_app(
    tmp_path_factory: pytest.TempPathFactory, loopback: LoopbackLLM
) -> Iterator[RunningApp]:
    config = loopback_config(loopback.base_url, MODELS, "retries = 0\nmax_turns = 3\n")
    app = RunningApp(tmp_path_factory.mktemp("ui-inject"), config, OPEN_LIMITS)
    yield app
    app.stop()


def test_corpus_as_answers_and_prompts_stays_inert(
    page: Page, inject_app: RunningApp, loopback: LoopbackLLM, artifacts: Path
) -> None:
    answers, prompts = answer_batches(), prompt_batches()
    battles = max((len(answers) + 1) // 2, len(prompts))
    requests: list[str] = []
    dialogs: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    document = page.goto(inject_app.url, wait_until="domcontentloaded")
    assert document is not None
    csp = document.headers.get("content-security-policy", "")
    assert "form-action 'self'" in csp and "base-uri 'none'" in csp and "object-src 'none'" in csp
    page.wait_for_selector("#arena-prompt textarea:enabled", timeout=30_000)

    for k in range(battles):
        for i, served in enumerate(MODELS.values()):
            text = answers[(2 * k + i) % len(answers)]
            loopback.set(served, Behaviour(text=text, tokens=12))
        prompt = prompts[k % len(prompts)]
        page.fill("#arena-prompt textarea", prompt)
        expect(page.locator("#arena-prompt textarea")).to_have_value(prompt)
        page.click("#arena-send")
        try:
            expect(page.locator("#vote-a")).to_be_enabled(timeout=60_000)
        except AssertionError:
            page.screenshot(path=str(artifacts / f"injection-battle-{k}-stuck.png"), full_page=True)
            status = page.inner_text("#arena-status")
            log = inject_app.log.read_text(errors="replace")[-3000:]
            pytest.fail(f"battle {k} did not finish: status {status!r}\napp log:\n{log}")
        # KaTeX renders after the text (its script is loaded on first use): both panes
        # have stopped changing for 300 ms.
        for pane in PANES:
            settle(page, f"#{pane}", quiet_ms=300)

        found = page.evaluate(INSPECT_JS, [PANES, ALLOWED, ALLOWED_ATTRS])
        assert found == [], f"battle {k}: {found[:20]}"
        assert page.evaluate("() => typeof window.__pwned") == "undefined"
        shown = page.inner_text("#arena-chat-a") + page.inner_text("#arena-chat-b")
        if k == 0:  # the payload of issue 11, as text in an answer and in the prompt
            assert shown.count('<form action="http://evil.example/p">') >= 2
            page.screenshot(path=str(artifacts / "injection-battle-0.png"), full_page=True)

        if k < battles - 1:
            page.click("#vote-tie")
            skip_reasons(page)
            expect(page.locator("#arena-reveal")).not_to_be_empty(timeout=15_000)
            page.click("#arena-new-round")
            # The new round's update has landed (else it could clear the next prompt).
            expect(page.locator("#arena-new-round")).to_be_disabled(timeout=15_000)
            expect(page.locator("#arena-reveal")).to_have_text("")
            expect(page.locator("#arena-prompt textarea")).to_be_enabled()

    outside = [u for u in requests if urlsplit(u).hostname not in ("127.0.0.1", None)]
    assert outside == [], f"requests left the machine: {outside[:10]}"
    assert dialogs == []
    assert page.evaluate("() => typeof window.__pwned") == "undefined"
    assert len(requests) > 10  # the listener saw the page's own traffic

    # The inspection has teeth: what it must catch, planted in a message, is caught.
    page.evaluate(
        """() => document.querySelector("#arena-chat-a .message-content").insertAdjacentHTML(
          "beforeend", '<form><input name="pw"></form><img alt="x"><a href="javascript:void 0">'
          + 'j</a><div style="position:fixed;inset:0">cover</div>')"""
    )
    found = "\n".join(page.evaluate(INSPECT_JS, [PANES, ALLOWED, ALLOWED_ATTRS]))
    for expected in ("element <form", "element <input", "element <img", "link to javascript:"):
        assert expected in found
    assert "fixed <div>" in found and "painted outside the pane" in found
