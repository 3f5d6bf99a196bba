"""Blindness in Chromium: before the vote, nothing the page receives names a model.

The app runs as users launch it, on four models served by the loopback vLLM server
under distinctive names. Every HTTP response body (the initial HTML with its embedded
configuration included), every streamed SSE chunk (read through a wrapper around the
page's ``fetch``/``EventSource``) and every WebSocket frame is recorded during a battle;
none may contain a model's name, its served name, its provider or its description.
After the vote the reveal shows both names. Also: a model that fails shows a per-side
error with a retry button, and the retry completes the battle.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, Response, expect

from tests.conftest import RunningApp, skip_reasons
from tests.loopback import Behaviour, LoopbackLLM

pytestmark = pytest.mark.browser

MODELS = {  # name -> (served name, description)
    "Zephyrine-Alpha-7B": ("acme-labs/zephyrine-served-7b", "Zephyrine model card text"),
    "Quokkanova-Beta-13B": ("acme-labs/quokkanova-served-13b", "Quokkanova model card text"),
    "Marmotix-Gamma-3B": ("acme-labs/marmotix-served-3b", "Marmotix model card text"),
    "Pangolinea-Delta-70B": ("acme-labs/pangolinea-served-70b", "Pangolinea model card text"),
}
PROVIDER = "vllm"

CAPTURE_JS = """(() => {
  window.__captured = [];
  window.__reading = new Map();  // fetched bodies not yet read to their end: id -> URL
  let next = 0;
  const keep = (text) => window.__captured.push(text);
  const origFetch = window.fetch;
  window.fetch = async (...args) => {
    const res = await origFetch(...args);
    try {
      const reader = res.clone().body?.getReader();
      if (reader) {
        const dec = new TextDecoder();
        const id = ++next;
        window.__reading.set(id, res.url);
        (async () => {
          try {
            for (;;) {
              const { done, value } = await reader.read();
              if (done) break;
              keep(dec.decode(value, { stream: true }));
            }
          } finally { window.__reading.delete(id); }
        })();
      }
    } catch (err) { keep("capture-error " + err); }
    return res;
  };
  const OrigES = window.EventSource;
  if (OrigES) {
    window.EventSource = function (url, cfg) {
      const es = new OrigES(url, cfg);
      es.addEventListener("message", (e) => keep(e.data));
      return es;
    };
  }
})();"""


def loopback_config(base_url: str, anchor: str = "Zephyrine-Alpha-7B") -> str:
    """arena.toml for the app on the loopback models."""
    parts = [f'[arena]\nrating_anchor = "{anchor}"\nretries = 0\nmax_turns = 3\n']
    for i, (name, (served, desc)) in enumerate(MODELS.items()):
        parts.append(
            f'[[models]]\nname = "{name}"\nprovider = "{PROVIDER}"\nmodel = "{served}"\n'
            f'base_url = "{base_url}"\nweights = "{"open" if i % 2 else "closed"}"\n'
            f'description = "{desc}"\njapanese_mt_bench = {6 + i / 2}\n'
            f"nejumi_lb3 = {0.5 + i / 20}\n"
        )
    return "\n".join(parts)


@pytest.fixture(scope="module")
def loop_app(
    tmp_path_factory: pytest.TempPathFactory, loopback: LoopbackLLM
) -> Iterator[RunningApp]:
    app = RunningApp(tmp_path_factory.mktemp("ui-loop"), loopback_config(loopback.base_url))
    yield app
    app.stop()


# Every body fetched so far read to its end (Gradio's heartbeat stream stays open).
CAPTURED_ALL_JS = (
    """() => [...window.__reading.values()].every((url) => url.includes("heartbeat"))"""
)


def captured_all(page: Page) -> str:
    """What the page's fetches received, once every body fetched so far was read."""
    page.wait_for_function(CAPTURED_ALL_JS, timeout=15_000)
    return page.evaluate("() => window.__captured.join('\\n')")


def forbidden() -> list[str]:
    words = [PROVIDER]
    for name, (served, desc) in MODELS.items():
        words += [name, served, served.split("/")[-1], desc]
    return words


def leaks(text: str) -> list[str]:
    low = text.lower()
    return [w for w in forbidden() if w.lower() in low]


