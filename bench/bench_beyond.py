"""Benchmarks of issue 15 ("ratings a reader can act on").

Run from the repository root::

    python bench/bench_beyond.py --only sampling            # about 4 minutes on 2 cores
    python bench/bench_beyond.py --only sampling --quick    # a few seeds, seconds
    python bench/bench_beyond.py --only style               # 200 simulated arenas, ~10 s
    python bench/bench_beyond.py --only timing              # 1,000,000 votes, 100 models, ~2 min

It prints markdown tables (recorded in docs/benchmarks.md, "Beyond (issue 15)").

Style control
-------------
Each run simulates an arena of the seed's 13 models (their ratings as the truth) whose
answers differ in style: per model a typical length (log-normal, the models' medians
spread by a factor of about 2) and typical header, list and bold counts (Poisson). Votes
follow :mod:`ratings.style`'s model with a known length effect (``LENGTH_EFFECT`` log-odds
per standard deviation of the normalised length difference, a little more than LMArena
reported, about 0.25) and small Markdown effects, ties taken evenly from both sides as
below. Reported over the runs: how often the plain fit's interval misses the truth (and
how its error follows the models' verbosity), how often the style-controlled interval
covers it (target at least 90%), and the coefficients recovered.

Timing
------
The additions of issue 15 on 1,000,000 votes between 100 models (uniform pairs, four
style features), each calling the code the app runs, the median of a few repeats:

* the fits: the plain fit (aggregate, Newton, sandwich), the style-controlled fit
  (target at most 1 s) and the Davidson fit;
* the category boards: what :mod:`arena.category_board` computes after its ``GROUP BY``
  (the vote threshold, the fit as the run's, the pair table) for one filter holding
  ``CATEGORY_SHARE`` of the votes, and for every filter one after another (the app fits
  each on its first view; ``FILTER_SHARES`` is an assumed mix); the query itself is
  timed by bench/bench_categories.py;
* the tagging of :mod:`arena.categories`: the detector's load in a fresh process, and
  per battle the first prompt's language and the rule categories, on generated battles
  (about 70% Japanese; short asks, pasted prose, code, several turns);
* votes until separated (:func:`ratings.separation.votes_until_separated`) for the
  board's 99 pairs of neighbours;
* active sampling: one pick as :meth:`arena.battle_draw.Drawing.draw_pair` makes it
  (:func:`arena.sampling.choose_active` under the health lock), its
  :func:`ratings.separation.pair_values`, and the weighted pick of the other draws.

Sampling
--------
Votes are simulated from the seed's 13 ratings (``tests/golden/seed_table.json``)
taken as the true strengths: P(A beats B) by Bradley-Terry, and a tie (of either
kind) with probability ``2 * TIE_SHARE * min(p, 1 - p)``, taken evenly from both
sides' chances so each side's expected score stays ``p`` (the half-win coding is
then the right model); about 15% of the votes are ties, as in the seed. Three ways
of choosing the next pair are compared:

* ``uniform``: every pair equally likely;
* ``weighted``: the arena's rule, :func:`arena.sampling.choose_pair` (all weights 1);
* ``active``: :func:`arena.sampling.choose_active` with its default epsilon.

Every ``--refit`` votes the ratings are refitted as the arena does
(:func:`ratings.rate`, sandwich intervals, the anchor at 1000); the active sampler
sees the latest fit (as the app sees the latest run) and the pair counts after it.
Measured per seed: the votes until every pair of true neighbours whose true gap is
at least ``TARGET_GAP`` points has separate intervals (the higher model's lower
bound above the lower model's upper bound), checked at each refit; the mean
half-width after 2,000 votes; and the coverage of the true ratings, after 2,000
votes and when the pairs separated. Coverage is counted two ways: against the truth
relative to the field mean (what the intervals are for, see :mod:`ratings.intervals`)
and against the truth anchored like the app (Tanuki-8B-dpo-v1.0 = 1000; its own
interval always covers, the others are wider in truth than the interval says).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arena.category_board import fit_counts, pair_table  # noqa: E402
from arena.sampling import (  # noqa: E402
    ACTIVE_EPSILON,
    ACTIVE_THRESHOLD,
    Board,
    choose_active,
    choose_pair,
    pair_key,
)
from ratings import (  # noqa: E402
    DEFAULT_PRIOR,
    ELO_SCALE,
    PairCounts,
    aggregate,
    rate,
)
from ratings.bt import expit  # noqa: E402

SEED_TABLE = ROOT / "tests" / "golden" / "seed_table.json"
#: Each side gives up this share of min(p, 1 - p) to a tie (about 15% ties overall).
TIE_SHARE = 0.17
#: Neighbours at least this far apart in truth must separate.
TARGET_GAP = 25.0
#: Votes after which the half-widths and coverage are reported.
AT_VOTES = 2000
POLICIES = ("uniform", "weighted", "active")


@dataclass
class Outcome:
    """One simulated arena: what the sampling comparison reports."""

    policy: str
    seed: int
    votes_needed: int | None  # None: not separated within the budget
    half_at: float  # mean half-width after AT_VOTES votes
    cover_at: tuple[int, int]  # (covered, models) after AT_VOTES, truth relative to the mean
    cover_anchor_at: tuple[int, int]  # the same, truth anchored at the anchor
    cover_stop: tuple[int, int]  # when the pairs separated, truth relative to the mean
    ties: float  # share of votes that were ties
    seconds: float


def seed_ratings() -> tuple[list[str], np.ndarray, int]:
    """The seed's model names, ratings and the anchor's index."""
    table = json.loads(SEED_TABLE.read_text(encoding="utf-8"))
    names = [m["model"] for m in table["models"]]
    rating = np.array([m["rating"] for m in table["models"]], float)
    return names, rating, names.index(table["anchor"])


def targets(truth: np.ndarray) -> list[tuple[int, int]]:
    """True neighbours (higher, lower) at least TARGET_GAP apart."""
    order = np.argsort(-truth)
    return [(int(hi), int(lo)) for hi, lo in pairwise(order) if truth[hi] - truth[lo] >= TARGET_GAP]


def simulate(policy: str, seed: int, budget: int, refit: int) -> Outcome:
    """One arena from the first vote until the target pairs separate (or ``budget``)."""
    started = time.perf_counter()
    names, truth, anchor = seed_ratings()
    n = len(names)
    pairs_to_split = targets(truth)
    rng = np.random.default_rng(seed)
    draw_rng = random.Random(seed)
    weights = dict.fromkeys(names, 1.0)
    index = {m: i for i, m in enumerate(names)}
    wins, ties = np.zeros((n, n)), np.zeros((n, n))
    counts: dict[tuple[str, str], int] = {}
    board: Board | None = None
    needed, half_at = None, float("nan")
    cover_at = cover_anchor_at = cover_stop = (0, 0)
    tied = 0
    votes = 0
    while votes < budget:
        if policy == "uniform":
            i, j = rng.choice(n, size=2, replace=False)
            a, b = names[i], names[j]
        elif policy == "weighted":
            a, b = choose_pair(weights, counts, draw_rng)
        else:
            a, b = choose_active(weights, counts, draw_rng, board=board, epsilon=ACTIVE_EPSILON)
        i, j = index[a], index[b]
        p = float(expit(np.array((truth[i] - truth[j]) / ELO_SCALE)))
        tie = TIE_SHARE * min(p, 1.0 - p)
        u = rng.random()
        if u < p - tie:
            wins[i, j] += 1
        elif u < p + tie:
            ties[i, j] += 1
            ties[j, i] += 1
            tied += 1
        else:
            wins[j, i] += 1
        key = pair_key(a, b)
        counts[key] = counts.get(key, 0) + 1
        votes += 1
        if votes % refit:
            continue
        fit = rate(PairCounts(wins, ties, np.zeros((n, n))), anchor=anchor)
        if fit.models.size < n:
            continue  # a model without votes yet: no board
        half = (fit.ci_upper - fit.ci_lower) / 2
        games = wins + wins.T + ties
        board = Board(0, tuple(names), fit.rating, half, games.copy())
        field = truth - truth.mean() + fit.rating.mean()
        covered = int(np.sum((fit.ci_lower <= field) & (field <= fit.ci_upper)))
        if votes == AT_VOTES:
            half_at = float(half.mean())
            cover_at = (covered, n)
            anchored = int(np.sum((fit.ci_lower <= truth) & (truth <= fit.ci_upper)))
            cover_anchor_at = (anchored, n)
        if needed is None and all(fit.ci_lower[hi] > fit.ci_upper[lo] for hi, lo in pairs_to_split):
            needed = votes
            cover_stop = (covered, n)
        if needed is not None and votes >= AT_VOTES:
            break
    return Outcome(
        policy, seed, needed, half_at, cover_at, cover_anchor_at, cover_stop,
        tied / max(votes, 1), time.perf_counter() - started,
    )  # fmt: skip


def _run(job: tuple[str, int, int, int]) -> Outcome:
    return simulate(*job)


def sampling(seeds: int, budget: int, refit: int, workers: int) -> list[Outcome]:
    """Every policy on the same seeds."""
    jobs = [(policy, seed, budget, refit) for seed in range(seeds) for policy in POLICIES]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_run, jobs))


def _share(pairs: list[tuple[int, int]]) -> float:
    total = sum(n for _, n in pairs)
    return sum(c for c, _ in pairs) / total if total else float("nan")


def report(outcomes: list[Outcome], budget: int) -> str:
    """The markdown table of the sampling comparison."""
    lines = [
        "| sampling | separated within budget | votes needed: median | mean | "
        f"vs uniform (median) | mean half-width at {AT_VOTES:,} | coverage at {AT_VOTES:,} "
        "| coverage at separation | anchored coverage at 2,000 | ties |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    medians = {}
    for policy in POLICIES:
        rows = [o for o in outcomes if o.policy == policy]
        # An arena that never separated within the budget counts as the budget (a floor).
        needed = [o.votes_needed if o.votes_needed is not None else budget for o in rows]
        medians[policy] = statistics.median(needed)
    for policy in POLICIES:
        rows = [o for o in outcomes if o.policy == policy]
        needed = [o.votes_needed if o.votes_needed is not None else budget for o in rows]
        done = sum(o.votes_needed is not None for o in rows)
        saving = 1 - medians[policy] / medians["uniform"]
        lines.append(
            f"| {policy} | {done}/{len(rows)} | {medians[policy]:,.0f} | "
            f"{statistics.fmean(needed):,.0f} | {-saving:+.0%} | "
            f"{statistics.fmean(o.half_at for o in rows):.1f} | "
            f"{_share([o.cover_at for o in rows]):.1%} | "
            f"{_share([o.cover_stop for o in rows]):.1%} | "
            f"{_share([o.cover_anchor_at for o in rows]):.1%} | "
            f"{statistics.fmean(o.ties for o in rows):.1%} |"
        )
    return "\n".join(lines)


#: Log-odds per standard deviation of the length feature in the style simulation.
LENGTH_EFFECT = 0.4
#: Log-odds per standard deviation of the header, list and bold features.
MARKDOWN_EFFECTS = (0.05, 0.05, 0.05)
#: Votes per simulated arena in the style simulation.
STYLE_VOTES = 10_000


@dataclass
class StyleRun:
    """One simulated arena with a style bias: what the style section reports."""

    plain_covered: int
    style_covered: int
    models: int
    plain_error: float  # mean |plain - truth| over models, rating points
    style_error: float
    verbosity_corr: float  # correlation of the plain error with the models' log length
    coef: np.ndarray
    coef_covered: np.ndarray


def style_run(seed: int, votes: int = STYLE_VOTES) -> StyleRun:
    """One arena: votes with a known length bias, the plain and style-controlled fits."""
    from ratings.style import fit_style, normalised_differences

    names, truth, anchor = seed_ratings()
    n = len(names)
    rng = np.random.default_rng(seed)
    log_length = rng.normal(5.5, 0.35, n)  # medians about 250 tokens, x2 apart at +-1 sd
    markdown = rng.gamma(2.0, 1.0, (n, 3))  # typical headers, list items, bold spans
    a = rng.integers(0, n, votes)
    b = (a + rng.integers(1, n, votes)) % n

    def answers(side: np.ndarray) -> np.ndarray:
        tokens = np.exp(log_length[side] + 0.5 * rng.normal(size=side.size))
        return np.column_stack([tokens, rng.poisson(markdown[side])])

    x = normalised_differences(answers(a), answers(b))
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    effects = np.array([LENGTH_EFFECT, *MARKDOWN_EFFECTS])
    theta = truth / ELO_SCALE
    p = expit(theta[a] - theta[b] + z @ effects)
    tie = 2 * TIE_SHARE * np.minimum(p, 1 - p)
    u = rng.random(votes)
    outcome = np.where(u < p - tie / 2, 0, np.where(u < p + tie / 2, 2, 1))

    style = fit_style(a, b, outcome, x, n_models=n, anchor=anchor)
    plain = rate(aggregate(a, b, outcome, n), anchor=anchor)
    centred = truth - truth.mean()

    def covered(fit_rating: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
        shift = fit_rating.mean()
        return (lower - shift <= centred) & (centred <= upper - shift)

    plain_err = plain.rating - plain.rating.mean() - centred
    style_err = style.ratings.rating - style.ratings.rating.mean() - centred
    return StyleRun(
        plain_covered=int(covered(plain.rating, plain.ci_lower, plain.ci_upper).sum()),
        style_covered=int(
            covered(style.ratings.rating, style.ratings.ci_lower, style.ratings.ci_upper).sum()
        ),
        models=n,
        plain_error=float(np.abs(plain_err).mean()),
        style_error=float(np.abs(style_err).mean()),
        verbosity_corr=float(np.corrcoef(plain_err, log_length)[0, 1]),
        coef=style.coef,
        coef_covered=(style.coef_lower <= effects) & (effects <= style.coef_upper),
    )


def style_report(runs: list[StyleRun]) -> str:
    models = sum(r.models for r in runs)
    coef = np.array([r.coef for r in runs])
    cover = np.array([r.coef_covered for r in runs])
    effects = [LENGTH_EFFECT, *MARKDOWN_EFFECTS]
    biased = sum(r.plain_covered < r.models for r in runs)
    lines = [
        "| fit | interval covers the truth (models) | runs with every model covered "
        "| mean abs error (points) | error vs verbosity (corr., mean) |",
        "| --- | --- | --- | --- | --- |",
        f"| plain | {sum(r.plain_covered for r in runs) / models:.1%} "
        f"| {len(runs) - biased}/{len(runs)} "
        f"| {statistics.fmean(r.plain_error for r in runs):.1f} "
        f"| {statistics.fmean(r.verbosity_corr for r in runs):+.2f} |",
        f"| style control | {sum(r.style_covered for r in runs) / models:.1%} "
        f"| {sum(r.style_covered == r.models for r in runs)}/{len(runs)} "
        f"| {statistics.fmean(r.style_error for r in runs):.1f} | — |",
        "",
        "| coefficient | true | mean estimate | sd over runs | 95% interval covers |",
        "| --- | --- | --- | --- | --- |",
    ]
    for k, name in enumerate(("length", "headers", "lists", "bold")):
        lines.append(
            f"| {name} | {effects[k]:.2f} | {coef[:, k].mean():.3f} | {coef[:, k].std():.3f} "
            f"| {cover[:, k].mean():.1%} |"
        )
    return "\n".join(lines)


def _median_time(call: object, repeats: int) -> tuple[float, float, float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times), min(times), max(times)


#: Share of the votes each filter of the leaderboard holds in the timing of the category
#: boards (an assumed mix: a battle has one language and may have several categories).
FILTER_SHARES = {
    "ja": 0.73, "en": 0.27, "coding": 0.20, "math": 0.07, "creative_writing": 0.14,
    "japanese_culture": 0.27, "multi_turn": 0.15, "long_answer": 0.30,
}  # fmt: skip
#: The share of the one category board timed alone.
CATEGORY_SHARE = 0.30
#: Votes cast since the run the active sampler's board comes from.
NEWER_VOTES = 1000
#: Picks timed per way of drawing a pair.
PICKS = 50


def _timing_votes(
    votes: int, models: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Uniform pairs, four style features with a length effect, ties from both sides."""
    from ratings.style import normalised_differences

    theta = rng.normal(0.0, 1.0, models)
    a = rng.integers(0, models, votes)
    b = (a + rng.integers(1, models, votes)) % models
    length = rng.normal(5.5, 0.35, models)

    def answers(side: np.ndarray) -> np.ndarray:
        tokens = np.rint(np.exp(length[side] + 0.5 * rng.normal(size=side.size)))
        return np.column_stack([tokens, rng.poisson(2.0, (side.size, 3))])

    x = normalised_differences(answers(a), answers(b))
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    p = expit(theta[a] - theta[b] + z @ np.array([0.4, 0.05, 0.05, 0.05]))
    tie = 2 * TIE_SHARE * np.minimum(p, 1 - p)
    u = rng.random(votes)
    outcome = np.where(u < p - tie / 2, 0, np.where(u < p + tie / 2, 2, 1)).astype(np.int8)
    return a, b, outcome, x


