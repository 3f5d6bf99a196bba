"""Export of the votes: the three formats on SQLite and PostgreSQL, read back by pandas
and pyarrow; each answer's normalised finish reason (and no raw reason or reasoning text);
pseudonymisation (no IP, IP hash or voter token in any output); CSV formula
neutralisation; the manifest; the filters; the CLI; the finish reasons through an import;
and the round trip through ``python -m ratings fit`` against the stored rating run.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from arena.dataset import conv_metadata, estimate_tokens, with_conv_metadata
from arena.db.models import (
    Battle,
    BattleCategory,
    BattleMode,
    BattleStatus,
    Message,
    Model,
    Reaction,
    Side,
    Vote,
    Voter,
    VoteReason,
)
from arena.export import (
    COLUMNS,
    MESSAGE_KEYS,
    ExportError,
    ExportOptions,
    export,
    manifest_path,
    parse_moment,
    pseudonym,
)
from tests.conftest import python

ROOT = Path(__file__).resolve().parents[1]
SALT = "test-export-salt-0123456789abcdef"
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
ANCHOR = "Tanuki-8B-dpo-v1.0"
#: Stored beside some answers; never in an export.
REASONING = "思考の過程 secret-reasoning-text"
RAW_FINISH = "raw-provider-max-tokens"


@dataclass
class Seeded:
    """What :func:`seed` put in the database, to compare exports against."""

    tokens: list[str] = field(default_factory=list)
    ip_hashes: list[str] = field(default_factory=list)
    counted: dict[str, dict] = field(default_factory=dict)  # battle id -> expected row
    named: set[str] = field(default_factory=set)
    flagged: set[str] = field(default_factory=set)
    voided: set[str] = field(default_factory=set)
    uncounted: set[str] = field(default_factory=set)  # failed, unvoted, direct


def _battle(
    s: Session,
    seeded: Seeded,
    voter: Voter,
    a: Model,
    b: Model | None,
    at: datetime,
    *,
    winner: str | None = "model_a",
    mode: BattleMode = BattleMode.ANONY,
    status: BattleStatus = BattleStatus.VOTED,
    flag: bool = False,
    voided: bool = False,
    turns: int = 2,
    text: str = "",
    finish: dict[tuple[str, int], str | None] | None = None,
    feedback: dict | None = None,
) -> str:
    """One battle; ``finish`` gives the stored finish reason of (side, turn) answers that
    did not end with ``stop`` (None: an answer stored before finish reasons were kept);
    ``feedback``: the volunteer's ``reasons`` ({side: [tag, ...]}), ``comment``,
    ``reactions`` ([(turn, side, value)]) and the battle's ``prompt_source``."""
    feedback = feedback or {}
    bid = hashlib.md5(f"{voter.token}{at.isoformat()}{a.name}".encode()).hexdigest()
    battle = Battle(
        id=bid, voter_id=voter.id, model_a_id=a.id, model_b_id=b.id if b else None,
        mode=mode, status=status, language="ja", turns=turns, flag_identity=flag,
        created_at=at - timedelta(seconds=30), ready_at=at - timedelta(seconds=5),
        prompt_source=feedback.get("prompt_source"), prompt_language="ja",
    )  # fmt: skip
    s.add(battle)
    tags = ["multi_turn"] if turns > 1 else []  # as arena.categories would tag it
    s.add_all(BattleCategory(battle_id=bid, category=c) for c in tags)
    conv: dict[str, list[dict]] = {"a": [], "b": []}
    stored: list[Message] = []
    for turn in range(1, turns + 1):
        for side in (Side.A, Side.B) if b else (Side.A,):
            prompt = f"質問 {turn} {text}"
            answer = f"{side.value} の答え {turn}: {text}"
            why = (finish or {}).get((side.value, turn), "stop")
            stored.append(Message(battle_id=bid, side=side, turn=turn, role="user", content=prompt))
            stored.append(
                Message(battle_id=bid, side=side, turn=turn, role="assistant", content=answer,
                        latency_ms=900, ttft_ms=120, completion_tokens=12, finish_reason=why,
                        finish_raw=RAW_FINISH if why == "length" else why,
                        reasoning=REASONING)
            )  # fmt: skip
            s.add_all(stored[-2:])
            conv[side.value] += [
                {"role": "user", "content": prompt, "finish_reason": None,
                 "num_tokens": estimate_tokens(prompt)},
                {"role": "assistant", "content": answer, "finish_reason": why, "num_tokens": 12},
            ]  # fmt: skip
    if int(bid, 16) % 2:  # as the arena keeps it since it does (the others: counted at export)
        battle.meta = with_conv_metadata(None, stored)
    if winner is not None:
        s.add(
            Vote(battle_id=bid, voter_id=voter.id, winner=winner, seconds_to_vote=5.0,
                 created_at=at, voided=voided, void_reason="spam" if voided else None,
                 comment=feedback.get("comment"))
        )  # fmt: skip
    s.flush()
    reasons = feedback.get("reasons", {})
    for side in ("a", "b"):
        s.add_all(VoteReason(battle_id=bid, side=side, tag=t) for t in reasons.get(side, ()))
        s.flush()  # ids in the order given: the export keeps it
    reactions = feedback.get("reactions", [])
    s.add_all(Reaction(battle_id=bid, turn=t, side=side, value=v) for t, side, v in reactions)
    s.flush()
    row = {
        "question_id": bid, "model_a": a.name, "model_b": b.name if b else None,
        "winner": winner, "judge": pseudonym(voter.token, SALT), "conversation_a": conv["a"],
        "conversation_b": conv["b"], "turn": turns, "anony": mode is BattleMode.ANONY,
        "language": "Japanese", "tstamp": at.timestamp(),
        "conv_metadata": conv_metadata(conv["a"], conv["b"]), "category_tag": None,
        "flags": ["identity"] if flag else [], "metadata": {},
        "reasons_a": reasons.get("a", []), "reasons_b": reasons.get("b", []),
        "comment": feedback.get("comment"),
        "reactions": [{"turn": t, "side": side, "value": v}
                      for t, side, v in sorted(reactions, key=lambda r: r[:2])],
        "prompt_source": feedback.get("prompt_source"),
        "prompt_language": "Japanese", "categories": tags,
    }  # fmt: skip
    if winner is None or status is BattleStatus.FAILED or b is None:
        seeded.uncounted.add(bid)
    elif voided:
        seeded.voided.add(bid)
    elif flag:
        seeded.flagged.add(bid)
    elif mode is BattleMode.NAMED:
        seeded.named.add(bid)
    else:
        seeded.counted[bid] = row
    return bid


