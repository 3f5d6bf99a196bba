"""Benchmark the export and the import on a million votes, on SQLite and PostgreSQL.

Run from the repository root (PostgreSQL on 127.0.0.1:5432, user postgres)::

    python bench/bench_export.py              # 1,000,000 votes, both databases
    python bench/bench_export.py --quick      # 100,000 votes
    python bench/bench_export.py --rows 300000 --backends sqlite
    python bench/bench_export.py --repeat 3   # the median of 3 exports and 3 imports
    python bench/bench_export.py --compare-row-by-row   # and the import with --no-columnar

For each database it fills an arena (not timed) with bulk inserts -- 13 models, a voter
per ten battles, and per battle a two-turn conversation on both sides (8 messages), its
``conv_metadata`` in ``battles.meta`` as the arena keeps it once a turn is stored (the
arena's own function; ``--no-meta`` leaves it out, as for battles stored before it was
kept, which the export then counts itself) and one vote -- then times, each as a fresh
subprocess so start-up and imports count:

* ``python -m arena export --format jsonl`` of every vote: rows/s and the peak RSS of the
  export process (``os.wait4`` in a small launcher, see :data:`LAUNCHER`); targets >=
  20,000 rows/s and <= 300 MB;
* ``python -m arena import`` of that file into an empty database: rows/s (>= 10,000);
* the naive baselines, in this process on a subset: the ORM loading vote by vote with
  lazy ``battle``, ``messages`` and model relationships, written as the same JSONL; and
  the ORM importing that JSONL line by line (each line checked by the importer's
  ``validate``, models and voters looked up by query, a flush per row) into an empty
  database.

It prints a markdown table (recorded in docs/benchmarks.md, "## Export and import").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ADMIN_URL = os.environ.get("ARENA_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SALT = "bench-export-salt-0123456789abcdef"
MODELS = [
    "Tanuki-8B-dpo-v1.0", "Tanuki-8x8B-dpo-v1.0", "gpt-4o-2024-05-13", "gpt-4o-mini",
    "claude-3-5-sonnet", "gemini-1.5-pro", "plamo-100b", "Llama-3.1-Swallow-8B",
    "ELYZA-8B", "calm3-22b-chat", "karakuri-lm-8x7b", "Qwen2-7B-Instruct", "gpt-3.5-turbo",
]  # fmt: skip
WINNERS = ["model_a", "model_b", "tie", "tie (bothbad)"]
T0 = datetime(2026, 6, 1, tzinfo=UTC)
CHUNK = 20_000
TARGET_EXPORT, TARGET_IMPORT, TARGET_RSS_MB = 20_000, 10_000, 300


def prompt(k: int, turn: int) -> str:
    return f"質問{turn}: 日本の{k % 47 + 1}番目の県について、観光名所を三つ教えてください。(#{k})"


def answer(k: int, turn: int, side: str) -> str:
    return (
        f"{side}側の回答{turn}です。\n1. 名所{k % 97}: 歴史のある寺で、春は桜が有名です。\n"
        f"2. 名所{k % 89}: 温泉街。\n3. 名所{k % 83}: 海沿いの公園で夕日がきれいです。"
    )


def battles(n: int, start: int) -> list[tuple]:
    """(id, voter, a, b, winner, created) for battles start..start+n-1."""
    out = []
    for k in range(start, start + n):
        a = k % len(MODELS)
        b = (a + 1 + (k // len(MODELS)) % (len(MODELS) - 1)) % len(MODELS)
        out.append((f"{k:032x}", k // 10 + 1, a + 1, b + 1, WINNERS[(k * 7) % 4],
                    T0 + timedelta(seconds=k * 5)))  # fmt: skip
    return out


def messages(bid: str, k: int) -> list[tuple]:
    rows = []
    for side in ("a", "b"):
        for turn in (1, 2):
            rows.append((bid, side, turn, "user", prompt(k, turn)))
            rows.append((bid, side, turn, "assistant", answer(k, turn, side)))
    return rows


# -- filling ------------------------------------------------------------------------


def meta(bid: str, k: int) -> str:
    """``battles.meta`` as the arena stores it after the battle's last turn."""
    from arena.dataset import with_conv_metadata

    class Stored:  # the Message columns with_conv_metadata reads
        def __init__(self, k: int, row: tuple) -> None:
            _, self.side, self.turn, self.role, self.content = row
            self.id, self.num_tokens, self.completion_tokens = k, None, None

    return with_conv_metadata(None, [Stored(j, m) for j, m in enumerate(messages(bid, k))])


