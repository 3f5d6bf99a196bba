"""Import of battle files: good, duplicate and broken rows (counts and reasons per line),
JSONL, JSON, CSV and Parquet, on SQLite and PostgreSQL; a failing import (a database
failure mid-file, a truncated Parquet file, ``--strict``) leaves the database as it was;
the export -> import -> export round trip; the CLI.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from arena import import_bulk
from arena.db.models import AuditLog, Base, Battle, BattleMode, Message, Model, Vote, Voter
from arena.export import ExportOptions, export
from arena.import_rows import battle_id, voter_token
from arena.importer import ImportFailed, import_file
from ratings.battlefile import jsonl_span, jsonl_spans, records
from tests.conftest import python
from tests.test_export import SALT, seed

ROOT = Path(__file__).resolve().parents[1]


def good_row(k: int, **over: object) -> dict:
    """A valid row in the public schema (with an extra column to ignore)."""
    row = {
        "question_id": f"{k:032x}",
        "model_a": "gpt-4-0613",
        "model_b": "Tanuki-8B-dpo-v1.0",
        "winner": ["model_a", "model_b", "tie", "tie (bothbad)"][k % 4],
        "judge": f"arena_user_{k % 3}",
        "conversation_a": [
            {"role": "user", "content": f"質問 {k}"},
            {"role": "assistant", "content": f"答え A {k}"},
            {"role": "user", "content": "続き"},
            {"role": "assistant", "content": "はい"},
        ],
        "conversation_b": [
            {"role": "user", "content": f"質問 {k}"},
            {"role": "assistant", "content": f"答え B {k}"},
            {"role": "user", "content": "続き"},
            {"role": "assistant", "content": "いいえ"},
        ],
        "turn": 2,
        "anony": True,
        "language": "Japanese",
        "tstamp": 1_700_000_000.25 + k,
        "is_code": False,
    }
    row.update(over)
    return row


BROKEN = [
    ({"winner": "model_c"}, "winner must be one of"),
    ({"model_b": "gpt-4-0613"}, "same model"),
    ({"model_a": None}, "missing model_a"),
    ({"tstamp": "yesterday"}, "tstamp must be Unix seconds or an ISO date-time"),
    ({"turn": 0}, "turn must be at least 1"),
    ({"anony": "maybe"}, "anony must be true or false"),
    ({"conversation_a": [{"role": "robot", "content": "x"}]}, "role must be user, assistant"),
    ({"conversation_b": [{"role": "assistant", "content": "x"}]}, "starts with an assistant"),
    ({"conversation_a": [{"role": "user", "content": "a\x00b"}]}, "NUL character"),
    ({"model_a": "x" * 201}, "longer than 200"),
]


def _jsonl(path: Path, rows: list) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write((row if isinstance(row, str) else json.dumps(row, ensure_ascii=False)) + "\n")
    return path


def _mixed_file(tmp: Path) -> tuple[Path, dict[int, str]]:
    """Lines 1-5 good, 6 duplicate of 2, then broken rows, then good 7-8, a blank line."""
    rows: list = [good_row(k) for k in range(1, 6)]
    rows.append(good_row(2))
    expected: dict[int, str] = {}
    for k, (change, reason) in enumerate(BROKEN):
        rows.append(good_row(100 + k, **change))
        expected[len(rows)] = reason
    rows.append("{not json")
    expected[len(rows)] = "not valid JSON"
    rows.append("[1, 2]")
    expected[len(rows)] = "not an object"
    rows += [good_row(7), good_row(8), ""]
    return _jsonl(tmp / "mixed.jsonl", rows), expected


def snapshot(engine: Engine) -> dict[str, list]:
    """Every row of every table, in a stable order."""
    with engine.connect() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(t.select().order_by(*t.primary_key.columns))]
            for t in Base.metadata.sorted_tables
        }


def test_good_duplicate_and_broken_rows(engine: Engine, tmp_path: Path) -> None:
    path, expected = _mixed_file(tmp_path)
    report = import_file(engine, path, batch_size=4)
    assert report.committed
    assert (report.rows, report.imported, report.duplicates) == (20, 7, 1)
    assert report.refused == len(expected) == 12
    assert [w for w, _ in report.problems] == list(expected)
    for where, reason in report.problems:
        assert expected[where] in reason, (where, reason)
    assert report.models_created == ["Tanuki-8B-dpo-v1.0", "gpt-4-0613"]
    assert report.voters_created == 3
    with Session(engine) as s:
        assert s.scalar(select(Battle).where(Battle.id == f"{2:032x}")) is not None
        assert len(s.scalars(select(Vote)).all()) == 7
        assert len(s.scalars(select(Message)).all()) == 7 * 8
        models = s.scalars(select(Model)).all()
        assert {(m.provider, m.enabled) for m in models} == {("imported", False)}
        battle = s.get(Battle, f"{3:032x}")
        assert battle.mode is BattleMode.ANONY and battle.language == "Japanese"
        assert battle.turns == 2 and battle.source_id == f"{3:032x}"
        assert battle.vote.winner.value == "tie (bothbad)"
        msgs = [(m.side.value, m.turn, m.role, m.content) for m in battle.messages]
        assert msgs[:2] == [("a", 1, "user", "質問 3"), ("a", 1, "assistant", "答え A 3")]
        assert msgs[3] == ("a", 2, "assistant", "はい")
        assert {(v.token, v.judge) for v in s.scalars(select(Voter))} == {
            (voter_token(f"arena_user_{k}"), f"arena_user_{k}") for k in range(3)
        }
    again = import_file(engine, path)
    assert (again.imported, again.duplicates, again.refused) == (0, 8, 12)


def _schema(engine: Engine) -> dict[str, tuple]:
    """The indexes and foreign keys of the tables an import fills."""
    found = inspect(engine)
    return {
        table: (
            sorted((ix["name"], tuple(ix["column_names"])) for ix in found.get_indexes(table)),
            sorted((fk["name"], fk["referred_table"]) for fk in found.get_foreign_keys(table)),
        )
        for table in ("battles", "votes", "messages")
    }


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_bulk_and_worker_loads_store_the_same(engine: Engine, tmp_path: Path, workers: int) -> None:
    """Into an empty database the import loads in bulk (indexes rebuilt at the end), and
    with a worker process validating: the rows, the report and the schema come out as a
    row-by-row load in this process leaves them."""
    path, expected = _mixed_file(tmp_path)
    schema = _schema(engine)
    assert all(ix for ix, _ in schema.values())
    report = import_file(engine, path, batch_size=4, workers=workers)
    assert report.bulk and report.committed
    assert (report.imported, report.duplicates, report.refused) == (7, 1, len(expected))
    assert [w for w, _ in report.problems] == list(expected)
    assert _schema(engine) == schema
    bulk = export(engine, tmp_path / "bulk.jsonl", "jsonl", ExportOptions(), SALT)
    with engine.begin() as conn:
        for table in ("messages", "votes", "battles", "voters", "models"):
            conn.execute(text(f"DELETE FROM {table}"))
    slow = import_file(engine, path, batch_size=4, bulk=False, workers=0)
    assert not slow.bulk
    assert {k: v for k, v in slow.as_dict().items() if k != "bulk"} == {
        k: v for k, v in report.as_dict().items() if k != "bulk"
    }
    slow_export = export(engine, tmp_path / "slow.jsonl", "jsonl", ExportOptions(), SALT)
    assert slow_export["rows"] == bulk["rows"] == 7
    assert (tmp_path / "slow.jsonl").read_bytes() == (tmp_path / "bulk.jsonl").read_bytes()
    assert _schema(engine) == schema
    with Session(engine) as s:  # the foreign keys hold
        assert all(m.battle.id == m.battle_id for m in s.scalars(select(Message)))


FILES = {
    "plain": b'{"a": 1}\n{"b": 2}\n{"c": 3}\n',
    "bom, blank lines, CRLF, no last newline": (
        b'\xef\xbb\xbf{"a": 1}\r\n\n  \n{"b": "x\\ny"}\r\n{"c"'
    ),
    "long lines": b"".join(b'{"k": "%s"}\n' % (b"z" * n) for n in (40, 0, 3, 90, 1)),
    "only blank lines": b"\n\n \n",
    "empty": b"",
}


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("lines", [1, 2, 3, 100])
@pytest.mark.parametrize("piece", [1, 7, 1 << 20])
def test_worker_spans_read_the_lines_the_reader_reads(
    tmp_path: Path, name: str, lines: int, piece: int
) -> None:
    """A worker process reads its own run of lines of a JSON-lines file: the runs, read
    one after the other, are the file's numbered lines as records() gives them, whatever
    the run length and however the file's reading is cut."""
    path = tmp_path / "f.jsonl"
    path.write_bytes(FILES[name])
    spans = list(jsonl_spans(path, lines, piece))
    assert [s for span in spans for s in jsonl_span(path, *span)] == list(records(path, "jsonl"))
    # One after the other, from the first byte to the last, numbered from line 1 on.
    assert [(start, first) for start, _, first in spans] == [
        (end, 1 + lines * k) for k, end in enumerate([0] + [end for _, end, _ in spans])
    ][: len(spans)]
    assert all(end > start for start, end, _ in spans)
    assert (spans[-1][1] if spans else 0) == len(FILES[name])


