"""The import's columnar path stores exactly what the precise, row-by-row path stores.

A JSON-lines file of FastChat's layout is imported twice into fresh databases, once with
``columnar=False`` (every row through :func:`arena.import_rows.validate`) and once with the
columnar path (:mod:`arena.import_columns`), in blocks small enough that plain rows,
rows the precise path must take, refused rows and repeated ids share blocks. Every
stored table and the reports must be the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from arena.db import make_engine, migrate
from arena.import_blocks import check_block
from arena.import_schema import SCHEMA
from arena.importer import import_file
from tests.conftest import _create_pg_database, _drop_pg_database
from tests.test_import import good_row

#: Every stored table, without the ids the database numbers itself.
TABLES = {
    "battles": "SELECT b.id, v.token, v.judge, ma.name, mb.name, b.mode, b.status, b.language, "
    "b.turns, b.flag_identity, b.flag_moderation, b.created_at, b.ready_at, b.source_id, "
    "b.meta, b.prompt_source, b.prompt_language FROM battles b JOIN voters v ON v.id = "
    "b.voter_id JOIN models ma ON ma.id = b.model_a_id JOIN models mb ON mb.id = b.model_b_id "
    "ORDER BY b.id",
    "votes": "SELECT battle_id, winner, seconds_to_vote, created_at, voided, void_reason, "
    "comment FROM votes ORDER BY battle_id",
    "messages": "SELECT battle_id, side, turn, role, content, finish_reason, num_tokens, "
    "created_at FROM messages ORDER BY battle_id, side, id",
    "categories": "SELECT battle_id, category FROM battle_categories ORDER BY 1, 2",
    "reasons": "SELECT battle_id, side, tag FROM vote_reasons ORDER BY 1, 2, 3",
    "reactions": "SELECT battle_id, turn, side, value FROM reactions ORDER BY 1, 2, 3",
    "models": "SELECT name, provider, enabled FROM models ORDER BY name",
}

META = {
    "sum_user_tokens": 5, "turns": 2, "sum_assistant_a_tokens": 7, "context_a_tokens": 9,
    "header_count_a": {f"h{k}": k % 2 for k in range(1, 7)},
    "list_count_a": {"ordered": 1, "unordered": 0}, "bold_count_a": {"**": 2, "__": 0},
    "sum_assistant_b_tokens": 3, "context_b_tokens": 4,
    "header_count_b": {f"h{k}": 0 for k in range(1, 7)},
    "list_count_b": {"ordered": 0, "unordered": 3}, "bold_count_b": {"**": 0, "__": 1},
}  # fmt: skip


def export_row(k: int, **over: object) -> dict:
    """A row as this arena's export writes it (schema 5)."""
    row = good_row(k)
    del row["is_code"]
    for side in ("a", "b"):
        for n, message in enumerate(row[f"conversation_{side}"]):
            message["num_tokens"] = 3 + n
            message["finish_reason"] = "stop" if message["role"] == "assistant" else None
    row.update(
        conv_metadata=META, category_tag=None, flags=[], metadata={}, reasons_a=[],
        reasons_b=[], comment=None, reactions=[], prompt_source=None,
        prompt_language="Japanese", categories=["multi_turn"],
    )  # fmt: skip
    row.update(over)
    return row