def test_no_model_name_reaches_the_page_before_the_vote(
    page: Page, loop_app: RunningApp, loopback: LoopbackLLM, artifacts: Path
) -> None:
    loopback.reset()
    responses: list[Response] = []
    frames: list[str] = []
    page.add_init_script(CAPTURE_JS)
    page.on("response", lambda r: responses.append(r))
    page.on(
        "websocket",
        lambda ws: (
            ws.on("framereceived", lambda f: frames.append(str(f))),
            ws.on("framesent", lambda f: frames.append(str(f))),
        ),
    )
    document = page.goto(loop_app.url, wait_until="domcontentloaded")
    assert document is not None
    page.wait_for_selector("#arena-prompt textarea:enabled", timeout=30_000)
    page.fill("#arena-prompt textarea", "掃除がめんどくさいのですが、どうすれば？")
    page.press("#arena-prompt textarea", "Enter")
    expect(page.locator("#vote-a")).to_be_enabled(timeout=30_000)
    page.fill("#arena-prompt textarea", "もう少し詳しく")
    page.press("#arena-prompt textarea", "Enter")
    expect(page.locator("#vote-a")).to_be_enabled(timeout=30_000)
    page.click("#arena-regenerate")
    expect(page.locator("#vote-a")).to_be_enabled(timeout=30_000)

    captured = captured_all(page)
    assert "たぬき" in captured, "the streamed answers were not captured"
    assert "gradio_config" in document.text()
    bodies = {"html": document.text(), "sse": captured, "dom": page.content()}
    bodies["ws"] = "\n".join(frames)
    for response in responses:
        if "text/event-stream" in (response.headers.get("content-type") or ""):
            continue  # read through the fetch wrapper above
        try:
            bodies[response.url] = response.body().decode("utf-8", "replace")
        except Exception as exc:  # a response without a body (redirect, 204)
            bodies[response.url] = f"<no body: {exc}>"
    assert len(bodies) > 10
    found = {where: leaks(text) for where, text in bodies.items() if leaks(text)}
    assert not found, f"model identity reached the page before the vote: {found}"
    page.screenshot(path=str(artifacts / "anonymity-before-vote.png"), full_page=True)

    page.click("#vote-bothbad")
    # The vote is recorded; the reasons step still keeps the names from the page.
    expect(page.locator("#vote-reasons")).to_be_visible(timeout=15_000)
    bodies["sse"] = captured_all(page)  # the vote event's response included
    assert len(bodies["sse"]) > len(captured), "the vote's response was not captured"
    bodies["ws"] = "\n".join(frames)
    found = {where: leaks(text) for where, text in bodies.items() if leaks(text)}
    assert not found and not leaks(page.content()), f"names before the reveal: {found}"
    # the cards and the share button wait for the reveal too (their data: the bodies above)
    assert page.locator(".ta-card, #arena-share:visible, #arena-share-image").count() == 0
    page.click("#vote-reasons-skip")
    expect(page.locator("#arena-reveal")).to_contain_text("モデルB：", timeout=15_000)
    reveal = page.inner_text("#arena-reveal")
    shown = [name for name in MODELS if name in reveal]
    assert len(shown) == 2
    assert reveal.index("モデルA：") < reveal.index("モデルB：")
    assert any(desc in reveal for _, desc in MODELS.values())
    expect(page.locator("#arena-card-a")).to_be_visible()
    expect(page.locator("#arena-card-b")).to_be_visible()
    expect(page.locator("#arena-share")).to_be_visible()
    page.screenshot(path=str(artifacts / "anonymity-after-vote.png"), full_page=True)


def test_a_failing_model_gets_a_per_side_error_and_retry(
    page: Page, loop_app: RunningApp, loopback: LoopbackLLM, artifacts: Path
) -> None:
    loopback.reset()
    for served, _ in MODELS.values():
        loopback.set(served, Behaviour(mode="status_500"))
    page.goto(loop_app.url, wait_until="domcontentloaded")
    page.wait_for_selector("#arena-prompt textarea:enabled", timeout=30_000)
    page.fill("#arena-prompt textarea", "失敗するはずの質問")
    page.press("#arena-prompt textarea", "Enter")
    expect(page.locator("#arena-retry-a")).to_be_visible(timeout=30_000)
    expect(page.locator("#arena-retry-b")).to_be_visible()
    # plain words and a way forward, never the code (http_500)
    expect(page.locator("#arena-chat-a")).to_contain_text("つながりません")
    expect(page.locator("#arena-chat-a")).to_contain_text("この対戦を終えて次へ")
    expect(page.locator("#arena-status")).to_contain_text("再試行")
    expect(page.locator("#arena-end")).to_be_visible()
    assert "http_500" not in page.inner_text("body")
    assert page.is_disabled("#vote-a") and page.is_disabled("#arena-send")
    page.screenshot(path=str(artifacts / "arena-side-error.png"), full_page=True)

    loopback.reset()  # the models recover
    page.click("#arena-retry-a")
    expect(page.locator("#arena-retry-a")).to_be_hidden(timeout=30_000)
    expect(page.locator("#arena-retry-b")).to_be_visible()
    assert page.is_disabled("#vote-a")  # side B still failed
    page.click("#arena-retry-b")
    expect(page.locator("#vote-a")).to_be_enabled(timeout=30_000)
    expect(page.locator("#arena-retry-b")).to_be_hidden()
    assert "つながりません" not in page.inner_text("#arena-chat-b")
    expect(page.locator("#arena-end")).to_be_hidden()
    page.click("#vote-a")
    skip_reasons(page)
    expect(page.locator("#arena-reveal")).to_contain_text("モデルA：", timeout=15_000)