#: The volunteer's feedback on the first seeded battle (a comment a spreadsheet would run).
FEEDBACK = {
    "reasons": {"a": ["useful", "natural_japanese"], "b": ["incorrect", "mixed_languages"]},
    "comment": "=1+1 と書いた A が自然。\n改行も",
    "reactions": [(2, "b", -1), (1, "a", 1), (1, "b", 1)],
    "prompt_source": "example:business_email",
}


def seed(engine: Engine, n_random: int = 0, rng_seed: int = 7) -> Seeded:
    """A small arena: four models (two with formula-like names), voters with IP hashes,
    counted, named, flagged, voided, failed, unvoted and direct battles; plus
    ``n_random`` random counted votes among the models."""
    seeded = Seeded()
    with Session(engine) as s, s.begin():
        models = [
            Model(name=n, provider="demo", weights="open", description="", enabled=True)
            for n in (ANCHOR, '=HYPERLINK("http://x")', "@Evil-Model", "Plain-7B")
        ]
        s.add_all(models)
        voters = []
        for k in range(4):
            token = hashlib.sha256(f"voter-token-{k}".encode()).hexdigest()[:32]
            ip_hash = hashlib.sha256(f"ip-{k}".encode()).hexdigest()
            voters.append(Voter(token=token, ip_hash=ip_hash))
            seeded.tokens.append(token)
            seeded.ip_hashes.append(ip_hash)
        s.add_all(voters)
        s.flush()
        m0, m1, m2, m3 = models
        v0, v1, v2, v3 = voters
        _battle(s, seeded, v0, m0, m1, T0, winner="model_a", text="=1+1", feedback=FEEDBACK)
        _battle(s, seeded, v1, m2, m0, T0 + timedelta(days=1), winner="tie (bothbad)",
                finish={("b", 2): "length", ("a", 1): "content_filter"})  # fmt: skip
        _battle(s, seeded, v2, m3, m1, T0 + timedelta(days=2), winner="tie", turns=1,
                finish={("a", 1): None})  # fmt: skip
        _battle(s, seeded, v3, m1, m3, T0 + timedelta(days=3), winner="model_b")
        _battle(s, seeded, v0, m0, m3, T0 + timedelta(days=4), mode=BattleMode.NAMED)
        _battle(s, seeded, v1, m0, m2, T0 + timedelta(days=5), flag=True)
        _battle(s, seeded, v2, m3, m2, T0 + timedelta(days=6), voided=True)
        _battle(s, seeded, v3, m0, m1, T0 + timedelta(days=7), winner=None,
                status=BattleStatus.READY)  # fmt: skip
        _battle(s, seeded, v3, m2, m3, T0 + timedelta(days=8), winner=None,
                status=BattleStatus.FAILED)  # fmt: skip
        _battle(s, seeded, v0, m0, None, T0 + timedelta(days=9), winner=None,
                mode=BattleMode.DIRECT, status=BattleStatus.READY)  # fmt: skip
        rng = random.Random(rng_seed)
        strength = [0.0, -0.4, 0.3, 0.8]
        for k in range(n_random):
            i, j = rng.sample(range(4), 2)
            p = 1 / (1 + 10 ** (strength[j] - strength[i]))
            u = rng.random()
            winner = "tie" if u < 0.1 else ("model_a" if u < 0.1 + 0.9 * p else "model_b")
            at = T0 + timedelta(days=10, minutes=k)
            _battle(s, seeded, voters[k % 4], models[i], models[j], at, winner=winner, turns=1)
    return seeded


