"""``python -m ratings``: table and JSON output, file formats, malformed rows, recompute."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ratings import DEFAULT_ANCHOR, JSON_KEYS
from ratings.cli import EXIT_INPUT, main

ROOT = Path(__file__).resolve().parents[1]
MODELS = [DEFAULT_ANCHOR, "Model-B", "Model-C", "Model-D"]
STRENGTH = {DEFAULT_ANCHOR: 0.0, "Model-B": 0.6, "Model-C": -0.4, "Model-D": 0.2}
WINNERS = ["model_a", "model_b", "tie", "tie (bothbad)"]


def _records(count: int = 300, seed: int = 0) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    records = []
    for k in range(count):
        a, b = rng.choice(len(MODELS), size=2, replace=False)
        p = 1 / (1 + np.exp(STRENGTH[MODELS[b]] - STRENGTH[MODELS[a]]))
        u = rng.random()
        winner = "model_a" if u < 0.85 * p else "model_b" if u < 0.85 else WINNERS[2 + k % 2]
        records.append(
            {
                "question_id": f"q{k}",
                "model_a": MODELS[a],
                "model_b": MODELS[b],
                "winner": winner,
                "anony": True,
                "conversation_a": [{"role": "user", "content": "こんにちは"}],
            }
        )
    return records


def _write_jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    return path


def _write_csv(path: Path, records: list[dict[str, object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["model_a", "model_b", "winner", "anony"])
        writer.writeheader()
        for record in records:
            writer.writerow({key: record[key] for key in writer.fieldnames})
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ratings", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _main(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out, err)
    return code, out.getvalue(), err.getvalue()


def test_fit_prints_a_table(tmp_path: Path) -> None:
    result = _run("fit", str(_write_jsonl(tmp_path / "b.jsonl", _records())))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["Rank", "Model", "Rating", "95%"]
    anchor_line = next(line for line in lines if line.split()[1:2] == [DEFAULT_ANCHOR])
    assert anchor_line.split()[2] == "1000.0"
    assert any(line.startswith("note: 95% intervals (sandwich)") for line in lines)


def test_fit_json_has_exactly_the_public_keys(tmp_path: Path) -> None:
    records = _records()
    result = _run("fit", str(_write_jsonl(tmp_path / "b.jsonl", records)), "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [list(row) for row in rows] == [list(JSON_KEYS)] * len(MODELS)
    by_model = {row["model"]: row for row in rows}
    assert by_model[DEFAULT_ANCHOR]["rating"] == 1000.0
    assert by_model["Model-B"]["rank"] == 1
    ties = sum(
        1
        for r in records
        if r["winner"].startswith("tie") and "Model-C" in (r["model_a"], r["model_b"])
    )
    c = by_model["Model-C"]
    assert c["ties"] == ties
    assert c["wins"] + c["ties"] + c["losses"] == c["battles"]
    assert c["win_rate"] == pytest.approx(c["wins"] / c["battles"])
    assert rows == sorted(rows, key=lambda row: -row["rating"])


def test_bootstrap_is_reproducible_with_a_seed(tmp_path: Path) -> None:
    path = str(_write_jsonl(tmp_path / "b.jsonl", _records()))
    options = ["--ci", "bootstrap", "--rounds", "200", "--seed", "7", "--json", "--level", "0.9"]
    first = _main("fit", path, *options)
    again = _main("fit", path, *options)
    other = _main("fit", path, *options[:-4], "8", "--json")
    assert first[0] == 0 and first[1] == again[1] and first[1] != other[1]
    assert "90% intervals (bootstrap, 200 rounds)" in first[2]


def test_csv_gives_the_same_result_as_jsonl(tmp_path: Path) -> None:
    records = _records()
    from_jsonl = _main("fit", str(_write_jsonl(tmp_path / "b.jsonl", records)), "--json")
    from_csv = _main("fit", str(_write_csv(tmp_path / "b.csv", records)), "--json")
    assert from_jsonl[0] == from_csv[0] == 0
    assert json.loads(from_jsonl[1]) == json.loads(from_csv[1])


def test_parquet_gives_the_same_result_as_jsonl(tmp_path: Path) -> None:
    records = _records()
    columns = {key: [r[key] for r in records] for key in ("model_a", "model_b", "winner", "anony")}
    pq.write_table(pa.table(columns), tmp_path / "b.parquet")
    from_jsonl = _main("fit", str(_write_jsonl(tmp_path / "b.jsonl", records)), "--json")
    from_parquet = _main("fit", str(tmp_path / "b.parquet"), "--json")
    assert json.loads(from_jsonl[1]) == json.loads(from_parquet[1])


def test_both_bad_is_read_as_tie_bothbad(tmp_path: Path) -> None:
    records = _records()
    renamed = [
        {**r, "winner": "both_bad" if r["winner"] == "tie (bothbad)" else r["winner"]}
        for r in records
    ]
    assert renamed != records
    original = _main("fit", str(_write_jsonl(tmp_path / "a.jsonl", records)), "--json")
    aliased = _main("fit", str(_write_jsonl(tmp_path / "b.jsonl", renamed)), "--json")
    assert original[0] == aliased[0] == 0 and original[1] == aliased[1]


def test_rows_not_anonymous_are_left_out_and_counted(tmp_path: Path) -> None:
    """Like FastChat, a fit skips named battles unless --include-named keeps them."""
    records = _records()
    marked = [{**r, "anony": k % 10 != 0} for k, r in enumerate(records)]
    anonymous = [r for r in marked if r["anony"]]
    plain = _main("fit", str(_write_jsonl(tmp_path / "a.jsonl", records)), "--json")
    named = _main("fit", str(_write_jsonl(tmp_path / "b.jsonl", marked)), "--json")
    only = _main("fit", str(_write_jsonl(tmp_path / "c.jsonl", anonymous)), "--json")

    def rounded(out: str) -> list:
        return [{k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()}
                for row in json.loads(out)]  # fmt: skip

    assert rounded(named[1]) == rounded(only[1]) != rounded(plain[1])
    assert "30 row(s) with anony=false left out (--include-named keeps them)" in named[2]
    kept = _main("fit", str(tmp_path / "b.jsonl"), "--json", "--include-named")
    assert kept[1] == plain[1] and "30 row(s) with anony=false kept" in kept[2]


def test_malformed_jsonl_rows_stop_with_the_line_number(tmp_path: Path) -> None:
    good = json.dumps(_records(1)[0])
    cases = {
        "{not json": "line 3: not valid JSON",
        json.dumps({"model_a": "A", "model_b": "B", "winner": "model_c"}): (
            "line 3: winner must be one of model_a, model_b, tie, tie (bothbad), both_bad, "
            "got 'model_c'"
        ),
        json.dumps({"model_a": "A", "winner": "tie"}): "line 3: missing model_b",
        json.dumps(
            {"model_a": "A", "model_b": "A", "winner": "tie"}
        ): "line 3: model_a and model_b",
        json.dumps(["A", "B", "tie"]): "line 3: not an object",
    }
    for bad, message in cases.items():
        path = tmp_path / "bad.jsonl"
        path.write_text(f"{good}\n\n{bad}\n{good}\n", encoding="utf-8")
        code, out, err = _main("fit", str(path))
        assert code == EXIT_INPUT and out == ""
        assert f"{path}: {message}" in err, err


def test_malformed_csv_rows_stop_with_the_line_number(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        'model_a,model_b,winner,note\nA,B,model_a,"two\nlines"\nA,B,tie,x\nA,C,nobody,x\n',
        encoding="utf-8",
    )
    code, _, err = _main("fit", str(path))
    assert code == EXIT_INPUT
    assert f"{path}: line 5: winner must be one of" in err and "got 'nobody'" in err
    path.write_text("model_a,winner\nA,tie\n", encoding="utf-8")
    assert "not a battle file of a known layout" in _main("fit", str(path))[2]
    path.write_text("model_a,model_b,winner\nA,B,tie,extra\n", encoding="utf-8")
    assert f"{path}: line 2: expected 3 fields, found 4" in _main("fit", str(path))[2]


def test_malformed_row_through_the_real_entry_point(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"model_a": "A", "model_b": "B", "winner": "?"}) + "\n", "utf-8")
    result = _run("fit", str(path))
    assert result.returncode == EXIT_INPUT and result.stdout == ""
    assert "line 1: winner must be one of" in result.stderr


def test_other_input_errors_exit_2(tmp_path: Path) -> None:
    code, _, err = _main("fit", str(tmp_path / "missing.jsonl"))
    assert code == EXIT_INPUT and "cannot read" in err
    code, _, err = _main("fit", str(_write_jsonl(tmp_path / "b.txt", _records())))
    assert code == EXIT_INPUT and "unknown format" in err
    split = [
        {"model_a": "A", "model_b": "B", "winner": "model_a"},
        {"model_a": "A", "model_b": "B", "winner": "model_b"},
        {"model_a": "C", "model_b": "D", "winner": "tie"},
    ]
    code, _, err = _main("fit", str(_write_jsonl(tmp_path / "split.jsonl", split)))
    assert code == EXIT_INPUT and "2 separate pieces" in err and "[C, D]" in err
    assert "--on-disconnected largest rates only the anchor's piece" in err  # what to do
    code, out, _ = _main(
        "fit", str(tmp_path / "split.jsonl"), "--on-disconnected", "largest", "--anchor", "C"
    )
    assert code == 0 and "left out (never compared with the rated models): A, B" in out


def test_table_explains_an_open_interval(tmp_path: Path) -> None:
    records = [*_records(), {"model_a": "Newcomer", "model_b": "Model-B", "winner": "model_b"}]
    code, out, _ = _main("fit", str(_write_jsonl(tmp_path / "b.jsonl", records)))
    assert code == 0
    newcomer = next(line for line in out.splitlines() if line.split()[1:2] == ["Newcomer"])
    assert "-inf .." in newcomer
    assert "note: Newcomer: never beat the rest: no lower bound" in out


def test_empty_file_gives_an_empty_table(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n", encoding="utf-8")
    code, out, err = _main("fit", str(path), "--json")
    assert code == 0 and json.loads(out) == [] and "nothing to rate" in err


def test_recompute_is_an_alias_of_arena_recompute(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The alias runs `python -m arena.recompute ARGS`: its own checks and exit codes.
    missing = tmp_path / "typo" / "arena.db"
    code, _, _ = _main("recompute", "--database-url", f"sqlite:///{missing}")
    assert code == 1
    assert f"no such SQLite file {missing}" in capsys.readouterr().err
    code, _, _ = _main("recompute", "--ci", "nope")
    assert code == EXIT_INPUT
    assert "invalid choice: 'nope'" in capsys.readouterr().err
    assert not missing.parent.exists()


def test_recompute_without_arena_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "arena", None)  # as if arena were not installed
    # and not imported by an earlier test either (runpy would run the imported module)
    monkeypatch.setitem(sys.modules, "arena.recompute", None)
    code, _, err = _main("recompute")
    assert code == EXIT_INPUT
    assert "an alias of `python -m arena.recompute`, which could not be found" in err


def test_ratings_never_imports_arena() -> None:
    # Only the recompute alias names arena, as a module to run, never in an import.
    for path in sorted((ROOT / "ratings").glob("*.py")):
        for line in path.read_text(encoding="utf-8").splitlines():
            words = line.split()
            assert not (words[:1] in (["import"], ["from"]) and words[1].startswith("arena")), (
                path.name,
                line,
            )


def _modules_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint(' '.join({{m.split('.')[0] for m in sys.modules}}))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())


def test_ratings_imports_only_numpy_scipy_and_the_standard_library() -> None:
    ours = _modules_after("import ratings, ratings.cli, ratings.io")
    baseline = _modules_after(
        "import numpy, scipy.optimize, scipy.special, scipy.sparse.csgraph, scipy.linalg"
    )
    assert not ours & {"arena", "sqlalchemy", "gradio", "pandas", "pyarrow", "httpx"}
    assert ours - baseline - set(sys.stdlib_module_names) == {"ratings"}


@pytest.mark.parametrize("ci", ["sandwich", "bootstrap"])
def test_a_fit_imports_neither_scipy_nor_pandas(tmp_path: Path, ci: str) -> None:
    # Start-up is most of a command line's time: any scipy subpackage costs ~0.3 s,
    # pandas (pulled in by pyarrow's to_numpy and Python scalars) ~0.2 s.
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = _records()
    files = [_write_jsonl(tmp_path / "b.jsonl", records), _write_csv(tmp_path / "b.csv", records)]
    keys = ["model_a", "model_b", "winner", "anony"]
    pq.write_table(
        pa.Table.from_pylist([{k: r[k] for k in keys} for r in records]),
        files[0].with_suffix(".parquet"),
    )
    files.append(files[0].with_suffix(".parquet"))
    for file in files:
        code = (
            "import io, sys\nfrom ratings.cli import main\n"
            f"code = main(['fit', {str(file)!r}, '--ci', {ci!r}, '--json'], io.StringIO())\n"
            "print(code, sorted({m.split('.')[0] for m in sys.modules} & {'scipy', 'pandas'}))"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
        )
        assert result.stdout.split("\n")[0] == "0 []", (file.name, result.stdout, result.stderr)