def lines() -> list[str]:
    """Plain rows and, among them, every kind of row the columnar path must hand over."""
    conv = good_row(0)["conversation_a"]
    odd: list[dict | str] = [
        export_row(100, model_a=" spaced "),  # stripped by the precise path
        export_row(101, model_b="Tanuki-8B\u3000"),  # ideographic space: Python strips it
        export_row(102, judge=None),
        export_row(103, tstamp=1_700_000_000_250),  # milliseconds
        export_row(104, tstamp=None, timestamp="2024-01-02T03:04:05Z"),
        export_row(105, winner="both_bad"),
        export_row(106, winner="model_c"),  # refused
        export_row(107, model_b="gpt-4-0613"),  # the same model twice: refused
        export_row(108, turn=0),  # refused
        export_row(109, anony=None),
        export_row(110, language=None),
        export_row(111, question_id="Not-Hex-Id"),
        export_row(112, question_id=None),  # an id derived from the content
        export_row(113, conversation_a=[{"role": "assistant", "content": "先に答え"}]),
        export_row(114, conversation_a=[*conv, {"role": "system", "content": "後から"}]),
        export_row(115, conversation_a=[{"role": "user", "content": "a\u0000b"}]),
        export_row(116, conversation_b=[{"role": "bot", "content": "x"}]),
        export_row(117, conversation_b=[{"role": "user", "content": "x", "num_tokens": -1}]),
        export_row(118, conversation_b=[{"role": "user", "content": "x", "finish_reason": "stop"}]),
        export_row(
            119,
            conversation_b=[
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a", "finish_reason": "exploded"},
            ],
        ),
        export_row(120, conversation_a=[{"role": "system", "content": "あなたは助手"}, *conv]),
        export_row(
            121,
            conversation_a=[
                {"role": "user", "content": "tab\there\\back\r\nend"},
                {"role": "assistant", "content": ""},
            ],
        ),
        export_row(122, flags=["moderation"]),
        export_row(123, openai_moderation={"flagged": True}),
        export_row(124, toxic_chat_tag={"roberta-large": {"flagged": False}}),
        export_row(125, metadata={"source": "x"}),
        export_row(126, category_tag={"criteria_v0.1": {"code": True}}),
        export_row(127, reasons_a=["正確"], reactions=[{"turn": 1, "side": "a", "value": 1}]),
        export_row(128, comment="よかった", prompt_source="own"),
        export_row(129, comment="", prompt_source=""),
        export_row(130, comment="x" * 5, prompt_source="y" * 41),  # refused
        export_row(131, prompt_language="Thai", categories=["coding", "weird"]),
        export_row(132, prompt_language="unknown", categories=["math", "math"]),
        export_row(133, prompt_language=None, categories=None),
        export_row(134, conv_metadata={"turns": 1}),
        export_row(135, conv_metadata=None),
        export_row(136, extra_column=[1, 2]),
        export_row(137, extra_column=None),
        export_row(138, language="x" * 65),  # refused
        export_row(139, tstamp=5e9),  # refused
        export_row(140, conversation_b=None),
        export_row(141, model_a="a\ud800b"),  # a lone surrogate: refused by name
        export_row(2),  # an id seen before: a duplicate
        export_row(142, model_a="=SUM(1)", judge="arena_user_x"),
        "{not json",
        export_row(143, turn="2"),  # another type: its block goes the precise way
        export_row(144),
        export_row(144, winner="model_b"),  # repeated in its block: the first one wins
    ]
    rows: list[dict | str] = [export_row(k) for k in range(40)]
    for k, item in enumerate(odd):
        rows.insert(3 + 2 * k % len(rows), item)
    out = []
    for item in rows:
        if isinstance(item, str):
            out.append(item)
        else:  # non-ASCII as is, but a lone surrogate as its escape (as JSON allows)
            line = json.dumps(item, ensure_ascii=False)
            out.append(line if line.isascii() or _encodable(line) else json.dumps(item))
    return out


def _encodable(line: str) -> bool:
    try:
        line.encode()
    except UnicodeEncodeError:
        return False
    return True


def stored(engine: Engine) -> dict[str, list]:
    with engine.connect() as conn:
        return {name: [tuple(r) for r in conn.execute(text(q))] for name, q in TABLES.items()}


@pytest.fixture(params=["sqlite", "postgresql"])
def two_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two empty databases of one kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'one.db'}", f"sqlite:///{tmp_path / 'two.db'}"
        return
    admin = request.getfixturevalue("pg_admin")
    urls = (_create_pg_database(admin), _create_pg_database(admin))
    try:
        yield urls
    finally:
        for url in urls:
            _drop_pg_database(admin, url)


@pytest.mark.parametrize("batch", [7, 2000])
def test_columnar_import_stores_what_the_precise_path_stores(
    two_urls: tuple[str, str], tmp_path: Path, batch: int
) -> None:
    path = tmp_path / "battles.jsonl"
    path.write_text("\n".join(lines()) + "\n", encoding="utf-8")
    results, reports = [], []
    for columnar, url in zip((False, True), two_urls, strict=True):
        engine = make_engine(url)
        migrate(engine)
        try:
            report = import_file(engine, path, columnar=columnar, workers=0, batch_size=batch)
            results.append(stored(engine))
            reports.append(report.as_dict())
        finally:
            engine.dispose()
    precise, columnar_ = results
    for name in TABLES:
        assert columnar_[name] == precise[name], name
    assert reports[1] == reports[0]
    report = reports[0]
    # 40 plain rows and 48 others: 15 refused (each with its own reason), 2 repeated ids,
    # 2 flagged by moderation (the project's flag, OpenAI's verdict).
    assert (report["rows"], report["imported"]) == (88, 71)
    assert (report["refused"], report["duplicates"]) == (15, 2)
    assert len(report["refusals"]) == 15 and report["flagged"] == {"moderation": 2}
    assert len(precise["categories"]) > 40  # the export's categories were stored


def test_plain_block_goes_columnar_and_an_odd_row_goes_the_precise_way() -> None:
    plain = [json.dumps(export_row(k), ensure_ascii=False).encode() for k in range(5)]
    odd = json.dumps(export_row(9, model_a=" x "), ensure_ascii=False).encode()
    block = check_block(list(enumerate([*plain, odd], 1)), "sqlite", "fastchat")
    assert block.battles is not None and block.battles.num_rows == 5
    assert [row.where for row in block.others] == [6]
    assert block.others[0].model_a == "x"
    # A value of another type: the whole block the precise way.
    other = json.dumps(export_row(8, turn="2"), ensure_ascii=False).encode()
    block = check_block(list(enumerate([*plain, other], 1)), "sqlite", "fastchat")
    assert block.battles is None and len(block.others) == 6


def test_schema_names_every_column_of_the_export() -> None:
    from arena.export import COLUMNS

    assert set(COLUMNS) <= set(SCHEMA.names) | {"question_id"}