# -- exporting ----------------------------------------------------------------------


def _export(engine: Engine, tmp: Path, fmt: str, **opts: object) -> tuple[Path, dict]:
    out = tmp / f"votes.{fmt}"  # the same file again and again: replaced with force
    manifest = export(engine, out, fmt, ExportOptions(**opts), SALT, chunk=2, force=True)
    return out, manifest


def _frame(path: Path, fmt: str) -> pd.DataFrame:
    if fmt == "jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    if fmt == "parquet":
        return pd.read_parquet(path)
    if fmt == "json":
        return pd.read_json(path, dtype=False)
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    nested = ("conversation_a", "conversation_b", "conv_metadata", "flags", "metadata",
              "reasons_a", "reasons_b", "reactions", "categories")  # fmt: skip
    for col in nested:
        if col in df:
            df[col] = df[col].map(lambda cell: json.loads(cell) if cell else None)
    for col in ("comment", "prompt_source", "prompt_language"):
        if col in df:
            df[col] = df[col].map(lambda cell: cell or None)
    df["category_tag"] = df["category_tag"].map(lambda cell: json.loads(cell) if cell else None)
    df["turn"] = df["turn"].astype(int)
    df["tstamp"] = df["tstamp"].astype(float)
    df["anony"] = df["anony"].map({"true": True, "false": False})
    for col in ("model_a", "model_b", "comment"):
        if col in df:
            df[col] = df[col].str.replace(r"^'(?=[=+\-@\t\r])", "", regex=True)
    return df


def _records(df: pd.DataFrame) -> dict[str, dict]:
    out = {}
    for rec in df.to_dict("records"):
        for col in ("conversation_a", "conversation_b"):
            if col in rec:  # every key, in order (parquet gives numpy arrays of dicts)
                rec[col] = [dict(m.items()) for m in rec[col]]
        rec["turn"] = int(rec["turn"])
        rec["anony"] = bool(rec["anony"])
        for col in ("category_tag", "metadata"):  # Parquet: JSON text; pandas: NaN for null
            value = rec.get(col)
            value = json.loads(value) if isinstance(value, str) else value
            rec[col] = None if isinstance(value, float) else value
        for col in ("flags", "reasons_a", "reasons_b", "categories"):
            if col in rec:
                rec[col] = list(rec[col])
        if "reactions" in rec:  # every key, in order
            rec["reactions"] = [dict(r.items()) for r in rec["reactions"]]
        for col in ("comment", "prompt_source", "prompt_language"):  # pandas: NaN for null
            if col in rec and isinstance(rec[col], float):
                rec[col] = None
        out[rec["question_id"]] = rec
    return out


