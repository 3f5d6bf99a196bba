"""Strict input and storable output: bodies over the limit, invisible prompts, unknown
languages, NUL and lone surrogates from a model, answers that never end, and a turn that
cannot be stored -- on SQLite and PostgreSQL, against the loopback vLLM server."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from arena.battles import storable
from arena.config import Settings
from arena.db.models import Battle, BattleStatus, Message
from arena.errors import BattleRejected, StorageError
from tests.loopback import Behaviour
from tests.test_battles import play
from tests.test_integrity import make_arena, voter

#: Launches app processes (app_server): scheduled early in a parallel run (conftest).
pytestmark = pytest.mark.processes


@pytest.mark.parametrize(
    "prompt", ["\u200b", "\u200b\u200d\ufeff", " \u00ad \u2060 ", "\u3000\u200e"]
)
async def test_a_prompt_of_invisible_characters_is_empty(engine, llm, prompt) -> None:
    arena = make_arena(engine, llm)
    alice = await voter(arena)
    with pytest.raises(BattleRejected) as caught:
        await play(arena, alice, prompt)
    assert caught.value.code == "prompt_empty" and llm.requests == []


async def test_nul_and_lone_surrogates_from_a_model_are_replaced_and_stored(engine, llm) -> None:
    arena = make_arena(engine, llm)
    alice = await voter(arena)
    evil = "a\x00b\ud800c\udfffd😀"
    for name in ("Alpha-7B", "Beta-13B"):
        llm.set(f"served/{name}", Behaviour(text=evil, tokens=len(evil)))
    last = (await play(arena, alice, "壊れた出力"))[-1]
    assert last.votable
    want = "a\ufffdb\ufffdc\ufffdd😀"
    assert {st.text for st in last.sides.values()} == {want}
    with arena.sessions() as s:
        battle = s.get(Battle, last.battle_id)
        assert battle.status is BattleStatus.READY
        assert {m.content for m in battle.messages if m.role == "assistant"} == {want}


async def test_an_answer_that_never_ends_is_cut_with_finish_reason_length(engine, llm) -> None:
    arena = make_arena(engine, llm, max_output_chars=40)
    alice = await voter(arena)
    for name in ("Alpha-7B", "Beta-13B"):
        llm.set(f"served/{name}", Behaviour(text="果てしない" * 200, tokens=500))
    last = (await play(arena, alice, "終わらない"))[-1]
    assert last.votable and {len(st.text) for st in last.sides.values()} == {40}
    with arena.sessions() as s:
        rows = s.scalars(select(Message).where(Message.role == "assistant")).all()
    assert {(len(m.content), m.finish_reason) for m in rows} == {(40, "length")}


@pytest.mark.postgres
async def test_a_turn_that_cannot_be_stored_ends_failed_with_its_text(pg_admin, tmp_path, llm):
    from arena.db import make_engine, migrate
    from tests.conftest import _create_pg_database, _drop_pg_database

    url = _create_pg_database(pg_admin)
    engine = make_engine(url)
    try:
        migrate(engine)
        arena = make_arena(engine, llm)
        alice = await voter(arena)
        # The database refuses an answer row without an error longer than 3 characters
        # (a real refusal by PostgreSQL): the turn as streamed cannot be stored.
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "ALTER TABLE messages ADD CONSTRAINT ck_test_refuse CHECK "
                "(role <> 'assistant' OR error IS NOT NULL OR length(content) < 4)"
            )
        for name in ("Alpha-7B", "Beta-13B"):
            llm.set(f"served/{name}", Behaviour(tokens=4))
        with pytest.raises(StorageError):
            await play(arena, alice, "保存できない")
        with arena.sessions() as s:
            battle = s.scalars(select(Battle)).one()
            answers = [m for m in battle.messages if m.role == "assistant"]
        assert battle.status is BattleStatus.FAILED
        assert len(answers) == 2 and all(m.content == Behaviour(tokens=4).answer() for m in answers)
    finally:
        engine.dispose()
        _drop_pg_database(pg_admin, url)


def test_storable_keeps_pairs_and_replaces_the_rest() -> None:
    assert storable("ok 😀 \x00 \ud83d") == "ok 😀 \ufffd \ufffd"


def test_settings_repr_hides_every_secret() -> None:
    s = Settings(
        database_url="postgresql://arena:pg-pass-123@db/arena", secret="s3cret-value",
        ip_salt="salt-value-1", export_salt="salt-value-2", admin_users="root:abcd",
        access_codes="code-value", redis_url="redis://:redis-pass@r:6379/0",
    )  # fmt: skip
    text = repr(s)
    for secret in ("pg-pass-123", "s3cret-value", "salt-value-1", "salt-value-2", "abcd",
                   "code-value", "redis-pass"):  # fmt: skip
        assert secret not in text
    assert "postgresql://arena:***@db/arena" in text and "max_turns=5" in text


def test_api_bodies_over_the_limit_and_bad_fields(app_server) -> None:
    url = app_server.url
    token = httpx.post(url + "/api/voters").json()["voter"]
    with httpx.Client(base_url=url, timeout=60) as c:
        huge = c.post("/api/battles", content=b'{"voter": "' + b"v" * 10_000_000 + b'"}',
                      headers={"content-type": "application/json"})  # fmt: skip
        assert huge.status_code == 413 and huge.json()["error"] == "too_large"
        assert "vvvv" not in huge.text

        def chunks():
            yield b'{"voter": "'
            for _ in range(100):
                yield b"w" * 10_000
            yield b'"}'

        chunked = c.post("/api/battles", content=chunks(),
                         headers={"content-type": "application/json"})  # fmt: skip
        assert chunked.status_code == 413
        lang = c.post("/api/battles", json={"voter": token, "prompt": "hi", "language": "xx"})
        assert lang.status_code == 400 and lang.json()["error"] == "invalid_request"
        assert "xx" not in lang.json()["message"]
        long_lang = c.post("/api/battles", json={"voter": token, "prompt": "hi",
                                                 "language": "j" * 100_000})  # fmt: skip
        assert long_lang.status_code == 400 and "jjjj" not in long_lang.text
        empty = c.post("/api/battles", json={"voter": token, "prompt": "\u200b\u200b"})
        assert empty.status_code == 400 and empty.json()["error"] == "prompt_empty"
        notjson = c.post("/api/battles", content=b"{", headers={"content-type": "application/json"})
        assert notjson.status_code == 400 and set(notjson.json()) == {"error", "message"}
