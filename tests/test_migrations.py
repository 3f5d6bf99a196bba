"""Alembic: an empty database upgrades to head, matches the models, and downgrades; a database
filled at each earlier revision upgrades to head and back with its rows intact."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from arena.db import make_engine, migrate
from arena.db.engine import downgrade
from arena.db.models import Base


def test_upgrade_matches_models_and_downgrade_empties(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    migrate(engine)  # idempotent: a restart migrates nothing
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, Base.metadata) == []
    assert set(inspect(engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


# -- upgrades and downgrades with data ------------------------------------------------

WHEN = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
OLD_STATUSES = ("streaming", "ready", "voted", "failed")  # what 0001-0003 allowed
ROWS_0001 = {
    "models": [
        "INSERT INTO models (id, name, provider, weights, description, japanese_mt_bench, "
        "nejumi_lb3, enabled, demo, created_at) VALUES "
        "(1, 'Tanuki-8B', 'vllm', 'open', 'たぬき', 6.6, 0.52, :t, :f, :when), "
        "(2, 'GPT-4o', 'openai', 'closed', '', NULL, NULL, :t, :f, :when)"
    ],
    "voters": [
        "INSERT INTO voters (id, token, ip_hash, created_at) VALUES "
        "(1, 'token-one', 'hash-1', :when), (2, 'token-two', NULL, :when)"
    ],
    "battles": [
        "INSERT INTO battles (id, voter_id, model_a_id, model_b_id, mode, status, language, "
        "turns, flag_identity, flag_moderation, created_at, ready_at) VALUES "
        + ", ".join(
            f"('b-{s}', 1, 1, 2, 'anony', '{s}', 'ja', 1, :f, :f, :when, :when)"
            for s in OLD_STATUSES
        )
        + ", ('b-direct', 2, 2, NULL, 'direct', 'ready', 'en', 2, :t, :f, :when, NULL)"
    ],
    "messages": [
        "INSERT INTO messages (battle_id, side, turn, role, content, latency_ms, ttft_ms, "
        "prompt_tokens, completion_tokens, finish_reason, error, created_at) VALUES "
        "('b-voted', 'a', 1, 'user', '質問', NULL, NULL, NULL, NULL, NULL, NULL, :when), "
        "('b-voted', 'a', 1, 'assistant', '答え', 900, 120, 10, 20, 'stop', NULL, :when), "
        "('b-voted', 'b', 1, 'user', '質問', NULL, NULL, NULL, NULL, NULL, NULL, :when), "
        "('b-voted', 'b', 1, 'assistant', '', 30000, NULL, 10, 0, NULL, 'timeout: x', :when)"
    ],
    "votes": [
        "INSERT INTO votes (battle_id, voter_id, winner, seconds_to_vote, created_at, voided, "
        "void_reason) VALUES ('b-voted', 1, 'tie (bothbad)', 12.5, :when, :t, 'spam')"
    ],
    "rating_runs": [
        "INSERT INTO rating_runs (id, created_at, method, anchor, level, rounds, seed, "
        "votes_used, excluded_failed, excluded_flagged, excluded_named, excluded_voided, note) "
        "VALUES (1, :when, 'sandwich', 'Tanuki-8B', 0.95, NULL, 7, 1, 0, 0, 0, 1, 'n')"
    ],
    "model_ratings": [
        "INSERT INTO model_ratings (run_id, model, rank, rating, ci_lower, ci_upper, battles, "
        "wins, ties, ties_bothbad, losses, win_rate) VALUES "
        "(1, 'Tanuki-8B', 1, 1000.0, 990.0, 1010.0, 1, 0, 0, 1, 0, 0.5), "
        "(1, 'GPT-4o', 1, 1000.0, 990.0, 1010.0, 1, 0, 0, 1, 0, 0.5)"
    ],
    "audit_log": [
        "INSERT INTO audit_log (actor, action, target, detail, created_at) "
        "VALUES ('cli:root', 'void', 'b-voted', 'spam', :when)"
    ],
    "job_locks": [
        "INSERT INTO job_locks (name, holder, acquired_at) VALUES ('recompute', 'host:1', :when)"
    ],
}
ROWS_0002 = {
    "rating_run_pairs": [
        "INSERT INTO rating_run_pairs (run_id, model_a, model_b, winner, count) "
        "VALUES (1, 'Tanuki-8B', 'GPT-4o', 'tie (bothbad)', 1)"
    ]
}
SEQUENCED = ("models", "voters", "rating_runs")  # ids given explicitly above


def _fill(engine, revision: str) -> dict[str, int]:
    tables = ROWS_0001 | (ROWS_0002 if revision >= "0002" else {})
    params = {"when": WHEN, "t": True, "f": False}
    with engine.begin() as conn:
        for statements in tables.values():
            for sql in statements:
                conn.execute(text(sql), params)
        if engine.dialect.name == "postgresql":  # explicit ids: move the sequences on
            for table in SEQUENCED:
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
    return _counts(engine, tables)


def _counts(engine, tables) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}


def _values(engine) -> dict[str, object]:
    with engine.connect() as conn:
        one = conn.execute
        return {
            "statuses": dict(one(text("SELECT id, status FROM battles")).all()),
            "answer": one(
                text(
                    "SELECT content, latency_ms, finish_reason FROM messages "
                    "WHERE battle_id = 'b-voted' AND side = 'a' AND role = 'assistant'"
                )
            )
            .one()
            .tuple(),
            "error": one(
                text("SELECT error FROM messages WHERE side = 'b' AND role = 'assistant'")
            ).scalar_one(),
            "vote": one(text("SELECT winner, voided, void_reason, seconds_to_vote FROM votes"))
            .one()
            .tuple(),
            "model": one(text("SELECT description, japanese_mt_bench FROM models WHERE id = 1"))
            .one()
            .tuple(),
            "direct": one(
                text("SELECT model_b_id, flag_identity, turns FROM battles WHERE id = 'b-direct'")
            )
            .one()
            .tuple(),
        }


@pytest.mark.parametrize("revision", ["0001", "0002", "0003"])
def test_upgrade_and_downgrade_keep_the_data(db_url: str, revision: str) -> None:
    # On SQLite, 0004's batch rebuild of `battles` drops the old table: with foreign keys
    # on, ON DELETE CASCADE would empty messages and votes (migrate() turns them off).
    engine = make_engine(db_url)
    try:
        migrate(engine, revision)
        counts = _fill(engine, revision)
        before = _values(engine)
        assert before["statuses"] == {f"b-{s}": s for s in OLD_STATUSES} | {"b-direct": "ready"}
        assert before["vote"] == ("tie (bothbad)", True, "spam", 12.5)

        migrate(engine)  # to head
        assert _counts(engine, counts) == counts
        assert _values(engine) == before
        with engine.begin() as conn:  # new in 0004: defaults on old rows, a new status
            vote = conn.execute(text("SELECT flag_fast, chars_a FROM votes")).one()
            assert tuple(vote) == (False, None)
            assert conn.execute(text("SELECT excluded_fast FROM rating_runs")).scalar_one() == 0
            conn.execute(
                text("INSERT INTO battles (id, voter_id, model_a_id, model_b_id, mode, status, "
                     "language, turns, flag_identity, flag_moderation, created_at, "
                     "identity_match) VALUES ('b-abandoned', 2, 1, 2, 'anony', 'abandoned', "
                     "'ja', 1, :f, :f, :when, 'GPT')"),
                {"f": False, "when": WHEN},
            )  # fmt: skip

        downgrade(engine, revision)
        after = _values(engine)
        assert after.pop("statuses") == before.pop("statuses") | {"b-abandoned": "failed"}
        assert after == before
        assert _counts(engine, counts) == counts | {"battles": counts["battles"] + 1}
        with engine.begin() as conn:  # the old schema still refuses the new status
            with pytest.raises(IntegrityError):
                conn.execute(text("UPDATE battles SET status = 'abandoned' WHERE id = 'b-ready'"))
        migrate(engine)  # and up again, data and all
        assert _counts(engine, counts) == counts | {"battles": counts["battles"] + 1}
    finally:
        engine.dispose()


def test_shared_state_tables_come_and_go_with_the_data_kept(db_url: str) -> None:
    # 0005 adds the tables several app processes share (model health, named values).
    engine = make_engine(db_url)
    try:
        migrate(engine, "0004")
        counts = _fill(engine, "0004")
        before = _values(engine)
        migrate(engine)
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO model_health (model, failures, backoff, until, updated_at) "
                     "VALUES ('GPT-4o', 3, 10.0, 1.5, :when)"),
                {"when": WHEN},
            )  # fmt: skip
            conn.execute(
                text("INSERT INTO app_state (key, value, updated_at) VALUES ('k', 'v', :when)"),
                {"when": WHEN},
            )
        downgrade(engine, "0004")
        assert _counts(engine, counts) == counts
        assert _values(engine) == before
        with engine.connect() as conn:
            assert (
                conn.execute(
                    text("SELECT count(*) FROM battles WHERE status = 'abandoned'")
                ).scalar_one()
                == 0
            )
        migrate(engine)
        assert _counts(engine, counts) == counts
    finally:
        engine.dispose()


def test_backend_protocol_columns_come_and_go_with_the_data_kept(db_url: str) -> None:
    # 0006 adds the raw finish reason, the provider's error code and message, and reasoning.
    engine = make_engine(db_url)
    try:
        migrate(engine, "0005")
        counts = _fill(engine, "0005")
        before = _values(engine)
        migrate(engine)
        assert _values(engine) == before
        new = "SELECT finish_raw, upstream_code, upstream_message, reasoning FROM messages"
        with engine.begin() as conn:
            assert set(conn.execute(text(new)).all()) == {(None, None, None, None)}
            conn.execute(
                text("UPDATE messages SET finish_raw = 'end_turn', upstream_code = "
                     "'overloaded_error', upstream_message = 'Overloaded', reasoning = '考え' "
                     "WHERE battle_id = 'b-voted' AND side = 'b' AND role = 'assistant'")
            )  # fmt: skip
        downgrade(engine, "0005")
        assert _counts(engine, counts) == counts
        assert _values(engine) == before
        assert "reasoning" not in {c["name"] for c in inspect(engine).get_columns("messages")}
        migrate(engine)
        assert _counts(engine, counts) == counts
    finally:
        engine.dispose()


def test_interop_columns_come_and_go_with_the_data_kept(db_url: str) -> None:
    # 0007 keeps what an imported file brings: its ids, judges, token counts, other
    # columns, and language names longer than a code.
    engine = make_engine(db_url)
    try:
        migrate(engine, "0006")
        counts = _fill(engine, "0006")
        before = _values(engine)
        migrate(engine)
        assert _values(engine) == before
        with engine.begin() as conn:
            new = "SELECT source_id, meta FROM battles"
            assert set(conn.execute(text(new)).all()) == {(None, None)}
            assert set(conn.execute(text("SELECT num_tokens FROM messages")).all()) == {(None,)}
            assert set(conn.execute(text("SELECT judge FROM voters")).all()) == {(None,)}
            conn.execute(
                text("UPDATE battles SET language = 'Portuguese', source_id = 'q-1', "
                     "meta = '{\"category_tag\": {}}' WHERE id = 'b-voted'")
            )  # fmt: skip
            conn.execute(text("UPDATE battles SET language = 'Tagalog-PH' WHERE id = 'b-ready'"))
            conn.execute(text("UPDATE messages SET num_tokens = 7"))
            conn.execute(text("UPDATE voters SET judge = 'arena_user_1'"))
        downgrade(engine, "0006")
        assert _counts(engine, counts) == counts
        with engine.connect() as conn:
            languages = dict(conn.execute(text("SELECT id, language FROM battles")).all())
        assert languages["b-voted"] == "pt" and languages["b-ready"] == "und"
        assert "num_tokens" not in {c["name"] for c in inspect(engine).get_columns("messages")}
        assert "judge" not in {c["name"] for c in inspect(engine).get_columns("voters")}
        migrate(engine)
        assert _counts(engine, counts) == counts
    finally:
        engine.dispose()


def test_volunteer_feedback_comes_and_goes_with_the_data_kept(db_url: str) -> None:
    # 0008: reasons per side and a comment with the vote, reactions to answers, and where
    # the first prompt came from.
    engine = make_engine(db_url)
    try:
        migrate(engine, "0007")
        counts = _fill(engine, "0007")
        before = _values(engine)
        migrate(engine)
        assert _values(engine) == before
        with engine.begin() as conn:
            assert set(conn.execute(text("SELECT prompt_source FROM battles")).all()) == {(None,)}
            assert set(conn.execute(text("SELECT comment FROM votes")).all()) == {(None,)}
            conn.execute(text("UPDATE battles SET prompt_source = 'example:email'"))
            conn.execute(text("UPDATE votes SET comment = '自然でした'"))
            conn.execute(
                text("INSERT INTO vote_reasons (battle_id, side, tag) VALUES "
                     "('b-voted', 'a', 'natural_japanese'), ('b-voted', 'b', 'incorrect')")
            )  # fmt: skip
            conn.execute(
                text("INSERT INTO reactions (battle_id, turn, side, value, created_at) "
                     "VALUES ('b-voted', 1, 'a', 1, :when)"),
                {"when": WHEN},
            )  # fmt: skip
        with engine.begin() as conn, pytest.raises(IntegrityError):  # one per tag and side
            conn.execute(
                text(
                    "INSERT INTO vote_reasons (battle_id, side, tag) VALUES "
                    "('b-voted', 'a', 'natural_japanese')"
                )
            )
        with engine.begin() as conn, pytest.raises(IntegrityError):  # sides are a or b
            conn.execute(
                text("INSERT INTO reactions (battle_id, turn, side, value, created_at) "
                     "VALUES ('b-voted', 1, 'c', 1, :when)"),
                {"when": WHEN},
            )  # fmt: skip
        downgrade(engine, "0007")
        assert _counts(engine, counts) == counts
        assert _values(engine) == before
        tables = set(inspect(engine).get_table_names())
        assert not tables & {"vote_reasons", "reactions"}
        assert "comment" not in {c["name"] for c in inspect(engine).get_columns("votes")}
        migrate(engine)
        assert _counts(engine, counts) == counts
    finally:
        engine.dispose()


def test_events_come_and_go_with_the_data_kept(db_url: str) -> None:
    # 0009: events, and the event a battle was started under (NULL for older battles).
    engine = make_engine(db_url)
    try:
        migrate(engine, "0008")
        counts = _fill(engine, "0008")
        before = _values(engine)
        migrate(engine)
        assert _values(engine) == before
        with engine.begin() as conn:
            assert set(conn.execute(text("SELECT event_id FROM battles")).all()) == {(None,)}
            conn.execute(
                text("INSERT INTO events (id, slug, name, goal, starts_at, ends_at, thanks_ja, "
                     "thanks_en, created_at) VALUES (7, 'lab-week', 'Lab week', 500, :when, "
                     ":when, '', '', :when)"),
                {"when": WHEN},
            )  # fmt: skip
            conn.execute(text("UPDATE battles SET event_id = 7 WHERE id = 'b-voted'"))
        with engine.begin() as conn, pytest.raises(IntegrityError):  # slugs are unique
            conn.execute(
                text("INSERT INTO events (slug, name, goal, starts_at, ends_at, thanks_ja, "
                     "thanks_en, created_at) VALUES ('lab-week', 'Again', 1, :when, :when, "
                     "'', '', :when)"),
                {"when": WHEN},
            )  # fmt: skip
        downgrade(engine, "0008")
        assert _counts(engine, counts) == counts
        assert _values(engine) == before
        assert "events" not in set(inspect(engine).get_table_names())
        assert "event_id" not in {c["name"] for c in inspect(engine).get_columns("battles")}
        migrate(engine)
        assert _counts(engine, counts) == counts
    finally:
        engine.dispose()


def test_categories_come_and_go_with_the_data_kept(db_url: str) -> None:
    # 0010: each battle's prompt language and categories; the upgrade tags the battles
    # that have a prompt (arena.categories' rules), the others stay untagged.
    engine = make_engine(db_url)
    try:
        migrate(engine, "0009")
        counts = _fill(engine, "0009")
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO messages (battle_id, side, turn, role, content, created_at) "
                     "VALUES ('b-ready', 'a', 1, 'user', 'Pythonでソートする関数を書いて', :when), "
                     "('b-ready', 'a', 1, 'assistant', '```python\nsorted(x)\n```', :when), "
                     "('b-ready', 'b', 1, 'user', 'Pythonでソートする関数を書いて', :when)"),
                {"when": WHEN},
            )  # fmt: skip
        counts = _counts(engine, counts)
        before = _values(engine)
        migrate(engine)
        assert _values(engine) == before and _counts(engine, counts) == counts
        with engine.begin() as conn:
            languages = dict(conn.execute(text("SELECT id, prompt_language FROM battles")).all())
            tags = conn.execute(text("SELECT battle_id, category FROM battle_categories")).all()
            assert languages.pop("b-ready") == "ja" and languages.pop("b-voted") is not None
            assert set(languages.values()) == {None}  # no prompt: nothing to tag
            assert sorted(tags) == [("b-ready", "coding")]
        with engine.begin() as conn, pytest.raises(IntegrityError):  # one row per category
            conn.execute(
                text("INSERT INTO battle_categories (battle_id, category) "
                     "VALUES ('b-ready', 'coding')")
            )  # fmt: skip
        downgrade(engine, "0009")
        assert _counts(engine, counts) == counts
        assert _values(engine) == before
        assert "battle_categories" not in set(inspect(engine).get_table_names())
        columns = {c["name"] for c in inspect(engine).get_columns("battles")}
        assert "prompt_language" not in columns
        migrate(engine)  # up again: tagged again
        assert _counts(engine, counts) == counts
        with engine.connect() as conn:
            again = conn.execute(text("SELECT battle_id, category FROM battle_categories")).all()
        assert again == [("b-ready", "coding")]
    finally:
        engine.dispose()