def _same(got: dict[str, dict], want: dict[str, dict]) -> None:
    assert set(got) == set(want)
    for bid, row in want.items():
        g = got[bid]
        assert list(g) == list(COLUMNS)
        for col in COLUMNS:
            if col == "tstamp":
                assert g[col] == pytest.approx(row[col], abs=1e-3)
            else:
                assert g[col] == row[col], (bid, col)


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
def test_export_matches_database(engine: Engine, tmp_path: Path, fmt: str) -> None:
    seeded = seed(engine)
    out, manifest = _export(engine, tmp_path, fmt)
    _same(_records(_frame(out, fmt)), seeded.counted)
    assert manifest["rows"] == len(seeded.counted) == 4
    assert manifest["counts"]["winner"] == {
        "model_a": 1,
        "model_b": 1,
        "tie": 1,
        "tie (bothbad)": 1,
    }
    assert manifest["columns"] == list(COLUMNS)
    # Stable order: by vote time.
    assert list(_frame(out, fmt)["question_id"]) == list(seeded.counted)


def test_jsonl_lines_are_public_schema(engine: Engine, tmp_path: Path) -> None:
    seed(engine)
    out, _ = _export(engine, tmp_path, "jsonl")
    reasons: dict[str, set] = {"user": set(), "assistant": set()}
    for line in out.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        assert list(row) == list(COLUMNS)
        assert isinstance(row["tstamp"], float) and isinstance(row["anony"], bool)
        assert row["judge"].startswith("arena_user_") and len(row["judge"]) == 35
        for m in row["conversation_a"] + row["conversation_b"]:
            assert tuple(m) == MESSAGE_KEYS == ("role", "content", "finish_reason", "num_tokens")
            reasons[m["role"]].add(m["finish_reason"])
    assert "の答え" in out.read_text(encoding="utf-8")  # UTF-8, not \\u escapes
    # Normalised reasons on answers (null where none was stored), never on prompts.
    assert reasons == {"user": {None}, "assistant": {"stop", "length", "content_filter", None}}


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_truncated_answers_can_be_filtered(engine: Engine, tmp_path: Path, fmt: str) -> None:
    seeded = seed(engine)
    out, _ = _export(engine, tmp_path, fmt, include_named=True, include_flagged=True,
                     include_voided=True)  # fmt: skip
    df = _frame(out, fmt)

    def truncated(conv: list) -> bool:
        return any(m["finish_reason"] == "length" for m in conv)

    cut = df["conversation_a"].map(truncated) | df["conversation_b"].map(truncated)
    assert list(df[cut]["question_id"]) == [list(seeded.counted)[1]]
    assert len(df[~cut]) == len(df) - 1
    # What the provider called it, and what the model thought, stay in the database.
    data = out.read_bytes()
    assert RAW_FINISH.encode() not in data and "思考の過程".encode() not in data
    assert b"secret-reasoning-text" not in data and b"finish_raw" not in data


TRICKY = 'quote " back \\ nl \n tab \t cr \r ctl \x01\x1f del \x7f 😀 \u2028 </script> é'


def test_jsonl_is_exactly_what_json_dumps_writes(engine: Engine, tmp_path: Path) -> None:
    seeded = seed(engine)
    with Session(engine) as s, s.begin():
        for m in s.scalars(select(Message)):
            m.content = TRICKY + m.content
    out, _ = _export(engine, tmp_path, "jsonl")
    lines = out.read_text(encoding="utf-8").split("\n")
    assert lines.pop() == "" and len(lines) == len(seeded.counted)
    for line in lines:
        row = json.loads(line)
        assert json.dumps(row, ensure_ascii=False, separators=(",", ":")) == line
        assert row["conversation_a"][0]["content"].startswith(TRICKY)
    for fmt in ("csv", "parquet"):
        got = _records(_frame(_export(engine, tmp_path, fmt)[0], fmt))
        assert all(r["conversation_b"][1]["content"].startswith(TRICKY) for r in got.values())


def test_parquet_schema_and_row_groups(engine: Engine, tmp_path: Path) -> None:
    seed(engine, n_random=30)
    out = tmp_path / "v.parquet"
    from arena import export as ex

    manifest = export(engine, out, "parquet", ExportOptions(), SALT)
    table = pq.read_table(out)
    assert table.num_rows == manifest["rows"] == 34
    conv = table.schema.field("conversation_a").type
    assert pa.types.is_list(conv)
    assert conv.value_type == pa.struct(
        [("role", pa.string()), ("content", pa.string()), ("finish_reason", pa.string()),
         ("num_tokens", pa.int64())]
    )  # fmt: skip
    style = table.schema.field("conv_metadata").type
    assert style.field("header_count_a").type == pa.struct(
        [(f"h{k}", pa.int64()) for k in range(1, 7)]
    )
    assert style.field("bold_count_b").type == pa.struct([("**", pa.int64()), ("__", pa.int64())])
    assert table.schema.field("tstamp").type == pa.float64()
    assert table.schema.field("anony").type == pa.bool_()
    # Small row groups when asked: the writer flushes per group.
    with (tmp_path / "g.parquet").open("wb") as f:
        writer = ex.ParquetWriter(f, COLUMNS, group=10)
        for row in table.to_pylist():
            writer.write(tuple(row[c] for c in COLUMNS))
        writer.finish()
    assert pq.ParquetFile(tmp_path / "g.parquet").num_row_groups == 4