def _sqlite_time(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S.%f")


def fill_sqlite(url: str, n: int, with_meta: bool = True) -> None:
    from arena.db import make_engine, migrate

    engine = make_engine(url)
    migrate(engine)
    raw = engine.raw_connection()
    cur = raw.cursor()
    cur.execute("PRAGMA synchronous=OFF")
    now = _sqlite_time(T0)
    cur.executemany(
        "INSERT INTO models (id, name, provider, weights, description, enabled, demo, "
        "created_at) VALUES (?, ?, 'demo', 'open', '', 1, 0, ?)",
        [(i + 1, m, now) for i, m in enumerate(MODELS)],
    )
    cur.executemany(
        "INSERT INTO voters (id, token, ip_hash, created_at) VALUES (?, ?, ?, ?)",
        [(v, f"{v:032x}"[::-1], f"{v:064x}", now) for v in range(1, n // 10 + 2)],
    )
    for start in range(0, n, CHUNK):
        rows = battles(min(CHUNK, n - start), start)
        cur.executemany(
            "INSERT INTO battles (id, voter_id, model_a_id, model_b_id, mode, status, language,"
            " turns, flag_identity, flag_moderation, created_at, ready_at, meta) VALUES "
            "(?, ?, ?, ?, 'anony', 'voted', 'ja', 2, 0, 0, ?, ?, ?)",
            [
                (b, v, a, m, _sqlite_time(t), _sqlite_time(t), meta(b, k) if with_meta else None)
                for k, (b, v, a, m, _, t) in enumerate(rows, start)
            ],
        )
        cur.executemany(
            "INSERT INTO votes (battle_id, voter_id, winner, seconds_to_vote, created_at, voided)"
            " VALUES (?, ?, ?, 12.5, ?, 0)",
            [(b, v, w, _sqlite_time(t + timedelta(seconds=3))) for b, v, _, _, w, t in rows],
        )
        cur.executemany(
            "INSERT INTO messages (battle_id, side, turn, role, content, latency_ms, created_at)"
            " VALUES (?, ?, ?, ?, ?, 900, ?)",
            [
                (*m, _sqlite_time(t))
                for k, (b, _, _, _, _, t) in enumerate(rows, start)
                for m in messages(b, k)
            ],
        )
        raw.commit()
    cur.close()
    raw.close()
    engine.dispose()


def _copy(cur: object, table: str, columns: str, lines: list[str]) -> None:
    with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # type: ignore[attr-defined]
        copy.write("".join(lines))


NULL = "\\N"


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")


def fill_postgres(url: str, n: int, with_meta: bool = True) -> None:
    import psycopg

    from arena.db import make_engine, migrate

    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        now = T0.isoformat()
        cols = "id, name, provider, weights, description, enabled, demo, created_at"
        models = [f"{i + 1}\t{m}\tdemo\topen\t\tt\tf\t{now}\n" for i, m in enumerate(MODELS)]
        _copy(cur, "models", cols, models)
        voters = [f"{v}\t{f'{v:032x}'[::-1]}\t{v:064x}\t{now}\n" for v in range(1, n // 10 + 2)]
        _copy(cur, "voters", "id, token, ip_hash, created_at", voters)
        for start in range(0, n, CHUNK):
            rows = battles(min(CHUNK, n - start), start)
            _copy(cur, "battles", "id, voter_id, model_a_id, model_b_id, mode, status, language, "
                  "turns, flag_identity, flag_moderation, created_at, ready_at, meta",
                  [f"{b}\t{v}\t{a}\t{m}\tanony\tvoted\tja\t2\tf\tf\t{t.isoformat()}\t"
                   f"{t.isoformat()}\t{_esc(meta(b, k)) if with_meta else NULL}\n"
                   for k, (b, v, a, m, _, t) in enumerate(rows, start)])  # fmt: skip
            _copy(cur, "votes", "battle_id, voter_id, winner, seconds_to_vote, created_at, voided",
                  [f"{b}\t{v}\t{w}\t12.5\t{(t + timedelta(seconds=3)).isoformat()}\tf\n"
                   for b, v, _, _, w, t in rows])  # fmt: skip
            _copy(cur, "messages", "battle_id, side, turn, role, content, latency_ms, created_at",
                  [f"{b}\t{s}\t{turn}\t{r}\t{_esc(c)}\t900\t{t.isoformat()}\n"
                   for k, (bid, _, _, _, _, t) in enumerate(rows, start)
                   for b, s, turn, r, c in messages(bid, k)])  # fmt: skip
        for table in ("models", "voters", "messages", "votes"):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


# -- timing -------------------------------------------------------------------------


# Linux carries a parent's peak RSS into a forked child's ru_maxrss (exec keeps the larger
# of the two), so a child of this big process would report at least this process's peak.
# A small launcher forks the command instead and reports the command's own peak.
LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, "-m", "arena", *sys.argv[2:]])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    cpu = usage.ru_utime + usage.ru_stime
    f.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss} {cpu}")
"""


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Run ``python -m arena ARGS``; return (seconds, its peak RSS in MB, its CPU seconds)."""
    with tempfile.TemporaryDirectory() as tmp:
        report, err_path = Path(tmp) / "rusage", Path(tmp) / "stderr"
        with err_path.open("wb") as err:
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", LAUNCHER, str(report), *args], cwd=ROOT, env=env,
                stdout=subprocess.DEVNULL, stderr=err, check=True,
            )  # fmt: skip
            seconds = time.perf_counter() - start
        code, maxrss_kb, cpu = report.read_text().split()
        text = err_path.read_text(errors="replace")
    if int(code):
        raise RuntimeError(f"{args} failed: {text[-2000:]}")
    return seconds, int(maxrss_kb) / 1024, float(cpu)


def naive_export(url: str, out: Path, limit: int) -> float:
    """The baseline: ORM objects vote by vote, relationships loaded lazily. Returns rows/s."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from arena.db import make_engine
    from arena.db.models import Vote, Voter
    from arena.export import LANGUAGE_NAMES, pseudonym

    engine = make_engine(url)
    start = time.perf_counter()
    n = 0
    with Session(engine) as s, out.open("w", encoding="utf-8") as f:
        votes = s.scalars(select(Vote).order_by(Vote.created_at, Vote.id).limit(limit))
        for vote in votes:
            b = vote.battle
            conv = {"a": [], "b": []}
            for m in b.messages:
                conv[m.side.value].append(
                    {"role": m.role, "content": m.content, "finish_reason": m.finish_reason}
                )
            token = s.get(Voter, vote.voter_id).token
            row = {
                "question_id": b.id, "model_a": b.model_a.name, "model_b": b.model_b.name,
                "winner": vote.winner.value, "judge": pseudonym(token, SALT),
                "conversation_a": conv["a"], "conversation_b": conv["b"], "turn": b.turns,
                "anony": True, "language": LANGUAGE_NAMES.get(b.language, b.language),
                "tstamp": vote.created_at.timestamp(),
            }  # fmt: skip
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    seconds = time.perf_counter() - start
    engine.dispose()
    return n / seconds


def naive_import(url: str, path: Path, limit: int) -> float:
    """The import's baseline: each line checked by the importer's own ``validate`` and
    turned into ORM objects (its models and voter looked up by query, created when new),
    one flush per row, one transaction. Into an empty, migrated database at ``url``;
    returns rows/s."""
    from itertools import islice

    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from arena.db import make_engine, migrate
    from arena.db.models import Battle, BattleMode, BattleStatus, Message, Model, Vote, Voter
    from arena.import_rows import validate, voter_token

    engine = make_engine(url)
    migrate(engine)
    start = time.perf_counter()
    n = 0
    with Session(engine) as s, s.begin(), path.open("rb") as f:

        def model(name: str) -> Model:
            found = s.scalar(select(Model).where(Model.name == name))
            if found is None:
                found = Model(name=name, provider="imported", enabled=False)
                s.add(found)
                s.flush()
            return found

        for where, line in enumerate(islice(f, limit), 1):
            row = validate(where, line)
            token = voter_token(row.judge)
            voter = s.scalar(select(Voter).where(Voter.token == token))
            if voter is None:
                voter = Voter(token=token)
                s.add(voter)
                s.flush()
            battle = Battle(
                id=row.id, voter_id=voter.id, model_a=model(row.model_a),
                model_b=model(row.model_b),
                mode=BattleMode.ANONY if row.anony else BattleMode.NAMED,
                status=BattleStatus.VOTED, language=row.language, turns=row.turns,
                created_at=row.at, ready_at=row.at,
            )  # fmt: skip
            battle.messages = [
                Message(side=side, turn=turn, role=role, content=content, created_at=at)
                for _, side, turn, role, content, _finish, _tokens, at in row.messages
            ]
            s.add(battle)
            s.add(Vote(battle=battle, voter_id=voter.id, winner=row.winner, created_at=row.at))
            s.flush()
            n += 1
    seconds = time.perf_counter() - start
    engine.dispose()
    return n / seconds


def create_pg(name: str) -> str:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_pg(name: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _median(runs: list[tuple[float, float, float]]) -> dict[str, float]:
    """The median run (by time) of (seconds, MB, CPU seconds), with the range of times."""
    ordered = sorted(runs)
    seconds, mb, cpu = ordered[len(ordered) // 2]
    return {"s": seconds, "mb": mb, "cpu": cpu, "min": ordered[0][0], "max": ordered[-1][0]}


def run(
    backend: str,
    n: int,
    naive_rows: int,
    repeat: int,
    work: Path,
    with_meta: bool = True,
    compare: bool = False,
) -> dict[str, object]:
    pg = backend == "postgresql"
    src = create_pg("arena_bench_export_src") if pg else f"sqlite:///{work / 'src.db'}"
    dst = f"sqlite:///{work / 'dst.db'}"
    try:
        t = time.perf_counter()
        (fill_postgres if pg else fill_sqlite)(src, n, with_meta)
        fill = time.perf_counter() - t
        print(f"[{backend}] filled {n} votes in {fill:.0f} s", file=sys.stderr)
        env = {**os.environ, "ARENA_EXPORT_SALT": SALT}
        env.pop("ARENA_CONFIG", None)
        out = work / f"{backend}.jsonl"
        exports, imports = [], []
        for _ in range(repeat):
            exports.append(
                timed(["--database-url", src, "export", "--format", "jsonl", "--out", str(out),
                       "--no-progress", "--force"], env)
            )  # fmt: skip
            print(f"[{backend}] export {exports[-1]}", file=sys.stderr)
        manifest = json.loads(Path(f"{out}.manifest.json").read_text())
        assert manifest["rows"] == n, manifest["rows"]
        for _ in range(repeat):  # each into an empty database
            if pg:
                dst = create_pg("arena_bench_export_dst")
            else:
                for f in work.glob("dst.db*"):
                    f.unlink()
            imports.append(timed(["--database-url", dst, "import", str(out)], env))
            print(f"[{backend}] import {imports[-1]}", file=sys.stderr)
        row_by_row = []
        for _ in range(repeat if compare else 0):  # the baseline: every row checked alone
            if pg:
                dst = create_pg("arena_bench_export_dst")
            else:
                for f in work.glob("dst.db*"):
                    f.unlink()
            args = ["--database-url", dst, "import", "--no-columnar", str(out)]
            row_by_row.append(timed(args, env))
            print(f"[{backend}] import --no-columnar {row_by_row[-1]}", file=sys.stderr)
        naive = naive_in = None
        if naive_rows:
            naive = naive_export(src, work / f"{backend}-naive.jsonl", naive_rows)
            if pg:
                dst = create_pg("arena_bench_export_dst")
            else:
                for f in work.glob("dst.db*"):
                    f.unlink()
            naive_in = naive_import(dst, out, naive_rows)
        return {
            "backend": backend, "rows": n, "file_mb": out.stat().st_size / 2**20,
            "fill_s": fill, "export": _median(exports), "import": _median(imports),
            "import (--no-columnar)": _median(row_by_row) if row_by_row else None,
            "load": os.getloadavg()[0], "naive_rate": naive,
            "naive_import_rate": naive_in,
        }  # fmt: skip
    finally:
        if pg:
            drop_pg("arena_bench_export_src")
            drop_pg("arena_bench_export_dst")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 votes")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--naive-rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the median counts")
    parser.add_argument(
        "--no-meta", action="store_true", help="battles without a stored conv_metadata"
    )
    parser.add_argument("--skip-naive", action="store_true", help="no naive baselines")
    parser.add_argument(
        "--compare-row-by-row",
        action="store_true",
        help="also time the import with --no-columnar (every row checked alone), same file",
    )
    args = parser.parse_args()
    n = 100_000 if args.quick else args.rows
    results = []
    with tempfile.TemporaryDirectory(prefix="arena-bench-export-") as tmp:
        for backend in args.backends.split(","):
            naive = 0 if args.skip_naive else args.naive_rows
            results.append(
                run(backend.strip(), n, naive, args.repeat, Path(tmp), not args.no_meta,
                    args.compare_row_by_row)
            )  # fmt: skip
            json.dump(results[-1], sys.stderr)
            print(file=sys.stderr)
    print(f"{n:,} votes, 2 turns x 2 sides (8 messages) per battle; {os.cpu_count()} CPUs; "
          f"median of {args.repeat} (min-max)\n")  # fmt: skip
    print("| database | what | time | rows/s | CPU | peak RSS |")
    print("|---|---|---|---|---|---|")
    ok = True
    for r in results:
        for what, target in (
            ("export", TARGET_EXPORT), ("import", TARGET_IMPORT),
            ("import (--no-columnar)", TARGET_IMPORT),
        ):  # fmt: skip
            m = r[what]
            if m is None:
                continue
            rate = n / m["s"]
            ok &= rate >= target and (what.startswith("import") or m["mb"] <= TARGET_RSS_MB)
            print(
                f"| {r['backend']} | {what} | {m['s']:.1f} s ({m['min']:.1f}-{m['max']:.1f}) "
                f"| {rate:,.0f} | {m['cpu']:.0f} s | {m['mb']:.0f} MB |"
            )
        for what, key in (("export", "naive_rate"), ("import", "naive_import_rate")):
            if r[key] is None:  # --skip-naive
                continue
            ratio = n / r[what]["s"] / r[key]
            print(
                f"| {r['backend']} | naive {what} ({args.naive_rows:,} rows) | "
                f"| {r[key]:,.0f} | | ({ratio:.0f}x slower) |"
            )
    print(f"\nJSONL file: {results[0]['file_mb']:,.0f} MB; load average at the end: "
          + ", ".join(f"{r['backend']} {r['load']:.1f}" for r in results))  # fmt: skip
    print(f"targets (export >= {TARGET_EXPORT:,} rows/s, <= {TARGET_RSS_MB} MB; import >= "
          f"{TARGET_IMPORT:,} rows/s): {'met' if ok else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()
