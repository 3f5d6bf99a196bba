"""Benchmark the identity-leak detector on each labelled corpus, against older detectors.

Run from the repository root::

    python bench/bench_identity.py                     # 5 timing rounds
    python bench/bench_identity.py --rounds 10 --rev a0e251a

The detectors run on each corpus file with the models of ``arena.example.toml``, the demo
models and "Alpha-Model" (served as "vendor/alpha-served"), and with the prompt of each
case. The files (tests/data/):

- ``identity_corpus.jsonl``: the corpus the first rules were tuned on;
- ``identity_heldout.jsonl``: written before its author read the detector; the score of
  the detector of that time (``--rev a0e251a``) is its out-of-sample figure;
- ``identity_heldout2.jsonl`` … ``identity_heldout5.jsonl``: each written fresh after a
  round of changes, scored, then tuned on (fresh scores: docs/benchmarks.md);
- ``identity_heldout6.jsonl``: written after the last change to the rules, never tuned on.

It prints markdown tables (recorded in docs/benchmarks.md): per file and detector,
TP/FP/FN/TN, precision, recall and F1 (and per language for the current detector), then the
median wall-clock time of one call over all files (each answer timed once per round), over
their long answers, on the longest answer of the first corpus and on its long answers joined
(4,000 characters).

The detectors: the substring search battles.py used before :mod:`arena.integrity.identity`
(``GENERIC_IDENTITY_WORDS`` plus every configured ``name`` and last part of ``served_name``
at least 4 characters long, case-insensitive, prompts ignored); with ``--rev``, the
detector as it was at that git revision (its modules read with ``git show``); and the
current one.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
import tomllib
import types
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arena.config import ModelSpec, demo_models  # noqa: E402
from arena.integrity.identity import IdentityDetector  # noqa: E402

DATA = ROOT / "tests" / "data"
CORPORA = (
    "identity_corpus.jsonl",
    "identity_heldout.jsonl",
    *(f"identity_heldout{i}.jsonl" for i in range(2, 7)),
)
LONG = 500  # answers longer than this many characters are timed apart too
#: The old word list, as battles.py had it (used when arena.battles no longer has it).
GENERIC_IDENTITY_WORDS = (
    "OpenAI", "ChatGPT", "GPT-4", "GPT-3", "Anthropic", "Claude", "Gemini", "Google", "Bard",
    "PLaMo", "Preferred Networks", "Tanuki", "Llama", "Meta AI", "ELYZA", "Swallow", "CALM",
    "CyberAgent", "Karakuri", "カラクリ", "サイバーエージェント", "グーグル",
)  # fmt: skip

Flag = Callable[[str, list[str]], bool]


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


def detector_at(rev: str, models: Sequence[ModelSpec]) -> IdentityDetector:
    """The detector of git revision ``rev``, loaded apart from the current modules."""

    def show(path: str) -> str | None:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{rev}:{path}"], capture_output=True, text=True
        )
        return out.stdout if out.returncode == 0 else None

    import arena.integrity as package

    # The detector's modules, dependencies first; a revision holds those it had (before
    # issue 16 only identity_names and identity). Each is loaded under its own name while
    # the next ones import it, and the current modules are put back afterwards.
    parts = ("identity_text", "identity_names", "identity_context", "identity_rules",
             "identity_signed")  # fmt: skip
    saved = {part: sys.modules.get(f"arena.integrity.{part}") for part in parts}
    saved_attributes = {part: getattr(package, part, None) for part in parts}
    try:
        module = None
        for part in (*parts, "identity"):
            source = show(f"arena/integrity/{part}.py")
            if source is None:
                continue
            name = f"arena.integrity.{part}" if part in parts else f"_identity_at_{rev}"
            module = types.ModuleType(name)
            sys.modules[name] = module  # dataclasses look their module up
            if part in parts:  # "from arena.integrity import identity_names" reads this
                setattr(package, part, module)
            exec(compile(source, f"{rev}:arena/integrity/{part}.py", "exec"), module.__dict__)
        assert module is not None, rev
        return module.IdentityDetector(models)
    finally:
        for part in parts:
            key = f"arena.integrity.{part}"
            if saved[part] is not None:
                sys.modules[key] = saved[part]
            else:
                sys.modules.pop(key, None)
            if saved_attributes[part] is not None:
                setattr(package, part, saved_attributes[part])
            elif hasattr(package, part):
                delattr(package, part)


def load(name: str) -> list[dict]:
    path = DATA / name
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def counts(rows: list[dict], flag: Flag) -> dict[str, list[int]]:
    """[TP, FP, FN, TN] by language and overall."""
    out = {"ja": [0, 0, 0, 0], "en": [0, 0, 0, 0], "all": [0, 0, 0, 0]}
    for row in rows:
        flagged = flag(row["answer"], [row["prompt"]] if row["prompt"] else [])
        cell = (0 if flagged else 2) if row["leak"] else (1 if flagged else 3)
        out[row["lang"]][cell] += 1
        out["all"][cell] += 1
    return out


def scores(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def row_text(cells: Sequence[str], tp: int, fp: int, fn: int, tn: int) -> str:
    p, r, f1 = scores(tp, fp, fn)
    return (
        "| "
        + " | ".join([*cells, *map(str, (tp, fp, fn, tn))])
        + (f" | {p:.3f} | {r:.3f} | {f1:.3f} |")
    )


def timings(rows: list[dict], flag: Flag, rounds: int, texts: Sequence[str]) -> list[float]:
    """Median seconds per call (all, long answers), then on each of ``texts``."""
    times: list[float] = []
    long_times: list[float] = []
    for _ in range(rounds):
        for row in rows:
            prompts = [row["prompt"]] if row["prompt"] else []
            start = time.perf_counter()
            flag(row["answer"], prompts)
            times.append(time.perf_counter() - start)
            if len(row["answer"]) > LONG:
                long_times.append(times[-1])
    cells = [statistics.median(times), sorted(times)[int(len(times) * 0.95)]]
    cells.append(statistics.median(long_times))
    for text in texts:
        repeated = []
        for _ in range(max(20, rounds * 4)):
            start = time.perf_counter()
            flag(text, [])
            repeated.append(time.perf_counter() - start)
        cells.append(statistics.median(repeated))
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timing rounds over the corpora")
    parser.add_argument("--rev", help="also run the detector of this git revision")
    args = parser.parse_args()

    files = {name: load(name) for name in CORPORA}
    files = {name: rows for name, rows in files.items() if rows}
    everything = [row for rows in files.values() for row in rows]
    models = corpus_models()
    old_re = re.compile("|".join(re.escape(w) for w in identity_words(models)), re.IGNORECASE)
    detector = IdentityDetector(models)
    detectors: dict[str, Flag] = {
        "substring search": lambda answer, prompts: old_re.search(answer) is not None
    }
    if args.rev:
        previous = detector_at(args.rev, models)
        detectors[f"IdentityDetector @ {args.rev}"] = lambda answer, prompts: (
            previous.find(answer, prompts) is not None
        )
    detectors["IdentityDetector (current)"] = lambda answer, prompts: (
        detector.find(answer, prompts) is not None
    )

    print("Corpora:")
    for name, rows in files.items():
        n_ja = sum(r["lang"] == "ja" for r in rows)
        n_leak = sum(r["leak"] for r in rows)
        print(f"- {name}: {len(rows)} answers ({n_ja} Japanese), {n_leak} leaking")
    print("\n| corpus | detector | TP | FP | FN | TN | precision | recall | F1 |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    by_lang: dict[str, dict[str, list[int]]] = {}
    for name, rows in [*files.items(), ("all files", everything)]:
        for label, flag in detectors.items():
            found = counts(rows, flag)
            print(row_text([name, label], *found["all"]))
            if label.endswith("(current)"):
                by_lang[name] = found
    print("\nCurrent detector by language:\n")
    print("| corpus | lang | TP | FP | FN | TN | precision | recall | F1 |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, found in by_lang.items():
        for lang in ("ja", "en"):
            print(row_text([name, lang], *found[lang]))

    # The longest answer of the first corpus (a history of LLMs, ~4,000 characters), and its
    # long answers joined and cut to 4,000 characters: 61 mentions of names (Google, タヌキ,
    # 狸, DeepMind, ...), the hardest case for the detectors with rules.
    first = files[CORPORA[0]]
    longest = max((r["answer"] for r in first), key=len)
    joined = "\n".join(r["answer"] for r in first if len(r["answer"]) > 800)[:4000]
    n_long = sum(len(r["answer"]) > LONG for r in everything)
    print(
        f"\nTimes over all {len(everything)} answers ({n_long} longer than {LONG} characters), "
        f"{args.rounds} rounds:\n"
    )
    print(
        "| detector | median µs per call | 95th percentile µs "
        f"| median µs, answers > {LONG} chars | longest answer ({len(longest):,} chars) µs "
        f"| {len(joined):,}-char joined answer µs |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, flag in detectors.items():
        cells = timings(everything, flag, args.rounds, (longest, joined))
        print(f"| {label} | " + " | ".join(f"{c * 1e6:.1f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
