"""UI benchmarks: the leaderboard handler on a big database, and the arena page's first load.

1. Leaderboard: 100 models, 1,000,000 votes and 30 rating runs, the latest stored by
   :func:`arena.recompute.recompute` (so with its pair counts). Times the handler that
   produces every output of the leaderboard tab (``LeaderboardTab.load``: latest run,
   table, interval plot, history, pair heatmaps): on a run's first view (pair tables
   read from the run's stored counts; the normal path), on a repeat view (pair tables
   cached for the run), and for a run stored without pair counts (the fallback: one
   ``GROUP BY`` over the votes), against a baseline that loads every usable vote into
   pandas and builds the pair tables there. Figure: server time <= 300 ms. One vote in
   three carries reasons (about 1,000,000 reason rows) and one in eight thumbs: the
   handler's first view of a run starts counting them (``FeedbackCache``) and waits at
   most 0.1 s; the count itself (``feedback_by_model``) is timed on its own.
2. Page: ``python app.py`` (demo models), headless Chromium, time from navigation to an
   interactive prompt (the load event has run), in fresh browser contexts: a returning
   volunteer's, and a first visit's (until the first-visit dialog can be accepted).
   ``--baseline DIR`` also loads an older checkout in the same run. Figure: median <= 2 s.

    python bench/bench_ui.py [--db postgresql|sqlite] [--votes 1000000] [--quick]
    python bench/bench_ui.py --only page --loads 15 --baseline /tmp/bench-base

The filled PostgreSQL database ``arena_bench_ui`` is dropped at the end.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
from sqlalchemy import delete, func, select, text  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from arena.db import make_engine, migrate, session_factory  # noqa: E402
from arena.db.models import ModelRating, RatingRun, RunPairCount  # noqa: E402

PG_ADMIN = os.environ.get("ARENA_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


# -- filling ------------------------------------------------------------------------


def battle_rows(n_votes: int, n_models: int, n_voters: int, seed: int = 0):
    """(battle id, voter, model a, model b, winner) tuples, Bradley-Terry outcomes."""
    rng = random.Random(seed)
    strength = [rng.gauss(1000, 120) for _ in range(n_models)]
    for i in range(n_votes):
        a = rng.randrange(n_models)
        b = rng.randrange(n_models - 1)
        b += b >= a
        p = 1 / (1 + 10 ** ((strength[b] - strength[a]) / 400))
        r = rng.random()
        w = 2 if r < 0.15 else 3 if r < 0.2 else 0 if rng.random() < p else 1
        yield f"{i:032x}", 1 + rng.randrange(n_voters), a + 1, b + 1, WINNERS[w]


#: Reason tags the bench draws from (the codes of arena.feedback).
BENCH_TAGS = ("useful", "complete", "natural_japanese", "incorrect", "superficial",
              "unnatural_japanese", "register_off", "mixed_languages")  # fmt: skip


def feedback_rows(rows: list[tuple], seed: int = 2):
    """Reasons for one vote in three (1-3 tags on A, 0-2 on B), thumbs for one in eight.

    Yields ("reason", battle id, side, tag) and ("reaction", battle id, side, value).
    """
    rng = random.Random(seed)
    for k, (bid, *_) in enumerate(rows):
        if k % 3 == 0:
            for side, n in (("a", rng.randint(1, 3)), ("b", rng.randint(0, 2))):
                for tag in rng.sample(BENCH_TAGS, n):
                    yield "reason", bid, side, tag
        if k % 8 == 0:
            yield "reaction", bid, "a", 1
            if rng.random() < 0.5:
                yield "reaction", bid, "b", -1


def fill_postgres(url: str, n_votes: int, n_models: int, n_voters: int) -> None:
    import psycopg

    def copy(cur: psycopg.Cursor, table: str, columns: str, lines) -> None:
        with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as out:
            buf = io.StringIO()
            for k, line in enumerate(lines, 1):
                buf.write(line)
                if k % 100_000 == 0:
                    out.write(buf.getvalue())
                    buf = io.StringIO()
            out.write(buf.getvalue())

    stamp = T0.isoformat()
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        cur = conn.cursor()
        copy(cur, "models", "id, name, provider, weights, description, enabled, demo, created_at",
             (f"{i + 1}\tModel-{i:03d}\tvllm\t{'open' if i % 2 else 'closed'}\t\tt\tf\t{stamp}\n"
              for i in range(n_models)))  # fmt: skip
        copy(cur, "voters", "id, token, created_at",
             (f"{i + 1}\t{i:032x}\t{stamp}\n" for i in range(n_voters)))  # fmt: skip
        rows = list(battle_rows(n_votes, n_models, n_voters))
        copy(cur, "battles",
             "id, voter_id, model_a_id, model_b_id, mode, status, language, turns, "
             "flag_identity, flag_moderation, created_at, ready_at",
             (f"{bid}\t{v}\t{a}\t{b}\tanony\tvoted\tja\t1\tf\tf\t{stamp}\t{stamp}\n"
              for bid, v, a, b, _ in rows))  # fmt: skip
        copy(cur, "votes", "battle_id, voter_id, winner, seconds_to_vote, created_at, voided",
             (f"{bid}\t{v}\t{w}\t3\t{stamp}\tf\n" for bid, v, _, _, w in rows))  # fmt: skip
        extra = list(feedback_rows(rows))
        copy(cur, "vote_reasons", "battle_id, side, tag",
             (f"{b}\t{side}\t{x}\n" for kind, b, side, x in extra if kind == "reason"))  # fmt: skip
        copy(cur, "reactions", "battle_id, turn, side, value, created_at",
             (f"{b}\t1\t{side}\t{x}\t{stamp}\n" for kind, b, side, x in extra
              if kind == "reaction"))  # fmt: skip
        for table in ("models", "voters", "votes", "vote_reasons", "reactions"):
            cur.execute(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")


def fill_sqlite(path: str, n_votes: int, n_models: int, n_voters: int) -> None:
    stamp = T0.strftime("%Y-%m-%d %H:%M:%S.000000")
    con = sqlite3.connect(path)
    con.executemany(
        "INSERT INTO models (id, name, provider, weights, description, enabled, demo, "
        "created_at) VALUES (?, ?, 'vllm', ?, '', 1, 0, ?)",
        [(i + 1, f"Model-{i:03d}", "open" if i % 2 else "closed", stamp) for i in range(n_models)],
    )
    con.executemany(
        "INSERT INTO voters (id, token, created_at) VALUES (?, ?, ?)",
        [(i + 1, f"{i:032x}", stamp) for i in range(n_voters)],
    )
    rows = list(battle_rows(n_votes, n_models, n_voters))
    con.executemany(
        "INSERT INTO battles (id, voter_id, model_a_id, model_b_id, mode, status, language, "
        "turns, flag_identity, flag_moderation, created_at, ready_at) "
        "VALUES (?, ?, ?, ?, 'anony', 'voted', 'ja', 1, 0, 0, ?, ?)",
        ((bid, v, a, b, stamp, stamp) for bid, v, a, b, _ in rows),
    )
    con.executemany(
        "INSERT INTO votes (battle_id, voter_id, winner, seconds_to_vote, created_at, voided) "
        "VALUES (?, ?, ?, 3, ?, 0)",
        ((bid, v, w, stamp) for bid, v, _, _, w in rows),
    )
    extra = list(feedback_rows(rows))
    con.executemany(
        "INSERT INTO vote_reasons (battle_id, side, tag) VALUES (?, ?, ?)",
        ((b, side, x) for kind, b, side, x in extra if kind == "reason"),
    )
    con.executemany(
        "INSERT INTO reactions (battle_id, turn, side, value, created_at) VALUES (?, 1, ?, ?, ?)",
        ((b, side, x, stamp) for kind, b, side, x in extra if kind == "reaction"),
    )
    con.commit()
    con.execute("ANALYZE")
    con.close()


def add_runs(sessions: sessionmaker[Session], n_models: int, n_runs: int, votes: int) -> None:
    """``n_runs`` daily rating runs of made-up ratings, without pair counts."""
    rng = random.Random(1)
    base = [rng.gauss(1000, 120) for _ in range(n_models)]
    with sessions.begin() as s:
        for k in range(n_runs):
            at = T0 + timedelta(days=k + 1)
            ratings = [b + rng.gauss(0, 5) for b in base]
            order = sorted(range(n_models), key=lambda i: -ratings[i])
            run = RatingRun(created_at=at, method="sandwich", anchor="Model-000", level=0.95,
                            votes_used=votes)  # fmt: skip
            run.ratings = [
                ModelRating(
                    model=f"Model-{i:03d}", rank=pos + 1, rating=ratings[i],
                    ci_lower=ratings[i] - 12, ci_upper=ratings[i] + 12,
                    battles=2 * votes // n_models, wins=0, ties=0, ties_bothbad=0, losses=0,
                    win_rate=0.5,
                )
                for pos, i in enumerate(order)
            ]  # fmt: skip
            s.add(run)


# -- measuring ----------------------------------------------------------------------


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def pandas_baseline(sessions: sessionmaker[Session], board: object) -> object:
    """Every usable vote into pandas, pair tables built there; the rest as the handler."""
    from arena.db import stats
    from arena.ui.leaderboard import Board, read_board

    with sessions() as s:
        run = stats.latest_run(s)
        rows = stats.board(s, run.id)
        frame = pd.read_sql(
            text(
                "SELECT ma.name AS a, mb.name AS b, v.winner AS w FROM votes v "
                "JOIN battles b ON b.id = v.battle_id JOIN models ma ON ma.id = b.model_a_id "
                "JOIN models mb ON mb.id = b.model_b_id WHERE b.mode = 'anony' "
                "AND b.status != 'failed' AND NOT b.flag_identity AND NOT b.flag_moderation "
                "AND NOT v.voided"
            ),
            s.connection(),
        )
    top = [r.model for r in rows[:20]]
    frame = frame[frame.a.isin(top) & frame.b.isin(top)]
    score_a = frame.w.map({"model_a": 1.0, "model_b": 0.0}).fillna(0.5)
    both = pd.concat(
        [
            pd.DataFrame({"x": frame.a, "y": frame.b, "s": score_a}),
            pd.DataFrame({"x": frame.b, "y": frame.a, "s": 1 - score_a}),
        ]
    )
    grouped = both.groupby(["x", "y"]).s.agg(["sum", "count"])
    battles = grouped["count"].unstack().reindex(index=top, columns=top).fillna(0).to_numpy()
    wins = grouped["sum"].unstack().reindex(index=top, columns=top).fillna(0).to_numpy()
    table = stats.PairTable(top, battles, wins)
    full = read_board(sessions, _Fixed(table))
    return board.render(Board(full.run, full.rows, table, full.history), "ja")


class _Fixed:
    """A pair cache that hands back a table computed elsewhere."""

    def __init__(self, table: object) -> None:
        self.table = table

    def get(self, *_: object) -> object:
        return self.table


def bench_leaderboard(args: argparse.Namespace) -> None:
    from arena.db import stats
    from arena.db.counted import EXCLUSIONS
    from arena.db.feedback_stats import FeedbackCache, feedback_by_model
    from arena.recompute import recompute
    from arena.ui.leaderboard import LeaderboardTab, PairCache

    n_models, n_voters, votes = 100, 5000, args.votes
    if args.db == "postgresql":
        import psycopg

        name = "arena_bench_ui"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    else:
        tmp = tempfile.mkdtemp(prefix="bench-ui-")
        url = f"sqlite:///{tmp}/bench.db"
    engine = make_engine(url)
    migrate(engine)
    start = time.perf_counter()
    if args.db == "postgresql":
        fill_postgres(url, votes, n_models, n_voters)
    else:
        fill_sqlite(url.removeprefix("sqlite:///"), votes, n_models, n_voters)
    sessions = session_factory(engine)
    add_runs(sessions, n_models, 29, votes)
    print(
        f"filled {votes:,} votes, {n_models} models, 29 runs in {time.perf_counter() - start:.0f} s"
    )
    start = time.perf_counter()
    latest = recompute(engine, anchor="Model-000")
    with sessions() as s:
        n_pairs = s.scalar(
            select(func.count()).select_from(RunPairCount).where(RunPairCount.run_id == latest.id)
        )
    print(
        f"latest run #{latest.id} by recompute() in {time.perf_counter() - start:.1f} s "
        f"({n_pairs:,} pair rows stored with it)"
    )

    tab = LeaderboardTab(sessions)
    import gradio as gr

    with gr.Blocks():
        tab.build(gr.I18n(ja={}, en={}))
    out = tab.load("ja")
    assert tab.table in out and len(out[tab.table]["value"]) == n_models
    with sessions() as s:  # the stored counts give the same tables as the votes
        run = stats.latest_run(s)
        top = [r.model for r in stats.board(s, run.id)[:20]]
        stored, counted = stats.pair_table(s, run, top), stats.pair_table_from_votes(s, top)
    screened = sum(n for why, n in run.excluded.items() if why not in EXCLUSIONS)
    if screened:  # the rigging defences left votes out: the stored tables count fewer
        print(f"{screened:,} votes screened out by the run's rigging defences")
        assert (stored.battles <= counted.battles).all()
    else:
        assert (stored.battles == counted.battles).all() and (stored.wins == counted.wins).all()
    with sessions() as s:  # every reason of the bench is counted, on the right model
        given = s.scalar(text("SELECT count(*) FROM vote_reasons"))
        counts = feedback_by_model(s, run.created_at)
        assert sum(sum(f.tags.values()) for f in counts) == given
    results = {}

    def first_view() -> None:
        tab.cache, tab.feedback = PairCache(), FeedbackCache(sessions)
        tab.load("ja")

    def first_views() -> list[float]:
        out = []
        for _ in range(args.repeat):
            out += timed(first_view, 1)
            tab.feedback.get(run.id, run.created_at, wait=600)  # the count ends off the clock
        return out

    results["handler, a run's first view (pair tables from its stored counts)"] = first_views()

    def count_reasons() -> None:
        with sessions() as s:
            feedback_by_model(s, run.created_at)

    results["reasons counted off the handler (feedback_by_model, once per run)"] = timed(
        count_reasons, max(3, args.repeat // 2)
    )
    tab.load("en")
    results["handler, repeat view (pair tables cached for the run)"] = timed(
        lambda: tab.load("ja"), args.repeat
    )
    results["baseline: votes into pandas, pairs built there"] = timed(
        lambda: pandas_baseline(sessions, tab), max(3, args.repeat // 2)
    )
    with sessions.begin() as s:  # now as if stored before the pair counts existed
        s.execute(delete(RunPairCount).where(RunPairCount.run_id == run.id))
    results["handler, first view of a run without pair counts (fallback GROUP BY)"] = first_views()
    print(f"\nleaderboard handler, {args.db}, {votes:,} votes, {n_models} models, ms:")
    print("| what | median ms | min–max ms |\n| --- | ---: | ---: |")
    for what, ms in results.items():
        print(f"| {what} | {statistics.median(ms):.0f} | {min(ms):.0f}–{max(ms):.0f} |")
    engine.dispose()
    if args.db == "postgresql":
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute('DROP DATABASE IF EXISTS "arena_bench_ui" WITH (FORCE)')


def bench_first_load(args: argparse.Namespace) -> None:
    """Fresh loads (empty cache each time) of the page as a returning volunteer, who
    accepted the first-visit dialog before (kept in the browser), until the prompt is
    enabled; and as a first visit, until the dialog's accept button can be pressed and
    the prompt behind it is enabled. With ``--baseline DIR`` the same loads of the app
    checked out in DIR (an older commit) alternate with these, in the same run."""
    from playwright.sync_api import sync_playwright

    from tests.conftest import CHROMIUM, CHROMIUM_ARGS, RunningApp, accept_first_visit

    # Every fresh context is a new voter from 127.0.0.1: more than the per-address limit.
    env = {"ARENA_RATE_VOTERS_PER_ADDRESS": "100000/hour"}
    apps = {"this commit": RunningApp(Path(tempfile.mkdtemp(prefix="bench-ui-page-")), env=env)}
    if args.baseline:
        base = Path(args.baseline).resolve()
        apps[f"baseline ({base.name})"] = RunningApp(
            Path(tempfile.mkdtemp(prefix="bench-ui-base-")), env=env, root=base
        )
    kinds = ("returning volunteer", "first visit (dialog shown)")
    times: dict[tuple[str, str], list[float]] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for k in range(args.loads + 1):
                for name, app in apps.items():
                    for kind in kinds if name == "this commit" else kinds[:1]:
                        context = browser.new_context(locale="ja-JP")
                        first = kind.startswith("first")
                        if not first:
                            accept_first_visit(context)
                        page = context.new_page()
                        start = time.perf_counter()
                        page.goto(app.url, wait_until="domcontentloaded")
                        if first:
                            page.wait_for_selector("#first-visit-accept:visible", timeout=30_000)
                        page.wait_for_selector("#arena-prompt textarea:enabled", timeout=30_000)
                        elapsed = time.perf_counter() - start
                        if k:  # the first round warms the apps' and the browser's caches
                            times.setdefault((name, kind), []).append(elapsed)
                        context.close()
            browser.close()
    finally:
        for app in apps.values():
            app.stop()
    print("\nfirst load to an interactive prompt, fresh contexts, s:")
    print("| app | load | median | min–max |\n| --- | --- | ---: | ---: |")
    for (name, kind), runs in times.items():
        print(f"| {name} | {kind} | {statistics.median(runs):.2f} | "
              f"{min(runs):.2f}–{max(runs):.2f} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--loads", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="20,000 votes, 3 repeats")
    parser.add_argument("--only", choices=("leaderboard", "page"))
    parser.add_argument(
        "--baseline", help="page: also load the app checked out in this folder (an older commit)"
    )
    args = parser.parse_args()
    if args.quick:
        args.votes, args.repeat, args.loads = 20_000, 3, 3
    if args.only != "page":
        bench_leaderboard(args)
    if args.only != "leaderboard":
        bench_first_load(args)


if __name__ == "__main__":
    main()
