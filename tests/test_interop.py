"""Vote data in and out for the field's tools (issue 14).

Golden files of every published layout, written by hand from the published schema
descriptions (tests/golden/interop/README.md), go through the import (what each row
became, on SQLite and PostgreSQL), an export, a second import and a second export, which
must give the same rows; ``python -m ratings fit`` reads them too. FastChat's published
analysis, written here from its description (MLE Elo as a logistic regression; the style
control's features; the long-conversation filter), runs on an export and agrees with
``python -m ratings fit``.
"""

from __future__ import annotations

import io
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.optimize import minimize
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from arena.dataset import conv_metadata
from arena.db import make_engine, migrate
from arena.db.models import Battle, BattleMode, Side, Voter, Winner
from arena.export import ExportOptions, export
from arena.feedback import give_reasons, react
from arena.importer import ImportFailed, import_file
from ratings.battlefile import BattleFileError
from ratings.cli import main as ratings_main
from ratings.io import read_outcomes
from tests import test_battles
from tests.conftest import python
from tests.test_battles import ALICE, play
from tests.test_export import ANCHOR, SALT, seed

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "interop"
EVERYTHING = ExportOptions(include_named=True, include_flagged=True)
#: Rating points within which FastChat's MLE (from its description) and ours agree.
AGREE = 0.01

#: file -> (layout, rows, imported, refused, flagged by kind)
FILES = {
    "fastchat_clean_battle.json": ("fastchat", 7, 7, 0, {}),
    "chatbot_arena_conversations.jsonl": ("fastchat", 4, 4, 0, {"moderation": 1, "toxic_chat": 2}),
    "lmarena_140k.jsonl": ("lmarena", 3, 3, 0, {}),
    "lmarena_100k.csv": ("lmarena", 3, 3, 0, {}),
    "comparia_votes.jsonl": ("comparia", 4, 3, 1, {}),
}


def _second_db(tmp_path: Path, name: str) -> Engine:
    other = make_engine(f"sqlite:///{tmp_path / name}")
    migrate(other)
    return other


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("name", list(FILES))
def test_golden_file_round_trip(engine: Engine, tmp_path: Path, name: str) -> None:
    layout, rows, imported, refused, flagged = FILES[name]
    report = import_file(engine, GOLDEN / name)
    assert (report.schema, report.rows, report.imported, report.refused) == (
        layout, rows, imported, refused,
    )  # fmt: skip
    assert dict(report.flagged) == flagged and report.committed
    first = tmp_path / "first.jsonl"
    assert export(engine, first, "jsonl", EVERYTHING, SALT)["rows"] == imported

    other = _second_db(tmp_path, "second.db")
    try:
        again = import_file(other, first)
        assert (again.schema, again.imported, again.refused) == ("fastchat", imported, 0)
        assert dict(again.flagged) == flagged
        second = tmp_path / "second.jsonl"
        export(other, second, "jsonl", EVERYTHING, SALT)
    finally:
        other.dispose()
    a, b = _rows(first), _rows(second)
    assert [{**r, "judge": None} for r in a] == [{**r, "judge": None} for r in b]
    # Judges keep their grouping: one new pseudonym per original judge.
    pairs = {(x["judge"], y["judge"]) for x, y in zip(a, b, strict=True)}
    assert len(pairs) == len({x for x, _ in pairs}) == len({y for _, y in pairs})
    # Importing the file again finds every battle, with or without ids of its own.
    assert import_file(engine, GOLDEN / name).duplicates == imported


def _battles(engine: Engine) -> dict[str, Battle]:
    with Session(engine, expire_on_commit=False) as s:
        found = s.scalars(select(Battle)).all()
        for battle in found:
            _ = battle.messages, battle.vote, battle.model_a.name, battle.model_b.name
        return {b.source_id or b.id: b for b in found}


def _meta(battle: Battle) -> dict:
    return json.loads(battle.meta) if battle.meta else {}


