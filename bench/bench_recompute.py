"""Benchmark the nightly recomputation on a PostgreSQL database of a million votes.

Run from the repository root (PostgreSQL on 127.0.0.1:5432, user postgres)::

    python bench/bench_recompute.py                 # 1,000,000 votes, 16 models
    python bench/bench_recompute.py --votes 200000  # quicker

It creates the database ``arena_bench_recompute`` (dropped at the end), migrates it,
and fills it with COPY (not timed): models, voters, battles and one vote per battle,
outcomes drawn from known Bradley-Terry ratings, with a few percent of every excluded
kind (voided, failed, named, flagged). Then it times, each as a fresh subprocess so
interpreter start-up and imports count, the median of ``--repeat`` runs of:

* ``python -m ratings recompute --database-url URL`` -- SQL ``GROUP BY``, fit, store;
* the same with ``--ci bootstrap`` (the settings' default 100 rounds);
* the naive baseline (``--naive URL``): select the two model names and the winner of
  every usable vote into Python, aggregate there (``ratings.leaderboard`` on the name
  arrays) and fit (sandwich). It stores nothing, so it is the cheaper side of the
  comparison.

It prints a markdown table (recorded in docs/benchmarks.md, "## Recompute").
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ADMIN_URL = os.environ.get("ARENA_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = "arena_bench_recompute"
ANCHOR = "Tanuki-8B-dpo-v1.0"
#: Share of votes of each excluded kind, in the order they are drawn.
EXCLUDED = {"voided": 0.01, "failed": 0.01, "named": 0.02, "flagged": 0.01}
TIE_SHARE = 0.25
STAMP = "2026-11-01 00:00:00+00"
TARGET_SECONDS = 10.0


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def create_database(admin_url: str) -> str:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    return admin_url.rsplit("/", 1)[0] + f"/{DB_NAME}"


def drop_database(admin_url: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def _copy(cur: object, table: str, columns: str, lines: list[str]) -> None:
    with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # type: ignore[attr-defined]
        buf = io.StringIO()
        for k, line in enumerate(lines, 1):
            buf.write(line)
            if k % 100_000 == 0:
                copy.write(buf.getvalue())
                buf = io.StringIO()
        copy.write(buf.getvalue())


def fill(
    url: str, votes: int, models: int, voters: int, seed: int, days: int = 180
) -> dict[str, int]:
    """Fill the database with COPY; return how many votes of each kind it holds."""
    import psycopg

    from arena.db import make_engine, migrate

    engine = make_engine(url)
    migrate(engine)
    engine.dispose()

    rng = np.random.default_rng(seed)
    names = [ANCHOR] + [f"Bench-Model-{k:02d}" for k in range(1, models)]
    truth = rng.normal(1000.0, 80.0, models)
    a = rng.integers(0, models, votes)
    b = (a + rng.integers(1, models, votes)) % models
    p_a = 1.0 / (1.0 + 10.0 ** ((truth[b] - truth[a]) / 400.0))
    u = rng.random(votes)
    tie = rng.random(votes) < TIE_SHARE * (1 - np.abs(2 * p_a - 1))
    winner = np.where(u < p_a, "model_a", "model_b").astype(object)
    winner[tie] = np.where(rng.random(int(tie.sum())) < 0.5, "tie", "tie (bothbad)")
    kind = rng.choice(
        len(EXCLUDED) + 1, size=votes, p=[*EXCLUDED.values(), 1 - sum(EXCLUDED.values())]
    )
    kinds = list(EXCLUDED)

    with psycopg.connect(_psycopg_url(url)) as conn, conn.cursor() as cur:
        _copy(
            cur, "models", "id, name, provider, weights, description, enabled, demo, created_at",
            [f"{k + 1}\t{n}\topenai\topen\t\tt\tf\t{STAMP}\n" for k, n in enumerate(names)],
        )  # fmt: skip
        _copy(
            cur, "voters", "id, token, created_at",
            [f"{k}\tbench-voter-{k}\t{STAMP}\n" for k in range(1, voters + 1)],
        )  # fmt: skip
        voter = rng.integers(1, voters + 1, votes)
        # Votes in order over ``days`` (about 20 per voter at the defaults: no daily cap).
        start = datetime(2026, 5, 1, tzinfo=UTC)
        step = days * 86_400 / votes
        stamp = [
            f"{start + timedelta(seconds=i * step):%Y-%m-%d %H:%M:%S}+00" for i in range(votes)
        ]
        mode = np.where(kind == kinds.index("named"), "named", "anony")
        status = np.where(kind == kinds.index("failed"), "failed", "voted")
        flagged = np.where(kind == kinds.index("flagged"), "t", "f")
        voided = np.where(kind == kinds.index("voided"), "t", "f")
        _copy(
            cur,
            "battles",
            "id, voter_id, model_a_id, model_b_id, mode, status, language, turns, "
            "flag_identity, flag_moderation, created_at, ready_at",
            [
                f"b{i:031d}\t{voter[i]}\t{a[i] + 1}\t{b[i] + 1}\t{mode[i]}\t{status[i]}\tja\t1"
                f"\t{flagged[i]}\tf\t{stamp[i]}\t{stamp[i]}\n"
                for i in range(votes)
            ],
        )
        _copy(
            cur,
            "votes",
            "battle_id, voter_id, winner, seconds_to_vote, created_at, voided",
            [
                f"b{i:031d}\t{voter[i]}\t{winner[i]}\t12.5\t{stamp[i]}\t{voided[i]}\n"
                for i in range(votes)
            ],
        )
        for table in ("models", "voters"):
            cur.execute(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))")
        conn.commit()
    with psycopg.connect(_psycopg_url(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    counts = {k: int((kind == i).sum()) for i, k in enumerate(kinds)}
    counts["used"] = int((kind == len(kinds)).sum())
    return counts


def naive(url: str) -> None:
    """The baseline: every usable vote's names and winner into Python, then fit."""
    from sqlalchemy import select
    from sqlalchemy.orm import aliased

    from arena.db import make_engine
    from arena.db.models import Battle, BattleMode, BattleStatus, Model, Vote
    from ratings import leaderboard

    engine = make_engine(url)
    ma, mb = aliased(Model), aliased(Model)
    query = (
        select(ma.name, mb.name, Vote.winner)
        .join(Battle, Vote.battle_id == Battle.id)
        .join(ma, Battle.model_a_id == ma.id)
        .join(mb, Battle.model_b_id == mb.id)
        .where(
            Vote.voided.is_(False),
            Battle.status != BattleStatus.FAILED,
            Battle.mode == BattleMode.ANONY,
            Battle.flag_identity.is_(False),
            Battle.flag_moderation.is_(False),
        )
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    model_a = [r[0] for r in rows]
    model_b = [r[1] for r in rows]
    winner = [r[2].value for r in rows]
    board = leaderboard(model_a, model_b, winner, anchor=ANCHOR, on_disconnected="largest")
    print(f"naive: {len(rows)} votes, {len(board.rows)} models")
    engine.dispose()


def timed(cmd: list[str], cwd: str) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    env.pop("ARENA_CONFIG", None)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return elapsed, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=16)
    parser.add_argument("--voters", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=180, help="the votes span this many days")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    parser.add_argument("--naive", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive:
        naive(args.naive)
        return

    url = create_database(ADMIN_URL)
    try:
        start = time.perf_counter()
        counts = fill(url, args.votes, args.models, args.voters, args.seed, args.days)
        fill_s = time.perf_counter() - start
        print(f"filled {args.votes} votes ({counts}) in {fill_s:.1f} s (not timed)", flush=True)
        py = sys.executable
        cases = {
            "`python -m ratings recompute` (defences on: votes one by one, sandwich, store)": [
                py, "-m", "ratings", "recompute", "--database-url", url,
            ],
            "`python -m ratings recompute --ci bootstrap` (100 rounds)": [
                py, "-m", "ratings", "recompute", "--database-url", url, "--ci", "bootstrap",
            ],
            "naive: every vote's names into Python, aggregate there, fit (no store)": [
                py, str(ROOT / "bench" / "bench_recompute.py"), "--naive", url,
            ],
        }  # fmt: skip
        rows = []
        with tempfile.TemporaryDirectory() as cwd:
            for label, cmd in cases.items():
                times = [timed(cmd, cwd)[0] for _ in range(args.repeat)]
                rows.append((label, statistics.median(times), min(times), max(times)))
                print(f"{label}: {[round(t, 2) for t in times]}", flush=True)
            # In-process split of the fast path: the GROUP BY alone.
            from arena.db import make_engine, session_factory
            from arena.integrity.screen import Rules
            from arena.votecounts import count_votes

            engine = make_engine(url)
            with session_factory(engine)() as s:
                q = []
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    aggregated = count_votes(s)
                    q.append(time.perf_counter() - t0)
                screened = count_votes(s, rules=Rules())
            engine.dispose()
        got = {"used": aggregated.used, **aggregated.excluded}
        left_out = {k: v for k, v in screened.excluded.items() if k not in got and v}
        print(f"the defences left out: {left_out or 'nothing'} (honest simulated votes)")
        if got != counts:
            raise SystemExit(f"aggregation disagrees with the fill: {got} != {counts}")
        print()
        print(
            f"{args.votes:,} votes ({counts['used']:,} usable), {args.models} models, "
            f"PostgreSQL; median of {args.repeat} (min-max), seconds, wall clock"
        )
        print()
        print("| what | median s | min-max s |")
        print("| --- | ---: | ---: |")
        for label, med, lo, hi in rows:
            print(f"| {label} | {med:.2f} | {lo:.2f}-{hi:.2f} |")
        print(
            f"| the GROUP BY alone, in process ({len(aggregated.count)} rows back) "
            f"| {statistics.median(q):.2f} | {min(q):.2f}-{max(q):.2f} |"
        )
        fast = rows[0][1]
        print()
        print(f"target <= {TARGET_SECONDS:.0f} s: {'met' if fast <= TARGET_SECONDS else 'MISSED'}")
    finally:
        if not args.keep:
            drop_database(ADMIN_URL)


if __name__ == "__main__":
    main()
