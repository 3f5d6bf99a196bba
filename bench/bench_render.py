"""Speed of the one rendering path (``arena.render.render``) against a named baseline.

The baseline, in the same process run, is markdown-it-py (the parser issue 11 suggests:
CommonMark with raw HTML off) followed by the same ``nh3`` sanitiser call with its
default allow-list. Times are CPU time of one call (``time.thread_time``), median of
``--runs`` calls, each on a new string (``render`` caches results). Targets: 4,000
characters under 5 ms, 32,000 under 50 ms; hostile inputs stay linear.

    python bench/bench_render.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import nh3
from markdown_it import MarkdownIt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arena.render import render

SAMPLE = (
    "これは**テスト**です。Markdown の `code` と [リンク](https://example.com) を含む文章、"
    "式 $x^2$ と値段 $5。\n"
    * 3
    + "\n```python\ndef f(x):\n    return x < 3 and x > 1\n```\n\n"
    + "| a | b |\n|---|---|\n| 1 | 2 |\n\n- one\n- two $E=mc^2$\n\n"
)
HOSTILE = {
    "quotes": ">" * 32000,
    "lists": "- " * 16000,
    "open parens": "\\(" * 16000,
    "brackets": "[" * 32000,
    "emphasis": "*a *b* " * 4500,
    "dollars": "$1 $2 " * 5000,
}
_MD = MarkdownIt("commonmark", {"html": False}).enable("table").enable("strikethrough")


def baseline(text: str) -> str:
    return nh3.clean(_MD.render(text))


def cpu_ms(fn: Callable[[str], str], text: str, runs: int) -> float:
    times = []
    for i in range(runs):
        variant = f"{text}{i}"
        start = time.thread_time()
        fn(variant)
        times.append((time.thread_time() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    cases = {f"{n:,} characters": (SAMPLE * (n // len(SAMPLE) + 1))[:n] for n in (4000, 32000)}
    cases |= {f"hostile: {k}": v for k, v in HOSTILE.items()}
    print("| input | arena.render ms | markdown-it-py + nh3 ms |")
    print("| --- | ---: | ---: |")
    for label, text in cases.items():
        ours = cpu_ms(render, text, args.runs)
        base = cpu_ms(baseline, text, max(3, args.runs // 5))
        print(f"| {label} | {ours:.1f} | {base:.1f} |", flush=True)


if __name__ == "__main__":
    main()
