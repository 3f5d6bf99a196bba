"""Benchmarks of the categories (issue 15 item 2): what tagging costs and what a
per-category board costs on its first view.

Run from the repository root::

    python bench/bench_categories.py                  # detection, and 100,000 votes on SQLite
    python bench/bench_categories.py --votes 1000000  # a bigger database (minutes to fill)
    python bench/bench_categories.py --database-url postgresql+psycopg://...

It prints markdown tables (recorded in docs/benchmarks.md, "Categories (issue 15)"):

* the language detector: its load time and memory, the time per prompt (short prompts,
  and long ones of about 4,500 characters, cut at arena.categories.DETECT_CHARS) and the
  share of a labelled set of 36 short prompts in ten languages it reads right, in
  lingua's high- and low-accuracy modes;
* the rules (arena.categories.categorise) per battle;
* a database of ``--votes`` voted blind battles between 20 models (a prompt and two
  answers each, prompts drawn from a mix of Japanese and English, coding, math,
  writing and Japan): the back-fill (what migration 0010 and ``python -m arena
  categorise`` do) per battle, then one rating run, then each filter's board on its
  first view (arena.category_board: the GROUP BY and the fit) and on a second view
  (the cache).
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import resource
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arena.categories import (
    DETECT_CHARS,
    LANGUAGE_CODES,
    categorise,
    detector,
    tag_untagged,
)
from arena.category_board import FILTERS, category_board
from arena.db import make_engine, session_factory, stats
from arena.db.models import Side
from arena.recompute import recompute
from bench.board_bench import Draw, Drawn, fill, first_and_later

#: Short prompts with their language, as volunteers type them.
LABELLED = [
    ("こんにちは", "ja"), ("日本の首都はどこですか？", "ja"), ("おすすめの本を教えて", "ja"),
    ("東京の天気", "ja"), ("富士山の高さは？", "ja"), ("自己紹介してください", "ja"),
    ("敬語の使い方を説明して", "ja"), ("量子力学とは", "ja"),
    ("Pythonでクイックソートを書いて", "ja"),
    ("猫についての詩を書いて", "ja"), ("ありがとう", "ja"), ("カレーの作り方", "ja"),
    ("以下の文章を要約してください。人工知能は近年急速に発展している。", "ja"),
    ("明日の予定を立てるのを手伝って", "ja"), ("hello", "en"), ("Hi there!", "en"),
    ("What is the capital of France?", "en"), ("Write a poem about the sea.", "en"),
    ("Explain quantum computing in simple terms.", "en"),
    ("How do I sort a list in Python?", "en"), ("thanks", "en"), ("Who are you?", "en"),
    ("Tell me a joke", "en"), ("Summarize the plot of Hamlet.", "en"), ("What's 2+2?", "en"),
    ("Can you help me write an email to my boss?", "en"), ("Explain 敬語 to me please", "en"),
    ("你好，请介绍一下你自己", "zh"), ("今天天气怎么样？", "zh"),
    ("안녕하세요, 자기소개 해주세요", "ko"), ("Bonjour, comment ça va ?", "fr"),
    ("Wie spät ist es?", "de"), ("¿Cuál es la capital de España?", "es"),
    ("Come stai oggi?", "it"), ("Qual é o seu nome?", "pt"), ("Как дела?", "ru"),
]  # fmt: skip
LONG = [
    "The quick brown fox jumps over the lazy dog. " * 100,
    "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。" * 60,
]
#: The database's prompts: (prompt, share).
PROMPTS = [
    ("日本の城について教えてください", 3), ("おすすめの映画を教えて", 4),
    ("Pythonでファイルを読み込むコードを書いて", 2), ("Write a short story about a robot.", 1),
    ("方程式 3x + 2 = 11 を解いて", 1), ("What is the capital of Australia?", 2),
    ("How do I reverse a list in JavaScript?", 1), ("秋の俳句を作って", 1),
]  # fmt: skip
MODELS = [f"Model-{i:02d}" for i in range(20)]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def _mode(low: bool) -> tuple[float, float, float, float, int]:
    """One lingua mode in a fresh process: load time, memory grown (MB), time per short
    and per long prompt, prompts of LABELLED read right."""
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    codes = [getattr(IsoCode639_1, c.upper()) for c in LANGUAGE_CODES]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
    if low:
        builder = builder.with_low_accuracy_mode()
    detector = builder.with_preloaded_language_models().build()
    load = time.perf_counter() - start
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    right = 0
    start = time.perf_counter()
    for _ in range(20):
        for text, lang in LABELLED:
            found = detector.detect_language_of(text)
            right += (found.iso_code_639_1.name.lower() if found else "und") == lang
    short = (time.perf_counter() - start) / (20 * len(LABELLED))
    start = time.perf_counter()
    for _ in range(20):
        for text in LONG:
            detector.detect_language_of(text[:DETECT_CHARS])
    long = (time.perf_counter() - start) / (20 * len(LONG))
    return load, grown, short, long, right // 20


def detection() -> None:
    print("| lingua mode | load (GIL held) | memory | short prompt | long prompt | right |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    spawn = multiprocessing.get_context("spawn")
    for low in (False, True):
        with spawn.Pool(1) as pool:
            load, grown, short, long, right = pool.apply(_mode, (low,))
        mode = "low accuracy" if low else "high accuracy (used)"
        print(f"| {mode} | {load:.2f} s | {grown:.0f} MB | {_ms(short)} | {_ms(long)} | "
              f"{right}/{len(LABELLED)} |")  # fmt: skip
    prompts = [p for p, _ in PROMPTS]
    answers = [("a", "答え" * 200, 400), ("b", "```\ncode\n```", 10)]
    start = time.perf_counter()
    for _ in range(2000):
        for p in prompts:
            categorise([p], answers, 1)
    rules = (time.perf_counter() - start) / (2000 * len(prompts))
    print(f"\nThe rules (categorise, one battle): {_ms(rules)}.")


def _draws(rng: random.Random, ids: list[int]) -> Draw:
    """Each model's strength, then per battle a prompt from the mix and two answers."""
    texts, weights = zip(*PROMPTS, strict=True)
    strength = {i: rng.gauss(0, 1) for i in ids}

    def draw(rng: random.Random, a: int, b: int) -> Drawn:
        prompt = rng.choices(texts, weights)[0]
        messages: list[dict[str, object]] = []
        for side in (Side.A, Side.B):
            messages.append(dict(side=side, turn=1, role="user", content=prompt))
            messages.append(dict(side=side, turn=1, role="assistant", content="答え" * 50,
                                 completion_tokens=120))  # fmt: skip
        return Drawn(messages, {}, 1 / (1 + 10 ** (-(strength[a] - strength[b]))))

    return draw