def test_fastchat_clean_battles_without_ids(engine: Engine) -> None:
    import_file(engine, GOLDEN / "fastchat_clean_battle.json")
    battles = _battles(engine)
    assert all(b.source_id is None and len(b.id) == 32 for b in battles.values())
    languages = sorted(b.language for b in battles.values())
    assert languages == ["Chinese", "English", "English", "English", "English", "German",
                         "unknown"]  # fmt: skip
    named = [b for b in battles.values() if b.mode is BattleMode.NAMED]
    assert [(b.model_a.name, b.model_b.name) for b in named] == [("chatglm-6b", "vicuna-13b")]
    with Session(engine) as s:
        judges = {v.judge for v in s.scalars(select(Voter))}
    assert judges == {"arena_user_973", "arena_user_22542", "arena_user_1000"}


def test_public_release_flags_and_metadata(engine: Engine) -> None:
    import_file(engine, GOLDEN / "chatbot_arena_conversations.jsonl")
    battles = _battles(engine)
    flags = {k: (b.flag_moderation, _meta(b).get("flags")) for k, b in battles.items()}
    assert flags == {
        "58210e39b3fd4441a2bd4a518bb44c2d": (False, None),
        "2564acd09e3942fd97657d05282d4389": (False, None),
        "f1e2d3c4b5a6978877665544332211aa": (True, ["moderation", "toxic_chat"]),
        "0a1b2c3d4e5f60718293a4b5c6d7e8f9": (True, ["toxic_chat"]),
    }
    kept = _meta(battles["f1e2d3c4b5a6978877665544332211aa"])["metadata"]
    assert kept["openai_moderation"]["categories"]["hate"] is True
    assert kept["toxic_chat_tag"]["t5-large"] == {"flagged": True, "score": 0.95}
    chinese = battles["0a1b2c3d4e5f60718293a4b5c6d7e8f9"]
    assert chinese.language == "Chinese" and chinese.turns == 2
    assert chinese.vote.winner.value == "tie (bothbad)"
    assert [m.turn for m in chinese.messages if m.side.value == "a"] == [1, 1, 2, 2]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_lmarena_140k_parts_tokens_both_bad(engine: Engine, tmp_path: Path, fmt: str) -> None:
    path = GOLDEN / "lmarena_140k.jsonl"
    if fmt == "parquet":  # the release's own format
        table = pa.Table.from_pylist(_rows(path))
        pq.write_table(table, tmp_path / "lmarena.parquet")
        path = tmp_path / "lmarena.parquet"
    report = import_file(engine, path)
    assert (report.schema, report.imported) == ("lmarena", 3)
    battles = _battles(engine)
    first = battles["b5c1e7a0-3f2d-4c8e-9a61-0d2f4e6b8a10"]
    answer = next(m for m in first.messages if m.side.value == "a" and m.role == "assistant")
    assert answer.content.startswith("## Recursion\n\n**Recursion**") and answer.num_tokens == 24
    meta = _meta(first)
    # The file's conv_metadata is kept as given, and exported the same.
    given = {r["id"]: r["conv_metadata"] for r in _rows(GOLDEN / "lmarena_140k.jsonl")}
    assert meta["conv_metadata"] == given[first.source_id]
    out = tmp_path / "again.jsonl"
    export(engine, out, "jsonl", EVERYTHING, SALT)
    assert {r["question_id"]: r["conv_metadata"] for r in _rows(out)} == given
    assert meta["category_tag"]["math_v0.1"] == {"math": False}
    assert meta["metadata"]["evaluation_session_id"].startswith("6f0e2a6c")
    assert meta["metadata"]["is_code"] is False and "full_conversation" not in meta["metadata"]
    assert first.language == "en"
    assert first.vote.created_at.replace(tzinfo=None).isoformat() == "2025-05-29T14:48:41.602925"
    polish = battles["c6d2f8b1-4a3e-4d9f-8b72-1e3a5f7c9b21"]
    assert polish.vote.winner.value == "tie (bothbad)" and polish.language == "pl"