def _one_turn(k: int) -> dict:
    row = good_row(k, turn=1)
    for side in ("conversation_a", "conversation_b"):
        row[side] = row[side][:2]
    return row


@pytest.mark.parametrize("workers", [0, 1])
def test_message_ids_follow_the_file_and_later_rows_get_new_ones(
    engine: Engine, tmp_path: Path, workers: int
) -> None:
    """A bulk load numbers the messages in the file's order (a battle's side A, then its
    side B), without gaps inside a block; after it, rows from a normal import, a second
    bulk load into the filled database and the arena itself get ids none of it took
    (on PostgreSQL the bulk load takes its ids from the sequences a block at a time)."""
    rows = [good_row(k) if k % 3 else _one_turn(k) for k in range(1, 10)]
    report = import_file(engine, _jsonl(tmp_path / "a.jsonl", rows), workers=workers)
    assert report.bulk and report.imported == 9
    expected = [
        (f"{row['question_id']}", side, m["role"], m["content"])
        for row in rows
        for side in "ab"
        for m in row[f"conversation_{side}"]
    ]
    query = select(Message.id, Message.battle_id, Message.side, Message.role, Message.content)
    with Session(engine) as s:
        stored = s.execute(query.order_by(Message.id)).all()
        vote_ids = s.scalars(select(Vote.id)).all()
    assert [(b, str(getattr(side, "value", side)), r, c) for _, b, side, r, c in stored] == expected
    ids = [i for i, *_ in stored]
    assert ids == list(range(ids[0], ids[0] + len(expected)))  # one block: no gap
    assert len(set(vote_ids)) == 9

    more = [good_row(k) for k in range(10, 13)]
    assert import_file(engine, _jsonl(tmp_path / "b.jsonl", more), workers=workers).imported == 3
    again = [_one_turn(k) for k in range(13, 15)]
    forced = import_file(engine, _jsonl(tmp_path / "c.jsonl", again), workers=workers, bulk=True)
    assert forced.bulk and forced.imported == 2
    with Session(engine) as s, s.begin():  # as the arena stores a turn
        s.add(Message(battle_id=rows[0]["question_id"], side="a", turn=3, role="user",
                      content="new"))  # fmt: skip
    with Session(engine) as s:
        every = s.execute(select(Message.id, Message.content).order_by(Message.id)).all()
        votes = s.scalars(select(Vote.id)).all()
    assert len(every) == len(expected) + 3 * 8 + 2 * 4 + 1
    assert min(i for i, _ in every[len(expected) :]) > max(ids)
    assert every[-1].content == "new"
    assert len(set(votes)) == len(votes) == 14


