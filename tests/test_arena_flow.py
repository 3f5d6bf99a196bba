"""A volunteer's whole battle in Chromium, on the app as users launch it (demo models),
then the rows it left in the database."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from arena.db.models import Battle, BattleStatus, Message, Vote, Winner
from tests.conftest import RunningApp, skip_reasons

#: Launches app or helper processes: scheduled early in a parallel run (conftest).
pytestmark = pytest.mark.processes


def send(page, text: str) -> None:
    """Send a prompt and wait until both answers finished (votes enabled again)."""
    page.fill("#arena-prompt textarea", text)
    page.click("#arena-send")
    page.wait_for_function(
        """(text) => document.querySelector('#arena-chat-b').innerText.includes(text)
                     && !document.querySelector('#vote-a').disabled""",
        arg=text,
        timeout=30_000,
    )


@pytest.fixture(scope="module")
def own_app(tmp_path_factory, module_app_db_url):
    """An app of its own: this test counts every row in the database. The one browser
    flow that also runs on PostgreSQL (the other browser tests use SQLite)."""
    app = RunningApp(tmp_path_factory.mktemp("flow"), database_url=module_app_db_url)
    yield app
    app.stop()


def test_battle_vote_reveal_new_round_in_the_browser(own_app, page, artifacts) -> None:
    app_server = own_app
    page.goto(app_server.url, wait_until="domcontentloaded")
    page.wait_for_selector("#arena-prompt textarea", timeout=30_000)
    assert page.is_disabled("#vote-a") and page.is_disabled("#vote-bothbad")
    page.wait_for_function(  # nothing revealed (once the page's load event has settled)
        "() => document.querySelector('#arena-reveal').innerText.trim() === ''", timeout=15_000
    )

    send(page, "人生最後の日に何を食べたいですか？")
    send(page, "その理由も教えてください。")  # a second turn before the vote
    for pane in ("#arena-chat-a", "#arena-chat-b"):
        text = page.inner_text(pane)
        assert "人生最後の日" in text and "その理由" in text
        assert "Demo-" not in text
    assert "Demo-" not in page.content()
    page.screenshot(path=str(artifacts / "flow-before-vote.png"), full_page=True)

    page.click("#vote-b")
    skip_reasons(page)
    page.wait_for_function(
        "() => document.querySelector('#arena-reveal').innerText.includes('Demo-')",
        timeout=15_000,
    )
    reveal = page.inner_text("#arena-reveal")
    names = re.findall(r"モデル([AB])：\s*(Demo-\w+)", reveal)
    assert [side for side, _ in names] == ["A", "B"] and names[0][1] != names[1][1]
    assert page.is_disabled("#vote-a") and page.is_disabled("#arena-send")
    page.screenshot(path=str(artifacts / "flow-after-vote.png"), full_page=True)

    page.click("#arena-new-round")
    page.wait_for_function(
        "() => document.querySelector('#arena-reveal').innerText.trim() === ''", timeout=15_000
    )
    assert not page.is_disabled("#arena-send")
    assert "人生最後の日" not in page.inner_text("#arena-chat-a")
    send(page, "テストで95点を取りました。")

    engine = create_engine(app_server.database_url)
    with Session(engine) as s:
        battles = s.scalars(select(Battle).order_by(Battle.created_at)).all()
        voted = [b for b in battles if b.status is BattleStatus.VOTED]
        assert len(voted) == 1
        battle = voted[0]
        assert battle.turns == 2
        vote = s.scalar(select(Vote).where(Vote.battle_id == battle.id))
        assert vote.winner is Winner.MODEL_B
        assert {battle.model_a.name, battle.model_b.name} == {n for _, n in names}
        assert battle.model_a.name == names[0][1]
        msgs = s.scalars(select(Message).where(Message.battle_id == battle.id)).all()
        assert len(msgs) == 8 and all(m.error is None for m in msgs)
        assert all(m.content for m in msgs)
        assert any(b.status is BattleStatus.READY and b.turns == 1 for b in battles[1:])
    engine.dispose()