def test_lmarena_100k_csv(engine: Engine) -> None:
    report = import_file(engine, GOLDEN / "lmarena_100k.csv")
    assert (report.schema, report.unit, report.imported) == ("lmarena", "line", 3)
    battles = _battles(engine)
    hamlet = battles["a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"]
    assert hamlet.id == "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
    assert _meta(hamlet)["conv_metadata"]["list_count_a"] == {"ordered": 2, "unordered": 0}
    assert _meta(hamlet)["metadata"]["dedup_tag"] == {"high_freq": False, "sampled": True}
    assert [m.num_tokens for m in hamlet.messages] == [8, 12, 8, 6]
    formula = battles["b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7"]
    assert formula.messages[0].content == "=1+1" and formula.language == "unknown"
    assert battles["c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8"].mode is BattleMode.NAMED
    with Session(engine) as s:
        assert {v.judge for v in s.scalars(select(Voter))} == {
            "5f1c9d0e2b7a4c3e", "9a8b7c6d5e4f3a2b",
        }  # fmt: skip


def test_comparia_votes(engine: Engine) -> None:
    report = import_file(engine, GOLDEN / "comparia_votes.jsonl")
    assert report.problems == [
        (4, "no vote: chosen_model_name is empty and both_equal is not true")
    ]
    battles = _battles(engine)
    won = battles["0f3c5a7e9b1d4f6a8c0e2a4b6d8f0a1c"]
    assert (won.model_a.name, won.vote.winner.value) == ("mistral-large-2411", "model_a")
    assert won.vote.created_at.timestamp() == pytest.approx(1732618800.123)
    system = [(m.side.value, m.turn, m.role) for m in won.messages if m.role == "system"]
    assert system == [("a", 0, "system"), ("b", 0, "system")]
    meta = _meta(won)["metadata"]
    assert meta["conv_incorrect_b"] is True and meta["selected_category"] == "culture"
    assert meta["model_pair_name"] == ["llama-3.1-405b", "mistral-large-2411"]
    assert battles["1a4d6b8f0c2e4a6b8d0f2a4c6e8a0b2d"].vote.winner.value == "tie"
    assert battles["1a4d6b8f0c2e4a6b8d0f2a4c6e8a0b2d"].turns == 2
    assert battles["2b5e7c9a1d3f5b7c9e1a3c5e7a9c1e3f"].vote.winner.value == "model_b"
    with Session(engine) as s:
        assert {v.judge for v in s.scalars(select(Voter))} == {"visiteur-42", "visiteur-7"}


