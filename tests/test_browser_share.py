"""The share image of a reveal in Chromium: 「結果をシェア」 only after the vote, a PNG drawn
in the browser with Japanese text, the prompt left out unless the volunteer opts in.

On the app's embedded defaults (demo models), in Japanese and English, on a desktop and
at 375 px. What the canvas drew is read back from ``window.__taShare`` (its lines); the
downloaded file is opened with Pillow.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, expect

from tests.conftest import OPEN_LIMITS, RunningApp, skip_reasons

pytestmark = pytest.mark.browser

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 812}}
WORDS = {
    "ja": {"share": "結果をシェア", "title": "Tanuki Arena の対戦結果", "chosen": "あなたの選択"},
    "en": {"share": "Share result", "title": "Tanuki Arena result", "chosen": "Your choice"},
}


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    app = RunningApp(tmp_path_factory.mktemp("ui-share"), env=OPEN_LIMITS)
    yield app
    app.stop()


def share(page, tmp: Path, name: str) -> tuple[Image.Image, dict]:
    with page.expect_download() as download:
        page.click("#arena-share")
    path = tmp / name
    download.value.save_as(path)
    drawn = page.evaluate("() => window.__taShare")
    return Image.open(path), drawn


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_share_image_comes_after_the_vote_without_the_prompt_unless_asked(
    browser: Browser, demo_app: RunningApp, lang: str, size: str, tmp_path: Path, artifacts: Path
) -> None:
    context = browser.new_context(
        viewport=SIZES[size], locale="ja-JP" if lang == "ja" else "en", accept_downloads=True
    )
    page = context.new_page()
    words = WORDS[lang]
    prompt = f"秘密の相談があります {lang} {size}"
    try:
        page.goto(f"{demo_app.url}/?lang={lang}", wait_until="domcontentloaded")
        page.wait_for_selector("#arena-prompt textarea:enabled", timeout=30_000)
        page.fill("#arena-prompt textarea", prompt)
        page.press("#arena-prompt textarea", "Enter")
        expect(page.locator("#vote-a")).to_be_enabled(timeout=30_000)
        expect(page.locator("#arena-share")).to_be_hidden()
        page.click("#vote-a")
        expect(page.locator("#vote-reasons")).to_be_visible(timeout=15_000)
        expect(page.locator("#arena-share")).to_be_hidden()  # not during the reasons step
        skip_reasons(page)
        expect(page.locator("#arena-share")).to_have_text(words["share"], timeout=15_000)
        assert page.evaluate("() => document.fonts.check('20px \"Noto Sans CJK JP\"', '日本語')")
        names = [page.inner_text(f"#arena-card-{s} .ta-card-title") for s in "ab"]

        image, drawn = share(page, tmp_path, "plain.png")
        assert image.format == "PNG" and image.size == (1200, 630)
        assert drawn["withPrompt"] is False and words["title"] in drawn["lines"]
        text = "\n".join(drawn["lines"])
        assert all(name.split("：")[-1].split(": ")[-1] in text for name in names)
        assert words["chosen"] in text
        assert "秘密の相談" not in text  # the prompt stays out
        expect(page.locator("#arena-share-image")).to_be_visible()
        if size == "desktop":
            image.save(artifacts / f"arena-share-{lang}.png")

        page.locator("#arena-share-prompt input").check()
        image, drawn = share(page, tmp_path, "with-prompt.png")
        assert drawn["withPrompt"] is True and image.size == (1200, 630)
        assert "秘密の相談があります" in "\n".join(drawn["lines"])
        if size == "desktop":
            image.save(artifacts / f"arena-share-{lang}-with-prompt.png")
            page.screenshot(path=str(artifacts / f"arena-share-page-{lang}.png"), full_page=True)

        page.click("#arena-new-round")  # the next battle: no share button, no image
        expect(page.locator("#arena-share")).to_be_hidden(timeout=15_000)
        expect(page.locator("#arena-share-image")).to_have_count(0)
        box = page.locator("#arena-share-prompt input")  # the opt-in does not carry over
        assert box.count() == 0 or not box.is_checked()
    finally:
        context.close()