def test_csv_neutralises_formulas(engine: Engine, tmp_path: Path) -> None:
    seed(engine)
    out, _ = _export(engine, tmp_path, "csv")
    import csv

    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == list(COLUMNS)
    cells = [c for r in rows[1:] for c in r]
    assert '\'=HYPERLINK("http://x")' in cells and "'@Evil-Model" in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_no_ip_hash_or_token_in_any_output(engine: Engine, tmp_path: Path) -> None:
    seeded = seed(engine)
    secrets_ = seeded.tokens + seeded.ip_hashes + [REASONING, RAW_FINISH]
    for fmt in ("jsonl", "csv", "parquet"):
        opts = {"include_named": True, "include_flagged": True, "include_voided": True}
        out, _ = _export(engine, tmp_path, fmt, **opts)
        for path in (out, manifest_path(out)):
            data = path.read_bytes()
            for secret in secrets_:
                assert secret.encode() not in data, (path.name, secret)
            assert SALT.encode() not in data


def test_manifest(engine: Engine, tmp_path: Path) -> None:
    seed(engine)
    since = parse_moment("2026-11-02")
    out, manifest = _export(engine, tmp_path, "jsonl", since=since, include_named=True)
    on_disk = json.loads(manifest_path(out).read_text(encoding="utf-8"))
    assert on_disk == manifest
    assert manifest["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert manifest["bytes"] == out.stat().st_size
    assert manifest["rows"] == len(out.read_text(encoding="utf-8").splitlines()) == 4
    assert manifest["schema_version"] == 5 and manifest["format"] == "jsonl"
    assert manifest["filters"]["since"] == "2026-11-02T00:00:00+00:00"
    assert manifest["filters"]["include_named"] is True
    assert manifest["tool"] == {"name": "tanuki-arena", "version": "0.1.0"}
    assert manifest["database"] == engine.dialect.name
    assert manifest["counts"]["named"] == 1
    assert datetime.fromisoformat(manifest["created_at"]).tzinfo is not None
    assert not list(tmp_path.glob("*.partial")) and not list(tmp_path.glob(".arena-export-*"))
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("votes")) == [
        "votes.jsonl",
        "votes.jsonl.manifest.json",
    ]


def test_dataset_card_beside_the_export(engine: Engine, tmp_path: Path) -> None:
    """README.md: Hugging Face front matter with the license, the file, counts, the date
    range, what was left out (with counts), the columns; refused if there, unless force."""
    seed(engine)
    card = tmp_path / "README.md"
    out = tmp_path / "votes.parquet"
    manifest = export(engine, out, "parquet", ExportOptions(), SALT, card=card,
                      license_id="cc-by-4.0")  # fmt: skip
    text = card.read_text(encoding="utf-8")
    front, body = text.split("---\n")[1], text.split("---\n", 2)[2]
    assert "license: cc-by-4.0" in front and "path: votes.parquet" in front
    assert "size_categories:\n- n<1K" in front
    assert manifest["card"] == "README.md"
    assert f"SHA-256 `{manifest['sha256']}`" in body
    assert "Rows: 4 (anonymous 4, named 0)" in body
    assert "Votes from 2026-11-01 09:00 UTC to 2026-11-04 09:00 UTC" in body
    assert "- named-mode battles: left out (1)" in body
    assert "- flagged battles (identity, moderation): left out (1)" in body
    assert "- voided votes: left out (1)" in body
    assert "| conv_metadata | object |" in body and "| Plain-7B | 2 |" in body
    assert "Languages: Japanese" in body
    # A later export into the folder replaces its own card, never someone else's README.
    export(engine, tmp_path / "other.jsonl", "jsonl", ExportOptions(include_named=True), SALT,
           card=card)  # fmt: skip
    text = card.read_text(encoding="utf-8")
    assert "license: unknown" in text and "- named-mode battles: included" in text
    card.write_text("# My project\n", encoding="utf-8")
    with pytest.raises(ExportError, match="already exists"):
        export(engine, tmp_path / "third.jsonl", "jsonl", ExportOptions(), SALT, card=card)
    assert not (tmp_path / "third.jsonl").exists()
    assert card.read_text(encoding="utf-8") == "# My project\n"