def _grouped(
    a: np.ndarray, b: np.ndarray, outcome: np.ndarray, models: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The rows of the category board's ``GROUP BY (model_a, model_b, winner)``."""
    key = (a.astype(np.int64) * models + b) * 4 + outcome
    count = np.bincount(key, minlength=models * models * 4)
    rows = np.flatnonzero(count)
    pair, code = np.divmod(rows, 4)
    return pair // models, pair % models, code.astype(np.int8), count[rows]


def _category_fit(names: list[str], rows: tuple[np.ndarray, ...], min_votes: int) -> int:
    """What :func:`arena.category_board._board` computes after its ``GROUP BY``: the vote
    threshold and the fit as the run's (:func:`arena.category_board.fit_counts`), the
    pair table."""
    a, b, outcome, count = rows
    fitted, _ = fit_counts(
        names, a, b, outcome, count, anchor=names[0], level=0.95, prior=DEFAULT_PRIOR,
        min_votes=min_votes,
    )  # fmt: skip
    assert fitted is not None
    pair_table([r.model for r in fitted.rows], names, a, b, outcome, count)
    return len(fitted.rows)


_JA_ASKS = (
    "東京で週末に行けるおすすめの場所を教えてください。", "次の文章を三行で要約してください。",
    "このPythonの関数がエラーになる理由を説明して。", "x^2 - 5x + 6 = 0 を解いてください。",
    "春をテーマにした短い詩を書いてほしいです。", "敬語の使い方で間違えやすい点は？",
    "新しいカフェの名前を五つ考えて。", "明日の会議で使う挨拶文を作ってください。",
    "量子コンピュータを中学生にもわかるように説明して。",
    "サイコロを二回振って合計が7になる確率は？",
    "江戸時代の武士の暮らしについて教えてください。", "このメールを丁寧な日本語に直して。",
    "夕食の献立を一週間分考えて。", "猫が主人公の短い物語を書いて。", "SQLで表を結合する方法は？",
    "おはよう", "ありがとう！助かりました。", "富士山に登るときの注意点を箇条書きで。",
)  # fmt: skip
_JA_PROSE = (
    "昨日は朝から雨が降っていたので、駅まで歩く途中で傘を買いました。",
    "会社の近くに新しいパン屋ができて、昼休みには長い列ができています。",
    "来月の旅行の計画を立てるために、家族と何度も話し合いました。",
    "この製品は軽くて丈夫なので、毎日持ち歩くのにちょうどよいです。",
    "図書館で借りた本を読み終えたので、感想を友人に送りました。",
    "新しい制度では、申請の手続きがオンラインで完結するようになります。",
)
_EN_ASKS = (
    "What are some good weekend trips from Boston?", "Summarise the text below in three lines.",
    "Why does this JavaScript function return undefined?", "Solve 3x + 7 = 22 for x.",
    "Write a limerick about a forgetful robot.", "How do I politely decline a meeting?",
    "Suggest five names for a bakery.", "Explain transformers to a ten-year-old.",
    "What is the probability of two sixes in a row?", "Tell me about the history of sushi.",
    "Fix the grammar of this paragraph.", "Plan a vegetarian menu for a week.",
    "hi", "thanks, that worked!", "Compare Rust and Go for a small web service.",
)  # fmt: skip
_EN_PROSE = (
    "The committee met on Tuesday to review the budget for the coming year.",
    "Our team moved the release to next month so the tests can catch up.",
    "She walked along the river every morning before the city woke up.",
    "The new policy lets staff file expenses from their phones in minutes.",
    "Most of the survey's answers asked for longer opening hours at weekends.",
    "He kept the old radio on the shelf although it had not worked for years.",
)
_CODE = (
    "```python\ndef mean(xs):\n    return sum(xs) / len(xs)\n\nprint(mean([1, 2, 3]))\n```",
    "```js\nconst add = (a, b) => a + b;\nconsole.log(add(1, 2));\n```",
    "```sql\nSELECT name, count(*) FROM votes GROUP BY name;\n```",
)


def _tagging_battles(n: int, seed: int = 0) -> list[tuple[list[str], list[tuple], int]]:
    """``n`` battles as the tagger sees them: prompts per turn, answers (side, content,
    completion tokens), turns. About 70% Japanese; short asks, pasted prose up to about
    3,000 characters, code blocks, several turns, answers from a line to a few pages."""
    rng = random.Random(seed)
    battles = []
    for _ in range(n):
        japanese = rng.random() < 0.7
        asks, prose = (_JA_ASKS, _JA_PROSE) if japanese else (_EN_ASKS, _EN_PROSE)
        joiner = "" if japanese else " "

        def text(sentences: int) -> str:
            return joiner.join(rng.choice(prose) for _ in range(sentences))  # noqa: B023

        prompts = []
        for _turn in range(1 if rng.random() < 0.8 else rng.randint(2, 4)):
            prompt = joiner.join(rng.sample(asks, rng.randint(1, 2)))
            if rng.random() < 0.3:
                prompt += "\n\n" + text(rng.randint(3, 60))
            if rng.random() < 0.15:
                prompt += "\n\n" + rng.choice(_CODE)
            prompts.append(prompt)
        answers = []
        for _turn in prompts:
            for side in ("a", "b"):
                content = text(int(rng.lognormvariate(2.5, 0.8)) + 1)
                if rng.random() < 0.15:
                    content += "\n\n" + rng.choice(_CODE)
                answers.append((side, content, len(content.encode()) // 3))
        battles.append((prompts, answers, len(prompts)))
    return battles


#: A fresh process that loads the detector as the app does before serving.
_LOAD = (
    "import time\nfrom arena.categories import detector\n"
    "started = time.perf_counter()\ndetector()\nprint(time.perf_counter() - started)"
)


def _detector_load() -> float:
    """Seconds :func:`arena.categories.detector` takes in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", _LOAD], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def _tagging(battles: list[tuple[list[str], list[tuple], int]], repeats: int) -> list[str]:
    """Table rows: the tagger's work per battle (mean microseconds over ``battles`` in each
    of ``repeats`` passes), then a line on the slowest battles."""
    from arena.categories import categorise, detect_language, detector
    from arena.dataset import message_tokens

    detector()  # loaded before serving, as the app does
    means: list[tuple[float, float, float]] = []
    each: list[float] = []  # every battle of every pass: both steps, seconds
    for _ in range(repeats):
        detect = rules = 0.0
        for prompts, stored, turns in battles:
            started = time.perf_counter()
            detect_language(prompts[0])
            detected = time.perf_counter()
            answers = [(s, c, message_tokens("assistant", c, None, t)) for s, c, t in stored]
            categorise(prompts, answers, turns)
            done = time.perf_counter()
            detect += detected - started
            rules += done - detected
            each.append(done - started)
        means.append((detect, rules, detect + rules))
    names = (
        "language of the first prompt (lingua, high accuracy, ten languages)",
        "rule categories (prompts, answers' fences and tokens, turns)",
        "both: a battle's tags (as `tag_battle` works them out, without the database)",
    )
    rows = []
    for k, name in enumerate(names):
        per = [m[k] / len(battles) * 1e6 for m in means]
        rows.append(
            f"| {name} | **{statistics.median(per):.0f}** | {min(per):.0f}–{max(per):.0f} |"
        )
    cuts = np.percentile(np.array(each) * 1e3, [50, 99, 100])
    rows += [
        "",
        f"Each battle's tags: median {cuts[0]:.2f} ms, 99th percentile {cuts[1]:.2f} ms, "
        f"slowest {cuts[2]:.2f} ms (over the {repeats} passes).",
    ]
    return rows


def _picks(call: object, picks: int) -> tuple[float, float, float]:
    """Median, min and max milliseconds of ``picks`` calls, each timed on its own."""
    return tuple(t * 1e3 for t in _median_time(call, picks))  # type: ignore[return-value]


def timing(votes: int = 1_000_000, models: int = 100, repeats: int = 5, battles: int = 3000) -> str:
    """Seconds per fit on ``votes`` votes between ``models`` models, and the other
    additions of issue 15 on the same data (see the module docstring)."""
    from arena.sampling import Health, PairCounter
    from ratings.separation import pair_values, votes_until_separated
    from ratings.style import fit_style
    from ratings.ties import fit_davidson

    rng = np.random.default_rng(0)
    a, b, outcome, x = _timing_votes(votes, models, rng)
    unique = np.unique(np.column_stack([a, b, outcome, x]), axis=0).shape[0]
    names = [f"model-{k:03d}" for k in range(models)]

    def category(share: float) -> tuple[np.ndarray, ...]:
        """The grouped rows of a random ``share`` of the votes."""
        mask = rng.random(votes) < share
        return _grouped(a[mask], b[mask], outcome[mask], models)

    one = category(CATEGORY_SHARE)
    every = [category(share) for share in FILTER_SHARES.values()]
    min_votes = 20  # the setting rating_min_votes' default
    counts = aggregate(a, b, outcome, models)
    fit = rate(counts, anchor=0)
    if fit.models.size < models:
        raise RuntimeError("every model should be rated on the timing's votes")
    half = (fit.ci_upper - fit.ci_lower) / 2
    games = counts.games
    calls = {
        "plain fit (aggregate, Newton, sandwich)": lambda: rate(
            aggregate(a, b, outcome, models), anchor=0
        ),
        "style control (4 features, Newton on the rows, sandwich)": lambda: fit_style(
            a, b, outcome, x, n_models=models, anchor=0
        ),
        "Davidson ties (aggregate, Newton, sandwich, comparison)": lambda: fit_davidson(
            a, b, outcome, n_models=models, anchor=0
        ),
        f"category board, one filter holding {CATEGORY_SHARE:.0%} of the votes "
        f"({int(one[3].sum()):,} votes, {one[0].size:,} grouped rows; threshold, fit, "
        "pair table)": lambda: _category_fit(names, one, min_votes),
        f"category boards, all {len(every)} filters one after another "
        f"({sum(int(r[3].sum()) for r in every):,} votes in all)": lambda: [
            _category_fit(names, rows, min_votes) for rows in every
        ],
        f"votes until separated, the {models - 1} pairs of neighbours": lambda: (
            votes_until_separated(fit.rating, half, games, level=0.95)
        ),
        "language detector load (fresh process, ten languages)": _detector_load,
    }
    lines = [
        f"{votes:,} votes, {models} models; distinct (a, b, outcome, features) rows: "
        f"{unique:,} ({unique / votes:.1%}), so the style fit works on the rows as they are",
        "",
        f"| step | median of {repeats} (s) | min–max (s) |",
        "| --- | --- | --- |",
    ]
    for name, call in calls.items():
        median, low, high = _median_time(call, repeats)
        lines.append(f"| {name} | **{median:.3f}** | {low:.3f}–{high:.3f} |")

    corpus = _tagging_battles(battles)
    chars = [len(p[0]) for p, _, _ in corpus]
    lines += [
        "",
        f"Tagging {len(corpus):,} generated battles (first prompts {min(chars)}–{max(chars):,} "
        f"characters, median {statistics.median(chars):.0f}; "
        f"{sum(t > 1 for _, _, t in corpus) / len(corpus):.0%} with several turns):",
        "",
        f"| per battle | median of {repeats} (µs) | min–max (µs) |",
        "| --- | --- | --- |",
        *_tagging(corpus, repeats),
    ]

    board = Board(0, tuple(names), fit.rating, half, games)
    newer = aggregate(*(v[:NEWER_VOTES] for v in (a, b, outcome)), models).games
    now = games + newer
    upper = zip(*np.triu_indices(models, 1), strict=True)
    counter = PairCounter({pair_key(names[i], names[j]): int(now[i, j]) for i, j in upper})
    health = Health()
    weights = dict.fromkeys(names, 1.0)
    draw = random.Random(0)

    def active() -> tuple[str, str]:
        pairs = counter.snapshot()
        return health.draw(
            lambda out: choose_active(weights, pairs, draw, out, board=board, epsilon=0.0)
        )

    def values() -> np.ndarray:
        return pair_values(
            board.rating, board.half, now, level=board.level, fitted=board.fitted,
            threshold=ACTIVE_THRESHOLD,
        )  # fmt: skip

    def weighted() -> tuple[str, str]:
        pairs = counter.snapshot()
        return health.draw(lambda out: choose_pair(weights, pairs, draw, out))

    steps = {
        "active pick, as `draw_pair` makes it (pair counts snapshot, board games, "
        "pair values, best pair)": active,
        f"of which `pair_values` ({models} x {models} pseudo-inverse, Sherman-Morrison "
        "per pair)": values,
        f"weighted pick (`choose_pair`, the {ACTIVE_EPSILON:.0%} of draws)": weighted,
    }
    lines += [
        "",
        f"Active sampling on the fitted board ({models} models, pair counts of the fit plus "
        f"{NEWER_VOTES:,} newer votes); after a refit nothing is precomputed: the sampler "
        "swaps in the new run's `Board` (its arrays, read by `arena.separation.load_board`) "
        "and every active pick values all pairs anew:",
        "",
        f"| per pick | median of {PICKS} (ms) | min–max (ms) |",
        "| --- | --- | --- |",
    ]
    for name, call in steps.items():
        median, low, high = _picks(call, PICKS)
        lines.append(f"| {name} | **{median:.2f}** | {low:.2f}–{high:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", choices=["sampling", "style", "timing"], default=None, help="run one section"
    )
    parser.add_argument("--runs", type=int, default=200, help="style: simulated arenas")
    parser.add_argument("--quick", action="store_true", help="a few seeds (for tests)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per policy")
    parser.add_argument("--budget", type=int, default=60_000, help="votes at most per arena")
    parser.add_argument("--refit", type=int, default=100, help="votes between refits")
    parser.add_argument("--workers", type=int, default=2, help="processes")
    args = parser.parse_args(argv)
    seeds = args.seeds or (3 if args.quick else 40)
    budget = min(args.budget, 20_000) if args.quick else args.budget
    if args.only in (None, "sampling"):
        started = time.perf_counter()
        outcomes = sampling(seeds, budget, args.refit, args.workers)
        names, truth, _ = seed_ratings()
        split = ", ".join(f"{names[h]} > {names[lo]}" for h, lo in targets(truth))
        print(f"## Sampling: {seeds} seeds per policy, refit every {args.refit} votes, "
              f"budget {budget:,} votes, epsilon {ACTIVE_EPSILON}")  # fmt: skip
        print(f"\npairs that must separate (true gap >= {TARGET_GAP:.0f}): {split}\n")
        print(report(outcomes, budget))
        print(f"\n{time.perf_counter() - started:.0f} s")
    if args.only in (None, "style"):
        started = time.perf_counter()
        runs = [style_run(seed) for seed in range(10 if args.quick else args.runs)]
        print(f"## Style control: {len(runs)} arenas of {STYLE_VOTES:,} votes, 13 models, "
              f"length effect {LENGTH_EFFECT} per sd, Markdown {MARKDOWN_EFFECTS[0]}")  # fmt: skip
        print()
        print(style_report(runs))
        print(f"\n{time.perf_counter() - started:.0f} s")
    if args.only in (None, "timing"):
        print("## Timing\n")
        print(timing(100_000 if args.quick else 1_000_000))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