TRICKY = 'q " b \\ n \n t \t r \r c \x01 \\.\n\\N 😀 </script> \u2028 é'


@pytest.mark.parametrize("bulk", [True, False])
def test_message_text_arrives_exactly(engine: Engine, tmp_path: Path, bulk: bool) -> None:
    """Backslashes, line breaks, tabs, control characters, COPY's own markers (a line
    holding only a backslash and a period, \\N) and non-BMP characters survive."""
    rows = []
    for k in range(1, 4):
        row = good_row(k)
        row["conversation_a"][1]["content"] = TRICKY + str(k)
        row["conversation_b"][0]["content"] = "\\." if k == 2 else TRICKY
        rows.append(row)
    path = _jsonl(tmp_path / "tricky.jsonl", rows)
    report = import_file(engine, path, bulk=bulk, workers=1)
    assert report.imported == 3 and report.bulk is bulk
    with Session(engine) as s:
        for k in range(1, 4):
            battle = s.get(Battle, f"{k:032x}")
            texts = {(m.side.value, m.turn, m.role): m.content for m in battle.messages}
            assert texts[("a", 1, "assistant")] == TRICKY + str(k)
            assert texts[("b", 1, "user")] == ("\\." if k == 2 else TRICKY)


@pytest.mark.parametrize("workers", [0, 1])
def test_lone_surrogates_are_refused_with_their_place(
    engine: Engine, tmp_path: Path, workers: int
) -> None:
    """JSON can escape half of a character (\\ud800) and Python decodes it; no database
    stores it. That row is refused with the field named, the others are taken, and a
    character escaped as a whole surrogate pair arrives as that character."""
    emoji = good_row(1, judge="ju\U0001f600dge")
    emoji["conversation_a"][1]["content"] = "ok \U0001f600 \\ud800"  # a pair; a backslash
    lone_content = good_row(2)
    lone_content["conversation_b"][1]["content"] = "cut \udc00 here"
    lines = [
        json.dumps(emoji),  # ensure_ascii: the emoji as the escapes \ud83d\ude00
        json.dumps(lone_content),
        json.dumps(good_row(3, judge="x\ud83d")),
        json.dumps(good_row(4, model_a="\udfff")),
        json.dumps(good_row(5, language="ja\ud800")),
        good_row(6),
    ]
    report = import_file(engine, _jsonl(tmp_path / "s.jsonl", lines), workers=workers)
    assert (report.imported, report.refused) == (2, 4), report.problems
    assert report.problems == [
        (2, "conversation_b[1].content is not valid Unicode: it holds a lone surrogate "
            "(U+DC00, half of a character cut in two)"),
        (3, "judge is not valid Unicode: it holds a lone surrogate (U+D83D, half of a "
            "character cut in two)"),
        (4, "model_a is not valid Unicode: it holds a lone surrogate (U+DFFF, half of a "
            "character cut in two)"),
        (5, "language is not valid Unicode: it holds a lone surrogate (U+D800, half of a "
            "character cut in two)"),
    ]  # fmt: skip
    with Session(engine) as s:
        battle = s.get(Battle, f"{1:032x}")
        assert battle.messages[1].content == "ok \U0001f600 \\ud800"
        assert s.get(Voter, battle.voter_id).token == voter_token("ju\U0001f600dge")
    # A .json array is decoded whole, so its objects are always looked through.
    array = tmp_path / "s.json"
    bad = json.dumps(good_row(7, model_b="b\ud800"))
    array.write_text("[" + bad + ", " + json.dumps(good_row(8)) + "]", encoding="utf-8")
    report = import_file(engine, array)
    assert report.refused == 1 and "model_b is not valid Unicode" in report.problems[0][1]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_bulk_load_gives_up_on_tables_another_session_holds(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bulk load takes its tables alone. Behind another session's open transaction on
    them it waits a bounded time, then stops with a message saying why and what to do,
    leaving the database as it was; once the other session ends, the same import runs."""
    monkeypatch.setattr(import_bulk, "PG_LOCK_WAIT_S", 1)
    path = _jsonl(tmp_path / "a.jsonl", [good_row(k) for k in range(1, 4)])
    schema, before = _schema(engine), snapshot(engine)
    with engine.connect() as reader:
        reader.execute(text("SELECT count(*) FROM battles")).scalar_one()  # holds it
        started = time.monotonic()
        with pytest.raises(ImportFailed, match="another session kept them") as info:
            import_file(engine, path, bulk=True, workers=0)
        assert 1 <= time.monotonic() - started < 30
        assert "--no-bulk" in str(info.value) and not info.value.report.committed
        reader.rollback()
    assert snapshot(engine) == before and _schema(engine) == schema
    assert import_file(engine, path, bulk=True, workers=0).imported == 3
    _constraints_hold(engine)


def test_failed_bulk_import_keeps_indexes_and_keys(engine: Engine, tmp_path: Path) -> None:
    _fail_on_boom(engine)
    schema, before = _schema(engine), snapshot(engine)
    rows = [good_row(k) for k in range(1, 30)]
    rows[24]["conversation_b"][1]["content"] = "BOOM"
    path = _jsonl(tmp_path / "boom.jsonl", rows)
    with pytest.raises(ImportFailed, match="injected failure") as info:
        import_file(engine, path, batch_size=5, workers=1)
    assert info.value.report.bulk and not info.value.report.committed
    assert snapshot(engine) == before and _schema(engine) == schema
    _constraints_hold(engine)


def _constraints_hold(engine: Engine) -> None:
    """Every pooled connection enforces foreign keys and CHECK constraints again (the
    import turns both off on its SQLite connection), and the garbage collector runs."""
    assert gc.isenabled()
    with engine.connect() as conn:
        voter = conn.execute(insert(Voter).values(token="t" * 40).returning(Voter.id)).scalar()
        model = conn.execute(
            insert(Model).values(name="m-checked", provider="x").returning(Model.id)
        ).scalar()
        battle = {"voter_id": voter, "model_a_id": model, "mode": "anony", "status": "voted",
                  "language": "ja", "turns": 1, "flag_identity": False,
                  "flag_moderation": False, "created_at": datetime.now(UTC)}  # fmt: skip
        conn.execute(insert(Battle).values(id="e" * 32, **battle))
        for change in ({"status": "exploded"}, {"voter_id": voter + 1000}):
            with pytest.raises(IntegrityError), conn.begin_nested():
                conn.execute(insert(Battle).values({**battle, "id": "f" * 32, **change}))
        conn.rollback()


def test_successful_import_leaves_constraints_enforced(engine: Engine, tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "ok.jsonl", [good_row(k) for k in range(1, 4)])
    assert import_file(engine, path, workers=1).committed
    _constraints_hold(engine)


def test_existing_models_and_voters_are_reused(engine: Engine, tmp_path: Path) -> None:
    with Session(engine) as s, s.begin():
        s.add(Model(name="gpt-4-0613", provider="openai", enabled=True))
    path = _jsonl(tmp_path / "a.jsonl", [good_row(1)])
    assert import_file(engine, path).models_created == ["Tanuki-8B-dpo-v1.0"]
    path = _jsonl(tmp_path / "b.jsonl", [good_row(2, judge="arena_user_1")])
    report = import_file(engine, path)
    assert report.voters_created == 0 and report.models_created == []
    with Session(engine) as s:
        gpt = s.scalar(select(Model).where(Model.name == "gpt-4-0613"))
        assert (gpt.provider, gpt.enabled) == ("openai", True)


def test_question_ids_that_are_not_hex_are_hashed(engine: Engine, tmp_path: Path) -> None:
    rows = [good_row(1, question_id="q-1"), good_row(2, question_id="ABCDEF0123456789" * 2)]
    rows.append(good_row(3, question_id=12345, anony="false", language="pt-BR", turn=None))
    path = _jsonl(tmp_path / "q.jsonl", rows)
    assert import_file(engine, path).imported == 3
    assert battle_id("q-1") == battle_id("q-1") != battle_id("q-2")
    with Session(engine) as s:
        ids = set(s.scalars(select(Battle.id)))
        assert ids == {battle_id("q-1"), "abcdef0123456789" * 2, battle_id("12345")}
        named = s.get(Battle, battle_id("12345"))
        assert named.mode is BattleMode.NAMED and named.language == "pt-BR"
        assert named.turns == 2
    assert import_file(engine, path).duplicates == 3


def test_csv_and_json_and_parquet(engine: Engine, tmp_path: Path) -> None:
    import csv

    cols = list(good_row(0))
    path = tmp_path / "b.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for k in range(1, 4):
            row = good_row(k, model_a="'=SUM(1)" if k == 1 else "gpt-4-0613")
            w.writerow([json.dumps(v, ensure_ascii=False) if isinstance(v, list) else v
                        for v in row.values()])  # fmt: skip
        w.writerow(["short", "row"])
        w.writerow([*list(good_row(9, winner="nobody").values())[:-1], "x"])
    report = import_file(engine, path)
    assert (report.imported, report.refused, report.unit) == (3, 2, "line")
    assert report.problems[0] == (5, f"expected {len(cols)} fields, found 2")
    assert report.problems[1][0] == 6 and "winner" in report.problems[1][1]
    with Session(engine) as s:
        assert s.scalar(select(Model).where(Model.name == "=SUM(1)")) is not None

    array = tmp_path / "arr.json"
    array.write_text(json.dumps([good_row(10), good_row(11, winner=None)]), encoding="utf-8")
    report = import_file(engine, array)
    assert (report.imported, report.refused, report.unit) == (1, 1, "row")
    assert report.problems[0][0] == 2

    table = pa.Table.from_pylist([good_row(k) for k in range(20, 25)] + [good_row(1)])
    pq.write_table(table, tmp_path / "b.parquet", row_group_size=2)
    report = import_file(engine, tmp_path / "b.parquet")
    assert (report.rows, report.imported, report.duplicates) == (6, 5, 1)


def test_round_trip_export_import_export(engine: Engine, tmp_path: Path) -> None:
    seed(engine, n_random=20)
    first = tmp_path / "first.parquet"
    export(engine, first, "parquet", ExportOptions(include_named=True), SALT)
    second_db = f"sqlite:///{tmp_path / 'second.db'}"
    from arena.db import make_engine, migrate

    other = make_engine(second_db)
    migrate(other)
    report = import_file(other, first)
    assert report.imported == report.rows == 25 and not report.refused
    again = tmp_path / "again.jsonl"
    export(other, again, "jsonl", ExportOptions(include_named=True), SALT)
    a = pq.read_table(first).to_pylist()
    b = [json.loads(x) for x in again.read_text(encoding="utf-8").splitlines()]

    def strip(rows: list[dict]) -> list[dict]:
        # Parquet holds category_tag and metadata (no fixed shape) as JSON text.
        return [
            {k: json.loads(v) if isinstance(v, str) and k in ("category_tag", "metadata") else v
             for k, v in r.items() if k not in ("judge", "tstamp")}
            for r in rows
        ]  # fmt: skip

    assert strip(a) == strip(b)
    assert [r["tstamp"] for r in a] == pytest.approx([r["tstamp"] for r in b], abs=1e-5)
    # Judges keep their grouping (one new pseudonym per original judge).
    pairs = {(x["judge"], y["judge"]) for x, y in zip(a, b, strict=True)}
    assert len(pairs) == len({x for x, _ in pairs}) == len({y for _, y in pairs})
    other.dispose()


def _fail_on_boom(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER boom BEFORE INSERT ON messages WHEN NEW.content = 'BOOM' "
                    "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN "
                    "IF NEW.content = 'BOOM' THEN RAISE EXCEPTION 'injected failure'; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER boom BEFORE INSERT ON messages FOR EACH ROW "
                    "EXECUTE FUNCTION boom()"
                )
            )


def test_database_failure_mid_file_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    seed(engine)
    _fail_on_boom(engine)
    before = snapshot(engine)
    rows = [good_row(k) for k in range(1, 30)]
    rows[24]["conversation_b"][1]["content"] = "BOOM"  # passes validation, fails in the DB
    path = _jsonl(tmp_path / "boom.jsonl", rows)
    with pytest.raises(ImportFailed, match="injected failure") as info:
        import_file(engine, path, batch_size=5)
    assert info.value.report.imported == 20 and not info.value.report.committed
    assert snapshot(engine) == before


def test_truncated_parquet_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    seed(engine)
    before = snapshot(engine)
    table = pa.Table.from_pylist([good_row(k) for k in range(1, 200)])
    whole = tmp_path / "whole.parquet"
    pq.write_table(table, whole, row_group_size=20)
    data = whole.read_bytes()
    for cut in (len(data) // 2, len(data) - 100):
        broken = tmp_path / f"cut{cut}.parquet"
        broken.write_bytes(data[:cut])
        with pytest.raises(ImportFailed, match="cannot read"):
            import_file(engine, broken, batch_size=10)
        assert snapshot(engine) == before
    unreadable = tmp_path / "bad.csv"
    unreadable.write_bytes(b"question_id,model_a,model_b,winner\n1,a,b,tie\n\xff\xfe,a,b,tie\n")
    with pytest.raises(ImportFailed, match="cannot read"):
        import_file(engine, unreadable, batch_size=1)
    assert snapshot(engine) == before


def test_strict_and_dry_run_change_nothing(engine: Engine, tmp_path: Path) -> None:
    before = snapshot(engine)
    path, _ = _mixed_file(tmp_path)
    with pytest.raises(ImportFailed, match="strict"):
        import_file(engine, path, strict=True, batch_size=3)
    assert snapshot(engine) == before
    report = import_file(engine, path, dry_run=True)
    assert report.imported == 7 and not report.committed
    assert snapshot(engine) == before


def _cli(*args: str, url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "ARENA_EXPORT_SALT": SALT}
    env.pop("ARENA_CONFIG", None)
    return python(["-m", "arena", *args], cwd=ROOT, env=env)


def test_cli_import(engine: Engine, tmp_path: Path) -> None:
    url = engine.url.render_as_string(hide_password=False)
    path, expected = _mixed_file(tmp_path)
    r = _cli("import", str(path), "--strict", url=url)
    assert r.returncode == 2 and "strict" in r.stderr
    r = _cli("import", str(path), url=url)
    assert r.returncode == 0, r.stderr
    assert "20 rows read: 7 imported, 1 duplicates skipped, 12 refused; committed" in r.stdout
    for line, reason in expected.items():  # grouped by reason, with the lines
        assert any(reason in x and f"(lines {line})" in x for x in r.stderr.splitlines())
    r = _cli("import", str(path), "--json", url=url)
    report = json.loads(r.stdout)
    assert (report["imported"], report["duplicates"]) == (0, 8)
    assert report["problems"][0] == {"line": 7, "reason": report["problems"][0]["reason"]}
    r = _cli("import", str(tmp_path / "missing.jsonl"), url=url)
    assert r.returncode == 2 and "cannot read" in r.stderr
    with Session(engine) as s:
        actions = [a.action for a in s.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert actions == ["import_failed", "import", "import", "import_failed"]
