"""Benchmark the identity-leak detector against the substring search it replaces.

Run from the repository root::

    python bench/bench_identity.py             # 5 timing rounds over the corpus
    python bench/bench_identity.py --rounds 20

Both detectors run on the labelled corpus ``tests/data/identity_corpus.jsonl`` with the
models of ``arena.example.toml``, the demo models and "Alpha-Model" (served as
"vendor/alpha-served"). It prints a markdown table (recorded in docs/benchmarks.md,
"## Identity leaks"): TP/FP/FN/TN, precision, recall and F1 per language and overall, and
the median wall-clock time of one call over the corpus (each answer timed once per round),
over its long answers, on its longest answer and on its long answers joined (4,000 chars).

The baseline is the rule battles.py used before :mod:`arena.integrity.identity`: a
case-insensitive substring search for ``GENERIC_IDENTITY_WORDS`` plus every configured
``name`` and last part of ``served_name`` at least 4 characters long, prompts ignored. It
is imported from arena.battles while it exists there, else the copy below is used.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arena.config import ModelSpec, demo_models  # noqa: E402
from arena.integrity.identity import IdentityDetector  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "identity_corpus.jsonl"
LONG = 500  # answers longer than this many characters are timed apart too
#: The old word list, as battles.py had it (used when arena.battles no longer has it).
GENERIC_IDENTITY_WORDS = (
    "OpenAI", "ChatGPT", "GPT-4", "GPT-3", "Anthropic", "Claude", "Gemini", "Google", "Bard",
    "PLaMo", "Preferred Networks", "Tanuki", "Llama", "Meta AI", "ELYZA", "Swallow", "CALM",
    "CyberAgent", "Karakuri", "カラクリ", "サイバーエージェント", "グーグル",
)  # fmt: skip


def identity_words(models: Sequence[ModelSpec]) -> tuple[str, ...]:
    """The old rule's words: the generic list plus configured names (at least 4 chars)."""
    try:
        from arena import battles

        return tuple(battles.identity_words(tuple(models)))  # type: ignore[attr-defined]
    except AttributeError:
        words = set(GENERIC_IDENTITY_WORDS)
        for m in models:
            words.add(m.name)
            words.add(m.served_name.split("/")[-1])
        return tuple(sorted(w for w in words if len(w) >= 4))


def corpus_models() -> list[ModelSpec]:
    raw = tomllib.loads((ROOT / "arena.example.toml").read_text(encoding="utf-8"))["models"]
    models = [ModelSpec(name=m["name"], provider=m["provider"], model=m["model"]) for m in raw]
    alpha = ModelSpec(name="Alpha-Model", provider="vllm", model="vendor/alpha-served")
    return [*models, *demo_models(), alpha]


def measure(
    rows: list[dict], flag: Callable[[str, list[str]], bool], rounds: int
) -> tuple[dict[str, list[int]], list[float], list[float]]:
    """Counts [TP, FP, FN, TN] by language; seconds per call, all and on long answers."""
    counts = {"ja": [0, 0, 0, 0], "en": [0, 0, 0, 0], "all": [0, 0, 0, 0]}
    times: list[float] = []
    long_times: list[float] = []
    for i in range(rounds):
        for row in rows:
            prompts = [row["prompt"]] if row["prompt"] else []
            start = time.perf_counter()
            flagged = flag(row["answer"], prompts)
            times.append(time.perf_counter() - start)
            if len(row["answer"]) > LONG:
                long_times.append(times[-1])
            if i:
                continue
            cell = (0 if flagged else 2) if row["leak"] else (1 if flagged else 3)
            counts[row["lang"]][cell] += 1
            counts["all"][cell] += 1
    return counts, sorted(times), long_times


def scores(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timing rounds over the corpus")
    args = parser.parse_args()

    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    models = corpus_models()
    old_re = re.compile("|".join(re.escape(w) for w in identity_words(models)), re.IGNORECASE)
    detector = IdentityDetector(models)
    detectors: dict[str, Callable[[str, list[str]], bool]] = {
        "old: substring search": lambda answer, prompts: old_re.search(answer) is not None,
        "new: IdentityDetector.find": lambda answer, prompts: (
            detector.find(answer, prompts) is not None
        ),
    }
    # The longest answer of the corpus (a history of LLMs, ~4,000 characters), and the long
    # answers joined and cut to 4,000 characters: 61 mentions of names (Google, タヌキ, 狸,
    # DeepMind, ...), the hardest case for the new detector.
    longest = max((r["answer"] for r in rows), key=len)
    joined_text = "\n".join(r["answer"] for r in rows if len(r["answer"]) > 800)[:4000]
    n_long = sum(len(r["answer"]) > LONG for r in rows)

    n_ja = sum(r["lang"] == "ja" for r in rows)
    n_leak = sum(r["leak"] for r in rows)
    print(
        f"Corpus: {len(rows)} answers ({n_ja} Japanese, {len(rows) - n_ja} English), "
        f"{n_leak} leaking; {n_long} longer than {LONG:,} characters; {args.rounds} timing "
        "rounds.\n"
    )
    print("| detector | lang | TP | FP | FN | TN | precision | recall | F1 |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    timing: list[tuple[str, list[float]]] = []
    for label, flag in detectors.items():
        counts, times, long_times = measure(rows, flag, args.rounds)
        for lang in ("ja", "en", "all"):
            tp, fp, fn, tn = counts[lang]
            p, r, f1 = scores(tp, fp, fn)
            print(
                f"| {label} | {lang} | {tp} | {fp} | {fn} | {tn} | {p:.3f} | {r:.3f} | {f1:.3f} |"
            )
        cells = [statistics.median(times), times[int(len(times) * 0.95)]]
        cells.append(statistics.median(long_times))
        for text in (longest, joined_text):
            repeated = []
            for _ in range(max(20, args.rounds * 4)):
                start = time.perf_counter()
                flag(text, [])
                repeated.append(time.perf_counter() - start)
            cells.append(statistics.median(repeated))
        timing.append((label, cells))
    print(
        "\n| detector | median µs per call | 95th percentile µs "
        f"| median µs, answers > {LONG} chars | longest answer ({len(longest):,} chars) µs "
        f"| {len(joined_text):,}-char joined answer µs |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, cells in timing:
        print(f"| {label} | " + " | ".join(f"{c * 1e6:.1f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
