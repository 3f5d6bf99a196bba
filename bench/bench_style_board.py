"""Benchmark of the style-controlled leaderboard (issue 15 item 1): what its first view
costs, and a later one (the cache).

Run from the repository root::

    python bench/bench_style_board.py                    # 100,000 votes on SQLite
    python bench/bench_style_board.py --database-url postgresql+psycopg://...
    python bench/bench_style_board.py --votes 1000000    # a bigger database (minutes)

It fills a database with ``--votes`` voted blind battles between 20 models: a prompt and
two answers each, the answers' lengths and Markdown (headers, list items, bold) drawn per
model, winners drawn from the style-control model (strength plus a taste for length).
``--without-meta`` of the battles (default 10%) are stored as the arena stored them before
``battles.meta`` kept their ``conv_metadata``, so their counts come from their messages.
Then one rating run, and for the whole board and for the Japanese-prompt filter the
style-controlled board (arena.style_board) on its first view (the query, the counts, both
fits) and the median of five later views. It prints a markdown table (recorded in
docs/benchmarks.md, "Style-controlled board (issue 15)").
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert

from arena.dataset import conv_metadata
from arena.db import make_engine, migrate, session_factory, stats
from arena.db.models import (
    Battle,
    BattleMode,
    BattleStatus,
    Message,
    Model,
    Side,
    Vote,
    Voter,
    Winner,
)
from arena.recompute import recompute
from arena.style_board import style_board

MODELS = [f"Model-{i:02d}" for i in range(20)]
BATCH = 5000


def _answer(rng: random.Random, words: int, markdown: float) -> str:
    """An answer of about ``words`` words, with headers, list items and bold at the rate
    ``markdown``."""
    lines = []
    for _ in range(max(1, words // 12)):
        r = rng.random()
        if r < markdown * 0.2:
            lines.append("## 見出し")
        elif r < markdown:
            lines.append("- 項目 **大事** です")
        else:
            lines.append("これは回答の一文です。" + "word " * 8)
    return "\n".join(lines)


def fill(url: str, votes: int, without_meta: float, seed: int = 0) -> None:
    rng = random.Random(seed)
    engine = make_engine(url)
    migrate(engine)
    sessions = session_factory(engine)
    with sessions.begin() as s:
        s.add_all(Model(name=m, provider="openai") for m in MODELS)
    with sessions() as s:
        ids = [s.query(Model.id).filter(Model.name == m).scalar() for m in MODELS]
    at = datetime.now(UTC) - timedelta(days=1)
    strength = {i: rng.gauss(0, 0.7) for i in ids}
    words = {i: rng.choice((60, 120, 240, 480)) for i in ids}
    markdown = {i: rng.choice((0.0, 0.2, 0.5)) for i in ids}
    for start in range(0, votes, BATCH):
        n = min(BATCH, votes - start)
        with sessions.begin() as s:
            voters = s.scalars(
                insert(Voter).returning(Voter.id, sort_by_parameter_order=True),
                [{"token": uuid.uuid4().hex} for _ in range(n)],
            ).all()
            battles, messages, ballots = [], [], []
            for voter in voters:
                a, b = rng.sample(ids, 2)
                bid = uuid.uuid4().hex
                japanese = rng.random() < 0.7
                prompt = "日本の城について教えて" if japanese else "Tell me about castles."
                sides = {}
                for side, model in ((Side.A, a), (Side.B, b)):
                    text = _answer(rng, int(words[model] * rng.lognormvariate(0, 0.4)),
                                   markdown[model])  # fmt: skip
                    tokens = len(text.encode()) // 3
                    sides[side] = [
                        {"role": "user", "content": prompt, "num_tokens": len(prompt)},
                        {"role": "assistant", "content": text, "num_tokens": tokens},
                    ]
                    for m in sides[side]:
                        messages.append(dict(battle_id=bid, side=side, turn=1, role=m["role"],
                                             content=m["content"],
                                             completion_tokens=m["num_tokens"]))  # fmt: skip
                meta = None
                if rng.random() >= without_meta:
                    counts = conv_metadata(sides[Side.A], sides[Side.B])
                    meta = json.dumps({"conv_metadata": counts})
                la = sides[Side.A][1]["num_tokens"]
                lb = sides[Side.B][1]["num_tokens"]
                x = (la - lb) / (la + lb + 1)
                p = 1 / (1 + 10 ** (-(strength[a] - strength[b] + 1.5 * x)))
                winner = Winner.MODEL_A if rng.random() < p else Winner.MODEL_B
                battles.append(dict(id=bid, voter_id=voter, model_a_id=a, model_b_id=b,
                                    mode=BattleMode.ANONY, status=BattleStatus.VOTED, turns=1,
                                    created_at=at, meta=meta,
                                    prompt_language="ja" if japanese else "en"))  # fmt: skip
                ballots.append(dict(battle_id=bid, voter_id=voter, winner=winner, voided=False,
                                    created_at=at))  # fmt: skip
            s.execute(insert(Battle), battles)
            s.execute(insert(Message), messages)
            s.execute(insert(Vote), ballots)
    engine.dispose()


def views(url: str, votes: int) -> None:
    engine = make_engine(url)
    recompute(engine, anchor=MODELS[0], rules=None)
    sessions = session_factory(engine)
    print(f"\n{votes:,} votes, {len(MODELS)} models ({engine.dialect.name}):\n")
    print("| board | votes | counted from messages | moved | length coefficient "
          "| first view | later view |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for key in ("all", "ja"):
        with sessions() as s:
            run = stats.latest_run(s)
            start = time.perf_counter()
            board = style_board(s, run, key)
            first = time.perf_counter() - start
            again = []
            for _ in range(5):
                start = time.perf_counter()
                style_board(s, run, key)
                again.append(time.perf_counter() - start)
        moved = sum(1 for r in board.rows if board.change(r.model))
        length = board.coefficient("length")
        coef = f"{length.points:+.0f} ({length.lower:+.0f} to {length.upper:+.0f})"
        later = statistics.median(again) * 1000
        print(f"| {key} | {board.votes:,} | {board.from_messages:,} | {moved}/{len(board.rows)} "
              f"| {coef} | {first * 1000:.0f} ms | {later:.3f} ms |")  # fmt: skip
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=100_000)
    parser.add_argument("--without-meta", type=float, default=0.1,
                        help="share of battles stored without conv_metadata")  # fmt: skip
    parser.add_argument("--database-url", help="default: a new SQLite file in a temp folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        start = time.perf_counter()
        fill(url, args.votes, args.without_meta)
        print(f"(filled {args.votes:,} votes in {time.perf_counter() - start:.0f} s)")
        views(url, args.votes)


if __name__ == "__main__":
    main()