def _fit(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return ratings_main(["fit", *args], out, err), out.getvalue(), err.getvalue()


def test_ratings_fit_reads_every_layout() -> None:
    """The fit's reader (bulk, or line by line where a row is bad) takes the same rows as
    the import, and leaves out named and flagged ones unless asked."""
    for name, (layout, _, imported, _, flagged) in FILES.items():
        path = GOLDEN / name
        if name == "comparia_votes.jsonl":  # a row without a vote stops a fit at its line
            with pytest.raises(BattleFileError, match="line 4: no vote"):
                read_outcomes(path)
            continue
        every = read_outcomes(path, include_named=True, include_flagged=True)
        assert (every.schema, len(every)) == (layout, imported), name
        assert every.flagged == (2 if flagged else 0), name  # one row has both flags
    release = read_outcomes(GOLDEN / "chatbot_arena_conversations.jsonl")
    assert (len(release), release.non_anonymous, release.flagged) == (2, 1, 2)
    code, _, err = _fit(str(GOLDEN / "chatbot_arena_conversations.jsonl"), "--json",
                        "--on-disconnected", "largest", "--anchor", "koala-13b")  # fmt: skip
    assert code == 0, err
    assert "1 row(s) with anony=false left out (--include-named keeps them)" in err
    assert "2 flagged row(s) (moderation, toxic chat) left out" in err
    forced = _fit(str(GOLDEN / "lmarena_100k.csv"), "--schema", "comparia")
    assert forced[0] == 2 and "missing model_a_name" in forced[2]


def test_a_file_of_refused_rows_fails(engine: Engine, tmp_path: Path) -> None:
    """Every row refused: exit 2 and nothing written (it used to report 'committed')."""
    rows = json.loads((GOLDEN / "fastchat_clean_battle.json").read_text(encoding="utf-8"))
    broken = tmp_path / "broken.jsonl"
    broken.write_text("".join(json.dumps({**r, "winner": "draw"}) + "\n" for r in rows))
    with pytest.raises(ImportFailed, match="every row \\(7\\) was refused"):
        import_file(engine, broken)
    env_url = engine.url.render_as_string(hide_password=False)
    r = python(["-m", "arena", "--database-url", env_url, "import", str(broken)],
               cwd=ROOT, env=os.environ)  # fmt: skip
    assert r.returncode == 2, r.stdout
    assert "nothing written (rolled back)" in r.stdout
    assert (
        "refused 7x: winner must be one of" in r.stderr
        and "(lines 1, 2, 3, 4, 5, 6, 7)" in r.stderr
    )
    with Session(engine) as s:
        assert s.scalars(select(Battle)).first() is None


# -- FastChat's analysis, written from its description ---------------------------------


def fastchat_mle_elo(df: pd.DataFrame, scale: float = 400, base: float = 10) -> dict[str, float]:
    """MLE Elo as FastChat describes it: a logistic regression without intercept on one
    row per battle (+log(base) for model_a, -log(base) for model_b; 1 when A won), the
    battles given twice so that a tie of either kind counts once as A's win and once as
    its loss; ratings = scale * coefficients (relative: the caller anchors them)."""
    models = sorted(set(df["model_a"]) | set(df["model_b"]))
    index = {m: k for k, m in enumerate(models)}
    a = df["model_a"].map(index).to_numpy()
    b = df["model_b"].map(index).to_numpy()
    won = (df["winner"] == "model_a").to_numpy(dtype=float)
    tie = df["winner"].isin(["tie", "tie (bothbad)"]).to_numpy()
    # Twice the battles: the first copy counts a tie as A's win, the second as its loss.
    a, b = np.concatenate([a, a]), np.concatenate([b, b])
    y = np.concatenate([np.where(tie, 1.0, won), won])
    x = np.zeros((a.size, len(models)))
    x[np.arange(a.size), a] = math.log(base)
    x[np.arange(a.size), b] = -math.log(base)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ w
        p = 1 / (1 + np.exp(-z))
        value = -np.sum(y * np.log(p) + (1 - y) * np.log1p(-p))
        return float(value), x.T @ (p - y)

    fit = minimize(loss, np.zeros(len(models)), jac=True, method="L-BFGS-B",
                   options={"gtol": 1e-10, "ftol": 1e-14, "maxiter": 10_000})  # fmt: skip
    return {m: scale * fit.x[k] for m, k in index.items()}


def style_features(df: pd.DataFrame) -> np.ndarray:
    """The style control's eight features as FastChat describes them: per side, the
    answer tokens and the header, list and bold counts (nested counts summed)."""
    keys = ["sum_assistant_a_tokens", "header_count_a", "list_count_a", "bold_count_a",
            "sum_assistant_b_tokens", "header_count_b", "list_count_b", "bold_count_b"]  # fmt: skip

    def value(meta: dict, key: str) -> float:
        v = meta[key]
        return float(sum(v.values()) if isinstance(v, dict) else v)

    return np.array([[value(m, k) for k in keys] for m in df["conv_metadata"]])


def long_conversation(row: pd.Series, threshold: int = 768) -> bool:
    """FastChat's long-conversation filter as described: either side's messages add up
    to ``threshold`` tokens or more (``num_tokens`` of every message)."""
    return any(
        sum(m["num_tokens"] for m in row[side]) >= threshold
        for side in ("conversation_a", "conversation_b")
    )


def test_fastchat_analysis_on_our_export_agrees_with_ratings_fit(
    engine: Engine, tmp_path: Path
) -> None:
    seed(engine, n_random=600)
    out = tmp_path / "votes.json"  # the JSON array FastChat's command line reads
    export(engine, out, "json", ExportOptions(include_named=True), SALT)
    df = pd.read_json(out)  # as FastChat reads it
    assert (~df["anony"]).sum() == 1  # a named battle, which both leave out
    battles = df[df["anony"]]
    theirs = fastchat_mle_elo(battles)
    code, text, err = _fit(str(out), "--json", "--prior", "0", "--anchor", ANCHOR)
    assert code == 0, err and "1 row(s) with anony=false left out" in err
    ours = {row["model"]: row["rating"] for row in json.loads(text)}
    assert set(ours) == set(theirs)
    for model in ours:  # both anchored at ANCHOR
        want = theirs[model] - theirs[ANCHOR] + ours[ANCHOR]
        assert ours[model] == pytest.approx(want, abs=AGREE), model
    features = style_features(battles)
    assert features.shape == (len(battles), 8) and (features[:, 0] > 0).all()
    assert not battles.apply(long_conversation, axis=1).any()
    first = battles.iloc[0]
    tokens = sum(m["num_tokens"] for m in first["conversation_a"] if m["role"] == "assistant")
    assert first["conv_metadata"]["sum_assistant_a_tokens"] == tokens


def test_csv_and_parquet_exports_read_back_for_a_fit(engine: Engine, tmp_path: Path) -> None:
    seed(engine, n_random=100)
    fitted = {}
    for fmt in ("jsonl", "json", "csv", "parquet"):
        out = tmp_path / f"votes.{fmt}"
        export(engine, out, fmt, ExportOptions(), SALT)
        code, text, err = _fit(str(out), "--json")
        assert code == 0, (fmt, err)
        fitted[fmt] = {
            row["model"]: {k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()}
            for row in json.loads(text)
        }  # the order of first appearance may differ: floating-point noise only
    assert fitted["csv"] == fitted["jsonl"] == fitted["json"] == fitted["parquet"]
    frame = pd.read_csv(tmp_path / "votes.csv")
    assert json.loads(frame["conversation_a"][0])[0]["role"] == "user"
    assert json.loads(frame["conv_metadata"][0])["turns"] == frame["turn"][0] == 2


arena = test_battles.arena  # a real Arena on the loopback server (SQLite and PostgreSQL)


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
async def test_the_arenas_own_battle_out_and_in_whole(arena, tmp_path: Path, fmt: str) -> None:
    """A battle played through the Arena (two turns, a suggested first prompt), with the
    volunteer's reasons, comment and reactions: its stored conv_metadata is what the
    conversations give, and every format carries the feedback out and back in."""
    first = await play(arena, ALICE, "敬語のメールを書いて", source="example:business_email")
    battle_id = first[-1].battle_id
    await play(arena, ALICE, "## もっと短く\n- 箇条書きで", battle_id)
    await arena.vote(ALICE, battle_id, Winner.MODEL_B)
    reasons = {Side.A: ["superficial"], Side.B: ["useful", "natural_japanese"]}
    await give_reasons(arena, ALICE, battle_id, reasons, "=B の方が丁寧。\n助かりました")
    await react(arena, ALICE, battle_id, 2, Side.B, 1)
    await react(arena, ALICE, battle_id, 1, Side.A, -1)
    engine = arena.sessions.kw["bind"]
    with Session(engine) as s:
        stored = json.loads(s.get(Battle, battle_id).meta)["conv_metadata"]

    out = tmp_path / f"votes.{fmt}"
    export(engine, out, fmt, ExportOptions(), SALT)
    other = _second_db(tmp_path, "second.db")
    try:
        report = import_file(other, out)
        assert (report.imported, report.refused) == (1, 0)
        again = tmp_path / "again.jsonl"
        export(other, again, "jsonl", ExportOptions(), SALT)
        with Session(other) as s:
            copy = s.scalar(select(Battle))
            assert copy.prompt_source == "example:business_email"
            assert copy.vote.comment == "=B の方が丁寧。\n助かりました"
    finally:
        other.dispose()
    (row,) = _rows(again)
    assert (
        row["conv_metadata"]
        == stored
        == conv_metadata(row["conversation_a"], row["conversation_b"])
    )
    assert stored["turns"] == 2
    assert (row["reasons_a"], row["reasons_b"]) == (["superficial"], ["useful", "natural_japanese"])
    assert row["comment"] == "=B の方が丁寧。\n助かりました"
    assert row["reactions"] == [
        {"turn": 1, "side": "a", "value": -1},
        {"turn": 2, "side": "b", "value": 1},
    ]
    assert row["prompt_source"] == "example:business_email"
    # The arena's own export and the re-import's export are the same rows (judges aside).
    export(engine, tmp_path / "own.jsonl", "jsonl", ExportOptions(), SALT)
    (own,) = _rows(tmp_path / "own.jsonl")
    assert {**own, "judge": None} == {**row, "judge": None, "question_id": own["question_id"]}
