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
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arena.dataset import conv_metadata
from arena.db import make_engine, session_factory, stats
from arena.db.models import Side
from arena.recompute import recompute
from arena.style_board import style_board
from bench.board_bench import Draw, Drawn, fill, first_and_later

MODELS = [f"Model-{i:02d}" for i in range(20)]


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


def _draws(rng: random.Random, ids: list[int], without_meta: float) -> Draw:
    """Each model's strength, length and Markdown rate, then per battle a prompt (70%
    Japanese) and two answers; ``without_meta`` of the battles without conv_metadata."""
    strength = {i: rng.gauss(0, 0.7) for i in ids}
    words = {i: rng.choice((60, 120, 240, 480)) for i in ids}
    markdown = {i: rng.choice((0.0, 0.2, 0.5)) for i in ids}

    def draw(rng: random.Random, a: int, b: int) -> Drawn:
        japanese = rng.random() < 0.7
        prompt = "日本の城について教えて" if japanese else "Tell me about castles."
        sides, messages = {}, []
        for side, model in ((Side.A, a), (Side.B, b)):
            text = _answer(rng, int(words[model] * rng.lognormvariate(0, 0.4)), markdown[model])
            sides[side] = [
                {"role": "user", "content": prompt, "num_tokens": len(prompt)},
                {"role": "assistant", "content": text, "num_tokens": len(text.encode()) // 3},
            ]
            messages += [dict(side=side, turn=1, role=m["role"], content=m["content"],
                              completion_tokens=m["num_tokens"]) for m in sides[side]]  # fmt: skip
        meta = None
        if rng.random() >= without_meta:
            meta = json.dumps({"conv_metadata": conv_metadata(sides[Side.A], sides[Side.B])})
        la, lb = sides[Side.A][1]["num_tokens"], sides[Side.B][1]["num_tokens"]
        x = (la - lb) / (la + lb + 1)
        columns = {"meta": meta, "prompt_language": "ja" if japanese else "en"}
        return Drawn(messages, columns, 1 / (1 + 10 ** (-(strength[a] - strength[b] + 1.5 * x))))

    return draw


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
            board, first, later = first_and_later(partial(style_board, s, run, key))
        moved = sum(1 for r in board.rows if board.change(r.model))
        length = board.coefficient("length")
        coef = f"{length.points:+.0f} ({length.lower:+.0f} to {length.upper:+.0f})"
        print(f"| {key} | {board.votes:,} | {board.from_messages:,} | {moved}/{len(board.rows)} "
              f"| {coef} | {first * 1000:.0f} ms | {later * 1000:.3f} ms |")  # fmt: skip
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
        fill(url, args.votes, MODELS, partial(_draws, without_meta=args.without_meta))
        print(f"(filled {args.votes:,} votes in {time.perf_counter() - start:.0f} s)")
        views(url, args.votes)


if __name__ == "__main__":
    main()