def test_filters(engine: Engine, tmp_path: Path) -> None:
    seeded = seed(engine)

    def ids(**opts: object) -> set[str]:
        out, _ = _export(engine, tmp_path, "jsonl", **opts)
        return {json.loads(x)["question_id"] for x in out.read_text().splitlines()}

    counted = set(seeded.counted)
    assert ids() == counted
    assert ids(include_named=True) == counted | seeded.named
    assert ids(include_flagged=True) == counted | seeded.flagged
    assert ids(include_voided=True) == counted | seeded.voided
    everything = counted | seeded.named | seeded.flagged | seeded.voided
    assert ids(include_named=True, include_flagged=True, include_voided=True) == everything
    first_two = set(list(seeded.counted)[:2])
    assert ids(until=parse_moment("2026-11-02", end=True)) == first_two
    assert ids(since=parse_moment("2026-11-03"), until=parse_moment("2026-11-04")) == set(
        list(seeded.counted)[2:3]
    )
    assert ids(models=(ANCHOR, "@Evil-Model")) == {list(seeded.counted)[1]}
    out, manifest = _export(engine, tmp_path, "jsonl", conversations=False)
    first = json.loads(out.read_text().splitlines()[0])
    # Without conversations, the comment (free text typed by a volunteer) goes too.
    assert "conversation_a" not in first and "comment" not in first
    assert manifest["columns"] == [
        c for c in COLUMNS if not c.startswith("conversation") and c != "comment"
    ]
    assert first["reasons_a"] == FEEDBACK["reasons"]["a"]
    with pytest.raises(ExportError, match="unknown model"):
        _export(engine, tmp_path, "jsonl", models=("nope",))


def test_pseudonyms_stable_per_salt(engine: Engine, tmp_path: Path) -> None:
    seeded = seed(engine)
    a = export(engine, tmp_path / "a.jsonl", "jsonl", ExportOptions(), SALT)
    b = export(engine, tmp_path / "b.jsonl", "jsonl", ExportOptions(), SALT)
    assert a["sha256"] == b["sha256"]
    export(engine, tmp_path / "c.jsonl", "jsonl", ExportOptions(), "another-salt-0123456789")
    judges_a = {json.loads(x)["judge"] for x in (tmp_path / "a.jsonl").read_text().splitlines()}
    judges_c = {json.loads(x)["judge"] for x in (tmp_path / "c.jsonl").read_text().splitlines()}
    assert judges_a == {pseudonym(t, SALT) for t in seeded.tokens}
    assert not judges_a & judges_c


def test_refuses_without_salt(engine: Engine, tmp_path: Path) -> None:
    seed(engine)
    for salt in ("", "short"):
        with pytest.raises(ExportError, match="ARENA_EXPORT_SALT"):
            export(engine, tmp_path / "x.jsonl", "jsonl", ExportOptions(), salt)
    assert not list(tmp_path.glob("x.jsonl*"))


def test_chunking_does_not_change_output(engine: Engine, tmp_path: Path) -> None:
    seed(engine, n_random=25)
    digests = {
        export(engine, tmp_path / f"c{n}.jsonl", "jsonl", ExportOptions(), SALT, chunk=n)["sha256"]
        for n in (1, 3, 7, 1000)
    }
    assert len(digests) == 1


# -- the command line ---------------------------------------------------------------