def boards(url: str, votes: int) -> None:
    engine = make_engine(url)
    detector()  # loaded once per process (timed above), not part of the back-fill
    start = time.perf_counter()
    with engine.begin() as conn:
        tagged = tag_untagged(conn, retag=True)
    backfill = time.perf_counter() - start
    print(f"\nBack-fill: {tagged:,} battles in {backfill:.1f} s "
          f"({backfill / max(tagged, 1) * 1000:.3f} ms a battle).")  # fmt: skip
    recompute(engine, anchor=MODELS[0], rules=None)
    sessions = session_factory(engine)
    print(f"\n{votes:,} votes, {len(MODELS)} models ({engine.dialect.name}):\n")
    print("| filter | votes | rated | first view | second view |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for key in FILTERS[1:]:
        with sessions() as s:
            run = stats.latest_run(s)
            board, first, later = first_and_later(partial(category_board, s, run, key))
        print(f"| {key} | {board.votes:,} | {len(board.rows)} | {_ms(first)} | {_ms(later)} |")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=100_000)
    parser.add_argument("--database-url", help="default: a new SQLite file in a temp folder")
    parser.add_argument("--skip-detection", action="store_true")
    args = parser.parse_args()
    if not args.skip_detection:
        detection()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        start = time.perf_counter()
        fill(url, args.votes, MODELS, _draws)
        print(f"\n(filled {args.votes:,} votes in {time.perf_counter() - start:.0f} s)")
        boards(url, args.votes)


if __name__ == "__main__":
    main()
