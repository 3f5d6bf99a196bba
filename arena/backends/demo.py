"""Offline demo models: answers made up locally, so the arena runs with no model configured.

They stream word by word like a real server, never name themselves, and are shown
as demo models in the page.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Sequence

from arena.backends.base import Backend, ChatMessage, Event, StreamEnd, TextDelta

#: One line every demo answer ends with: the same for all demo models, so it says that
#: the answer is a demo without telling the two sides apart before the vote.
DEMO_NOTE = "（オフラインのデモ回答です。実際のモデルは呼び出していません。）"

STYLES = {
    "Demo-Echo": (
        "ご質問ありがとうございます。「{p}」についてですね。要点を整理すると、"
        "まず目的をはっきりさせ、次に小さな一歩から始めることが大切です。"
    ),
    "Demo-Haiku": "「{p}」\n静かな朝に\n言葉がひとつ\n芽を出した",
    "Demo-Lister": (
        "「{p}」への答えを三つにまとめます。\n1. 状況を確かめる\n2. 選択肢を並べる\n"
        "3. 一つ選んで試す"
    ),
}


class DemoBackend(Backend):
    """Streams a canned answer built from the prompt, a few characters at a time."""

    provider = "demo"
    delay = 0.02

    async def stream(self, messages: Sequence[ChatMessage], base_url: str) -> AsyncIterator[Event]:
        prompt = messages[-1].content if messages else ""
        short = prompt.strip().replace("\n", " ")[:60]
        template = STYLES.get(self.spec.name) or next(iter(STYLES.values()))
        text = template.format(p=short) + "\n" + DEMO_NOTE
        seed = int(hashlib.sha256(prompt.encode()).hexdigest()[:4], 16)
        step = 3 + seed % 3
        for i in range(0, len(text), step):
            await asyncio.sleep(self.delay)
            yield TextDelta(text[i : i + step])
        yield StreamEnd("stop", len(prompt), len(text) // step + 1, "stop")