def _cli(*args: str, url: str, salt: str = SALT) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "ARENA_EXPORT_SALT": salt, "USER": "tester"}
    env.pop("ARENA_CONFIG", None)
    return python(["-m", "arena", *args], cwd=ROOT, env=env)


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_cli_export(engine: Engine, tmp_path: Path) -> None:
    seeded = seed(engine)
    url = _url(engine)
    for fmt in ("jsonl", "csv", "parquet"):
        out = tmp_path / f"cli.{fmt}"
        r = _cli("export", "--format", fmt, "--out", str(out), "--progress", url=url)
        assert r.returncode == 0, r.stderr
        assert "4/4 rows" in r.stderr and "100%" in r.stderr
        assert r.stderr.splitlines()[-1].startswith(f"4 rows -> {out} (sha256 ")
        _same(_records(_frame(out, fmt)), seeded.counted)
        manifest = json.loads(manifest_path(out).read_text())
        assert manifest["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    out = tmp_path / "f.jsonl"
    r = _cli(
        "export", "--format", "jsonl", "--out", str(out), "--since", "2026-11-02",
        "--until", "2026-11-04", "--models", f"{ANCHOR},@Evil-Model,Plain-7B,=HYPERLINK(\"http://x\")",
        "--include-named", "--include-flagged", "--no-conversations", url=url,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert len(out.read_text().splitlines()) == 3
    r = _cli(
        "export", "--format", "jsonl", "--out", str(tmp_path / "n.jsonl"), url=url, salt="short"
    )
    assert r.returncode == 2 and "ARENA_EXPORT_SALT" in r.stderr
    assert not (tmp_path / "n.jsonl").exists()
    from arena.db.models import AuditLog

    with Session(engine) as s:
        rows = s.scalars(select(AuditLog).where(AuditLog.action == "export")).all()
    assert len(rows) == 4 and all(r.actor.startswith("cli:") for r in rows)


# -- the finish reasons through an import --------------------------------------------


def test_import_stores_exported_finish_reasons(engine: Engine, tmp_path: Path) -> None:
    from arena.db import make_engine, migrate
    from arena.importer import import_file

    seed(engine)
    out, _ = _export(engine, tmp_path, "jsonl")
    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        migrate(other)
        report = import_file(other, out)
        assert report.imported == report.rows == 4 and not report.refused
        exported = [json.loads(x)["question_id"] for x in out.read_text().splitlines()]

        def stored(e: Engine) -> list[tuple]:
            with Session(e) as s:
                q = select(
                    Message.battle_id,
                    Message.side,
                    Message.turn,
                    Message.role,
                    Message.finish_reason,
                ).where(Message.battle_id.in_(exported))
                return sorted(tuple(r) for r in s.execute(q))  # fmt: skip

        assert stored(other) == stored(engine)
        assert {r[4] for r in stored(other)} == {None, "stop", "length", "content_filter"}
    finally:
        other.dispose()


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ({"role": "assistant", "content": "x", "finish_reason": "end_turn"},
         "conversation_a[1].finish_reason must be null or one of aborted, content_filter"),
        ({"role": "assistant", "content": "x", "finish_reason": ["stop"]},
         "conversation_a[1].finish_reason must be null or one of"),
        ({"role": "user", "content": "x", "finish_reason": "stop"},
         "conversation_a[1].finish_reason must be null for a user message"),
    ],
)  # fmt: skip
def test_import_refuses_unknown_finish_reason(message: dict, problem: str) -> None:
    from arena.import_rows import RowError, validate

    prompt = {"role": "user", "content": "q"}
    row = {"question_id": "q1", "model_a": "A", "model_b": "B", "winner": "tie",
           "tstamp": 1.7e9, "conversation_a": [prompt, message]}  # fmt: skip
    with pytest.raises(RowError, match=re.escape(problem)):
        validate(1, row)
    ok = {**message, "role": "assistant", "finish_reason": "length"}
    assert validate(1, {**row, "conversation_a": [prompt, ok]}).turns == 1


# -- the round trip through python -m ratings fit ------------------------------------


def test_round_trip_ratings_fit_matches_recompute(engine: Engine, tmp_path: Path) -> None:
    from arena.recompute import recompute

    seed(engine, n_random=400)
    run = recompute(engine, anchor=ANCHOR)  # returned with its ratings loaded
    out = tmp_path / "rt.jsonl"
    r = _cli("export", "--format", "jsonl", "--out", str(out), url=_url(engine))
    assert r.returncode == 0, r.stderr
    fit = subprocess.run(
        [sys.executable, "-m", "ratings", "fit", str(out), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert fit.returncode == 0, fit.stderr
    fitted = {row["model"]: row for row in json.loads(fit.stdout)}
    stored = {r.model: r for r in run.ratings}
    assert set(fitted) == set(stored) and len(stored) == 4
    for model, row in stored.items():
        assert fitted[model]["rating"] == pytest.approx(row.rating, abs=0.01), model
        assert fitted[model]["battles"] == row.battles
        assert fitted[model]["wins"] == row.wins
    assert run.votes_used == len(out.read_text().splitlines())
