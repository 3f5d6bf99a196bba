"""Categories (issue 15 item 2): the rules on Japanese and English prompts, the language
detector, tagging during a real battle, the back-fill, the per-category board (counts,
fit, the one counted-vote rule), the leaderboard's filter in the page and the API, and
the export's fields. SQLite and PostgreSQL where a database is involved."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import gradio as gr
import httpx
import numpy as np
import pytest
from sqlalchemy import Engine, insert, select, update

from arena.api import create_api
from arena.backends import build_backends, make_client
from arena.backends.base import Timeouts
from arena.battles import Arena, VoterRef
from arena.categories import (
    CATEGORIES,
    LONG_ANSWER_TOKENS,
    categorise,
    detect_language,
    tag_untagged,
    topics,
)
from arena.category_board import FILTERS, category_board
from arena.config import ModelSpec, Settings
from arena.db import session_factory, stats
from arena.db.models import (
    Battle,
    BattleCategory,
    BattleMode,
    BattleStatus,
    Message,
    Model,
    Side,
    Vote,
    Voter,
    Winner,
)
from arena.export import ExportOptions, export
from arena.recompute import recompute
from arena.ui.i18n import gr_i18n
from arena.ui.leaderboard import LeaderboardTab
from ratings import WINNER_CODES, leaderboard_from_counts
from tests.loopback import Behaviour

# -- the rules --------------------------------------------------------------------

RULES = [
    ("Pythonでリストを逆順にする関数を書いて", {"coding"}),
    ("このコードのバグを直してください\n```js\nconsole.log(1)\n```", {"coding"}),
    ("Write a Python function that reverses a linked list.", {"coding"}),
    ("SELECT name FROM users WHERE age > 30 が遅いです", {"coding"}),
    ("How do I remove rust from my bike?", set()),
    ("ドレスコードはありますか？", set()),
    ("方程式 2x + 3 = 7 を解いて", {"math"}),
    ("x^2 - 5x + 6 = 0 を因数分解して", {"math"}),
    ("What is 2+2?", {"math"}),
    ("Compute the integral of sin(x) from 0 to π", {"math"}),
    ("12×7は？", {"math"}),
    ("ラーメン屋に行列ができる理由は？", set()),
    ("住民票の証明書はどこで取れますか", set()),
    ("猫が主人公の短い物語を書いて", {"creative_writing"}),
    ("Write a short story about a cat who learns to fly.", {"creative_writing"}),
    ("Compose a letter to my landlord about the heating.", {"creative_writing"}),
    ("秋をテーマに俳句を三つ作ってください", {"creative_writing", "japanese_culture"}),
    ("日本の首都はどこですか", {"japanese_culture"}),
    ("和食の特徴を教えて", {"japanese_culture"}),
    ("敬語の使い方を教えてください", {"japanese_culture"}),
    ("江戸時代の身分制度について", {"japanese_culture"}),
    ("What is the role of tea in Japanese culture?", {"japanese_culture"}),
    ("Recommend three anime for beginners", {"japanese_culture"}),
    ("日本語で答えて：フランスの首都は？", set()),
    ("Answer in Japanese: what is the capital of France?", set()),
    ("Tell me about the history of Rome.", set()),
    ("おすすめの映画を教えて", set()),
]


@pytest.mark.parametrize(("prompt", "expected"), RULES)
def test_topic_rules_on_japanese_and_english_prompts(prompt: str, expected: set[str]) -> None:
    assert topics([prompt]) == expected


def test_turns_answers_and_code_in_both_answers() -> None:
    assert categorise(["こんにちは"], [("a", "やあ", 5), ("b", "どうも", 5)], 1) == set()
    two = categorise(["こんにちは", "元気？"], [("a", "はい", 3)], 2)
    assert two == {"multi_turn"}
    edge = [("a", "x", LONG_ANSWER_TOKENS), ("b", "y", LONG_ANSWER_TOKENS)]
    assert categorise(["説明して"], edge, 1) == set()  # "over N tokens": N itself is not
    long = [("a", "x", LONG_ANSWER_TOKENS + 1), ("b", "y", 10)]
    assert categorise(["説明して"], long, 1) == {"long_answer"}
    fenced = "```\nls -la\n```"
    assert categorise(["ファイル一覧を出すには？"], [("a", fenced, 9), ("b", fenced, 9)], 1) == {
        "coding"
    }
    assert categorise(["ファイル一覧を出すには？"], [("a", fenced, 9), ("b", "ls", 1)], 1) == set()


@pytest.mark.parametrize(
    ("prompt", "language"),
    [
        ("こんにちは", "ja"),
        ("富士山の高さは？", "ja"),
        ("What is the capital of France?", "en"),
        ("Explain quantum computing in simple terms.", "en"),
        ("你好，请介绍一下你自己", "zh"),
        ("안녕하세요, 자기소개 해주세요", "ko"),
        ("Bonjour, comment ça va ?", "fr"),
        ("Wie spät ist es?", "de"),
        # A Japanese question about English code: the fenced code is not read.
        ("このコードを説明して\n```python\nimport os\nprint(os.getcwd())\n```", "ja"),
        ("12345 + 678", "und"),
    ],
)
def test_language_detection(prompt: str, language: str) -> None:
    assert detect_language(prompt) == language


# -- tagging during a real battle ----------------------------------------------------

ALICE = VoterRef("c" * 32, "192.0.2.7")


@pytest.fixture
async def arena(engine, llm):
    models = tuple(
        ModelSpec(name=name, provider="vllm", model=f"served/{name}",
                  base_urls=(llm.base_url,), max_tokens=4096, weights="open")
        for name in ("Alpha-7B", "Beta-13B")
    )  # fmt: skip
    settings = Settings(database_url=str(engine.url), models=models, secret="s",
                        first_token_timeout=5.0, total_timeout=30.0, retries=0)  # fmt: skip
    client = make_client(Timeouts(connect=2, first_token=5))
    a = Arena(settings, session_factory(engine), build_backends(settings.models, client),
              rng=random.Random(3))  # fmt: skip
    with a.sessions.begin() as s:
        s.add(Voter(token=ALICE.token))
    yield a
    await client.aclose()


async def _turn(arena: Arena, prompt: str, battle_id: str | None = None) -> str:
    last = None
    async for state in arena.send(ALICE, prompt, battle_id):
        last = state
    assert last is not None and last.votable
    return last.battle_id


def _tags(arena: Arena, battle_id: str) -> tuple[str | None, set[str]]:
    with arena.sessions() as s:
        language = s.get(Battle, battle_id).prompt_language
        found = set(
            s.scalars(select(BattleCategory.category).where(BattleCategory.battle_id == battle_id))
        )
    return language, found


async def test_a_battle_is_tagged_as_its_turns_are_stored(arena, llm) -> None:
    for name in ("Alpha-7B", "Beta-13B"):
        llm.set(f"served/{name}", Behaviour(text="はい、どうぞ。", tokens=5))
    battle = await _turn(arena, "Pythonでフィボナッチ数列を返す関数を書いて")
    assert _tags(arena, battle) == ("ja", {"coding"})
    # The second turn is in English: the language stays the first prompt's; a long
    # answer (usage over the threshold) and the second turn add their categories.
    llm.set("served/Alpha-7B", Behaviour(tokens=LONG_ANSWER_TOKENS + 50))
    await _turn(arena, "Now explain it in English, please.", battle)
    assert _tags(arena, battle) == ("ja", {"coding", "multi_turn", "long_answer"})
    # Answered anew with short answers: the long answer is gone, and so is its tag.
    llm.set("served/Alpha-7B", Behaviour(text="短い", tokens=5))
    async for _ in arena.regenerate(ALICE, battle):
        pass
    assert _tags(arena, battle) == ("ja", {"coding", "multi_turn"})


# -- the back-fill ---------------------------------------------------------------------


def _models(engine: Engine, names: tuple[str, ...]) -> dict[str, int]:
    with session_factory(engine)() as s, s.begin():
        s.add_all(Model(name=n, provider="openai", weights="open") for n in names)
    with session_factory(engine)() as s:
        return dict(s.execute(select(Model.name, Model.id)).all())


def _battles(
    engine: Engine, a: str, b: str, winner: Winner, n: int, prompt: str, *,
    voided: bool = False, at: datetime | None = None,
) -> list[str]:  # fmt: skip
    """``n`` voted blind battles of ``a`` against ``b`` on ``prompt``, each voter its own,
    stored as an old arena stored them: untagged."""
    at = at or datetime.now(UTC) - timedelta(minutes=5)
    with session_factory(engine)() as s, s.begin():
        ids = dict(s.execute(select(Model.name, Model.id)).all())
        voters = s.scalars(
            insert(Voter).returning(Voter.id, sort_by_parameter_order=True),
            [{"token": "voter-" + uuid.uuid4().hex} for _ in range(n)],
        ).all()
        battle_ids = [uuid.uuid4().hex for _ in range(n)]
        s.execute(insert(Battle), [
            dict(id=bid, voter_id=v, model_a_id=ids[a], model_b_id=ids[b], mode=BattleMode.ANONY,
                 status=BattleStatus.VOTED, turns=1, created_at=at)
            for bid, v in zip(battle_ids, voters, strict=True)
        ])  # fmt: skip
        s.execute(insert(Message), [
            dict(battle_id=bid, side=side, turn=1, role=role, content=text,
                 completion_tokens=20 if role == "assistant" else None)
            for bid in battle_ids for side in (Side.A, Side.B)
            for role, text in (("user", prompt), ("assistant", "答え"))
        ])  # fmt: skip
        s.execute(insert(Vote), [
            dict(battle_id=bid, voter_id=v, winner=winner, voided=voided, created_at=at)
            for bid, v in zip(battle_ids, voters, strict=True)
        ])  # fmt: skip
    return battle_ids


def test_back_fill_tags_untagged_battles_once(engine: Engine) -> None:
    _models(engine, ("A", "B"))
    coding = _battles(engine, "A", "B", Winner.MODEL_A, 3, "Write a Python function, please.")
    culture = _battles(engine, "A", "B", Winner.MODEL_B, 2, "和食の特徴を教えて")
    with engine.begin() as conn:
        assert tag_untagged(conn) == 5
    with engine.begin() as conn:
        assert tag_untagged(conn) == 0  # idempotent
        conn.execute(update(Battle).where(Battle.id == coding[0]).values(prompt_language=None))
        assert tag_untagged(conn) == 1  # only what is untagged
        assert tag_untagged(conn, retag=True) == 5
    with session_factory(engine)() as s:
        rows = s.execute(select(Battle.id, Battle.prompt_language)).all()
        tags = s.execute(select(BattleCategory.battle_id, BattleCategory.category)).all()
    assert dict(rows) == {**dict.fromkeys(coding, "en"), **dict.fromkeys(culture, "ja")}
    assert sorted(tags) == sorted(
        [(b, "coding") for b in coding] + [(b, "japanese_culture") for b in culture]
    )


# -- the board per category ---------------------------------------------------------

ANCHOR = "A"


@pytest.fixture
def played(engine: Engine) -> Engine:
    """A coding-heavy and a Japan-heavy field: A wins coding, B wins Japanese culture."""
    _models(engine, ("A", "B", "C"))
    code, japan = "Write a Python script that sorts a CSV file.", "日本の城について教えて"
    _battles(engine, "A", "B", Winner.MODEL_A, 30, code)
    _battles(engine, "B", "A", Winner.MODEL_B, 10, code)  # A (side B) wins
    _battles(engine, "A", "B", Winner.TIE, 5, code)
    _battles(engine, "A", "B", Winner.MODEL_A, 4, code, voided=True)  # never counted
    _battles(engine, "A", "B", Winner.MODEL_B, 25, japan)
    _battles(engine, "A", "B", Winner.MODEL_A, 15, japan)
    _battles(engine, "A", "C", Winner.MODEL_A, 3, japan)  # C: too few to be rated
    with engine.begin() as conn:
        tag_untagged(conn)
    recompute(engine, anchor=ANCHOR, min_votes=20)
    # After the run: not in its boards until the next run.
    _battles(engine, "A", "B", Winner.MODEL_B, 50, code, at=datetime.now(UTC) + timedelta(1))
    with engine.begin() as conn:
        tag_untagged(conn)
    return engine


def _expected(run: stats.RunInfo, rows: list[tuple[int, int, str, int]]) -> dict[str, float]:
    names = ["A", "B"]
    a, b, w, n = zip(*rows, strict=True)
    fit = leaderboard_from_counts(
        names, np.array(a), np.array(b), np.array([WINNER_CODES[x] for x in w]), np.array(n),
        anchor=ANCHOR, level=run.level,
    )  # fmt: skip
    return {r.model: r.rating for r in fit.rows}


def test_each_category_has_its_own_counts_and_fit(played: Engine) -> None:
    with session_factory(played)() as s:
        run = stats.latest_run(s)
        coding = category_board(s, run, "coding")
        japan = category_board(s, run, "japanese_culture")
        english, japanese = category_board(s, run, "en"), category_board(s, run, "ja")
        math = category_board(s, run, "math")
        assert category_board(s, run, "coding") is coding  # kept per run and filter
        with pytest.raises(ValueError):
            category_board(s, run, "poetry")
    assert (coding.votes, japan.votes, english.votes, japanese.votes) == (45, 43, 45, 43)
    want = _expected(run, [(0, 1, "model_a", 30), (1, 0, "model_b", 10), (0, 1, "tie", 5)])
    assert {r.model: r.rating for r in coding.rows} == pytest.approx(want)
    assert [r.model for r in coding.rows] == ["A", "B"]
    assert coding.rows[0].rating == pytest.approx(1000)  # the run's anchor
    assert {r.model: r.battles for r in coding.rows} == {"A": 45, "B": 45}
    assert coding.pairs.battles[0, 1] == 45 and coding.pairs.wins[0, 1] == 42.5
    want = _expected(run, [(0, 1, "model_b", 25), (0, 1, "model_a", 15)])
    assert {r.model: r.rating for r in japan.rows} == pytest.approx(want)
    assert [r.model for r in japan.rows] == ["B", "A"]
    assert [(u.model, u.battles, u.reason) for u in japan.unrated] == [("C", 3, "few_votes")]
    assert math.votes == 0 and math.too_few and not math.rows


@pytest.fixture(scope="module")
def i18n() -> gr.I18n:
    return gr_i18n(turns=5, chars=4000)


def test_the_leaderboard_filter(played: Engine, i18n: gr.I18n) -> None:
    tab = LeaderboardTab(session_factory(played), Settings())
    with gr.Blocks():
        tab.build(i18n)
    assert tab.controls[0] is tab.category  # then the style switch (test_style_board)
    everything = tab.load("en")
    assert "Computed" in everything[tab.info]
    assert everything[tab.category]["choices"][0] == ("All", "all")
    assert [key for _, key in everything[tab.category]["choices"]] == list(FILTERS)
    coding = tab.load("en", "coding")
    assert "“Coding” battles alone: 45 votes" in coding[tab.info]
    frame = coding[tab.table]["value"]
    assert list(frame["Model"]) == ["A", "B"] and list(frame["Battles"]) == [45, 45]
    assert "Votes to separate from next" not in frame.columns
    assert coding[tab.history] == ""
    japan = tab.load("ja", "japanese_culture")
    assert (
        "「日本の文化・知識」の対戦だけ" in japan[tab.info]
        and "使用した投票数 43" in japan[tab.info]
    )
    assert "C" in japan[tab.unrated]
    math = tab.load("en", "math")
    assert "Too few votes in “Math” so far: 0 votes, and a model needs 20" in math[tab.info]
    assert math[tab.table]["visible"] is False
    assert tab.load("en", "<script>")[tab.info] == everything[tab.info]  # unknown: all


async def test_the_api_filter(played: Engine) -> None:
    settings = Settings(database_url=str(played.url), secret="s")
    arena = Arena(settings, session_factory(played), {})
    transport = httpx.ASGITransport(app=create_api(arena))
    async with httpx.AsyncClient(transport=transport, base_url="http://arena") as client:
        main = (await client.get("/api/leaderboard")).json()
        coding = (await client.get("/api/leaderboard", params={"category": "coding"})).json()
        math = (await client.get("/api/leaderboard", params={"category": "math"})).json()
        bad = await client.get("/api/leaderboard", params={"category": "poetry"})
    assert main["category"] == "all" and main["category_votes"] == main["run"]["votes"]
    assert coding["category"] == "coding" and coding["category_votes"] == 45
    assert [(m["model"], m["battles"]) for m in coding["models"]] == [("A", 45), ("B", 45)]
    assert coding["run"] == main["run"] and coding["neighbours"] == []
    assert math["models"] == [] and math["category_votes"] == 0
    assert bad.status_code == 400 and bad.json()["error"] == "unknown_category"


def test_the_export_carries_language_and_categories(played: Engine, tmp_path: Path) -> None:
    out = tmp_path / "votes.jsonl"
    export(played, out, "jsonl", ExportOptions(), "s" * 16)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    seen = {(r["prompt_language"], tuple(r["categories"])) for r in rows}
    assert seen == {("English", ("coding",)), ("Japanese", ("japanese_culture",))}
    assert set(CATEGORIES) >= {c for r in rows for c in r["categories"]}


def test_filters_cover_languages_and_every_category() -> None:
    assert list(FILTERS) == ["all", "ja", "en", *CATEGORIES]


def test_the_categorise_command(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    from arena.cli import main

    _models(engine, ("A", "B"))
    _battles(engine, "A", "B", Winner.TIE, 3, "Write a haiku about autumn.")
    url = engine.url.render_as_string(hide_password=False)
    for argv, tagged in ((["categorise"], 3), (["categorise"], 0), (["categorise", "--all"], 3)):
        assert main([*argv, "--database-url", url]) == 0
        assert json.loads(capsys.readouterr().out) == {"tagged": tagged}
    with session_factory(engine)() as s:
        assert set(s.scalars(select(BattleCategory.category))) == {
            "creative_writing",
            "japanese_culture",
        }
