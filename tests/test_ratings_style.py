"""Style control: golden cases, derivatives, a simulated length bias, the file's style
counts and ``python -m ratings fit --style-control``."""

from __future__ import annotations

import io
import json
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest
from scipy.optimize import approx_fprime, check_grad

from ratings import ELO_SCALE, fit_counts
from ratings.cli import main
from ratings.errors import InvalidInputError, NoMLEError
from ratings.outcomes import WINNER_CODES
from ratings.style import fit_style, normalised_differences, standardise
from ratings.style_features import (
    conversation_counts,
    markdown_counts,
    markdown_elements,
    metadata_counts,
)
from ratings.style_loss import StyleRows, loss, loss_gradient, loss_hessian

GOLDEN = Path(__file__).parent / "golden" / "ratings_beyond.json"

#: Closed-form answers, in rating points or log-odds.
CLOSED_FORM_TOL = 1e-6
#: check_grad error relative to the gradient norm.
GRAD_REL_TOL = 1e-6
#: Finite-difference Hessian, relative to its largest entry.
HESS_REL_TOL = 1e-5
#: A fit without features against the plain fit, in rating points.
SAME_FIT_TOL = 1e-6


def _rows(seed: int = 1, n: int = 5, m: int = 200, k: int = 3) -> StyleRows:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    y = rng.integers(0, 3, m) / 2
    return StyleRows(a, b, y, rng.normal(size=(m, k)), rng.integers(1, 4, m).astype(float), n)


@pytest.mark.parametrize("prior", [0.0, 0.5])
def test_gradient_and_hessian_match_finite_differences(prior: float) -> None:
    rows = _rows()
    point = np.random.default_rng(2).normal(size=rows.n + rows.k)
    g = loss_gradient(point, rows, prior)
    assert check_grad(loss, loss_gradient, point, rows, prior) < GRAD_REL_TOL * (
        1 + np.linalg.norm(g)
    )
    numeric = np.array(
        [
            approx_fprime(point, lambda q, k=k: loss_gradient(q, rows, prior)[k], 1e-6)
            for k in range(point.size)
        ]
    )
    h = loss_hessian(point, rows, prior)
    assert np.abs(numeric - h).max() < HESS_REL_TOL * np.abs(h).max()


def test_normalised_differences_by_hand() -> None:
    got = normalised_differences([[10, 0, 3, 1]], [[5, 0, 3, 0]])
    assert got.tolist() == [[5 / 16, 0.0, 0.0, 1 / 2]]
    with pytest.raises(InvalidInputError):
        normalised_differences([[1, -1]], [[0, 0]])


def test_standardise_gives_mean_zero_and_unit_spread_and_zeros_a_constant_column() -> None:
    x = np.array([[1.0, 2.0], [3.0, 2.0], [5.0, 2.0]])
    z, mean, std = standardise(x)
    assert mean.tolist() == [3.0, 2.0]
    assert std[0] == pytest.approx(np.sqrt(8 / 3)) and std[1] == 0.0
    assert z[:, 0] == pytest.approx([-np.sqrt(1.5), 0.0, np.sqrt(1.5)])
    assert z[:, 1].tolist() == [0.0, 0.0, 0.0]


def test_golden_saturated_case() -> None:
    case = json.loads(GOLDEN.read_text(encoding="utf-8"))["style"][0]
    names = sorted(case["expected"])
    a, b, out, x, count = [], [], [], [], []
    for model_a, model_b, winner, feature, times in case["battles"]:
        a.append(names.index(model_a))
        b.append(names.index(model_b))
        out.append(WINNER_CODES[winner])
        x.append([feature])
        count.append(times)
    level = 2 * NormalDist().cdf(1.0) - 1  # z = 1
    fit = fit_style(
        a,
        b,
        out,
        x,
        count,
        n_models=2,
        anchor=names.index(case["anchor"]),
        standardise_features=False,
        prior=0.0,
        level=level,
    )
    rating = dict(zip((names[i] for i in fit.ratings.models), fit.ratings.rating, strict=True))
    for name, expected in case["expected"].items():
        assert rating[name] == pytest.approx(expected, abs=CLOSED_FORM_TOL)
    assert fit.coef[0] == pytest.approx(case["coef"], abs=CLOSED_FORM_TOL)
    assert fit.coef_se[0] == pytest.approx(case["coef_se"], abs=CLOSED_FORM_TOL)
    half = (fit.ratings.ci_upper - fit.ratings.ci_lower) / 2
    assert half == pytest.approx([case["half_width_z1"]] * 2, abs=CLOSED_FORM_TOL)


def test_without_style_differences_the_fit_is_the_plain_one() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(0, 6, 500)
    b = (a + rng.integers(1, 6, 500)) % 6
    out = rng.integers(0, 4, 500)
    style = fit_style(a, b, out, np.zeros((500, 4)), n_models=6, anchor=2)
    plain = fit_counts(a, b, out, n_models=6, anchor=2)
    assert np.isnan(style.coef).all()  # no feature varied
    for field in ("rating", "ci_lower", "ci_upper"):
        assert getattr(style.ratings, field) == pytest.approx(
            getattr(plain, field), abs=SAME_FIT_TOL
        )


def test_rows_given_once_with_a_count_fit_as_the_rows_repeated() -> None:
    rng = np.random.default_rng(4)
    a = rng.integers(0, 4, 120)
    b = (a + rng.integers(1, 4, 120)) % 4
    out = rng.integers(0, 4, 120)
    x = rng.normal(size=(120, 2))
    once = fit_style(a, b, out, x, np.full(120, 2.0), n_models=4, anchor=0)
    twice = fit_style(
        np.tile(a, 2), np.tile(b, 2), np.tile(out, 2), np.tile(x, (2, 1)), n_models=4, anchor=0
    )
    assert once.coef == pytest.approx(twice.coef, abs=1e-9)
    assert once.ratings.ci_lower == pytest.approx(twice.ratings.ci_lower, abs=1e-6)


def test_anchor_without_votes_falls_back_to_the_field_mean() -> None:
    rng = np.random.default_rng(5)
    a = rng.integers(0, 3, 90)
    b = (a + rng.integers(1, 3, 90)) % 3
    fit = fit_style(a, b, rng.integers(0, 4, 90), rng.normal(size=(90, 4)), n_models=4, anchor=3)
    assert fit.ratings.anchor_fallback == "no-votes"
    assert fit.ratings.unrated.tolist() == [3]
    assert fit.ratings.rating.mean() == pytest.approx(1000.0)


def test_refusals() -> None:
    with pytest.raises(InvalidInputError, match="features must have shape"):
        fit_style([0, 1], [1, 0], [0, 1], np.zeros((3, 4)), n_models=2, anchor=0)
    with pytest.raises(NoMLEError):  # model 0 never lost
        fit_style([0, 0], [1, 1], [0, 0], [[0.5], [-0.5]], n_models=2, anchor=0, prior=0.0)


def test_a_known_length_bias_is_removed_and_recovered() -> None:
    """Votes favour the longer answer (0.5 log-odds per standard deviation); the verbose
    models gain in the plain fit, not in the style-controlled one."""
    rng = np.random.default_rng(12)
    n, m, gamma = 8, 8000, 0.5
    theta = np.linspace(-0.6, 0.6, n)
    verbosity = np.array([0.8, -0.5, 0.6, -0.4, 0.0, 0.5, -0.7, 0.1])  # log-length offsets
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    tokens_a = np.exp(5.5 + verbosity[a] + 0.3 * rng.normal(size=m))
    tokens_b = np.exp(5.5 + verbosity[b] + 0.3 * rng.normal(size=m))
    x = normalised_differences(tokens_a[:, None], tokens_b[:, None])
    z = (x - x.mean()) / x.std()
    p = 1 / (1 + np.exp(-(theta[a] - theta[b] + gamma * z[:, 0])))
    # Ties (of both kinds) take evenly from both sides' chances, so side A's expected
    # score stays p: the half-win coding is then the right model (as in bench_beyond).
    tie = 0.3 * np.minimum(p, 1 - p)
    u = rng.random(m)
    out = np.where(u < p - tie / 2, 0, np.where(u < p + tie / 2, 2 + (u > p), 1))
    truth = ELO_SCALE * (theta - theta.mean())

    style = fit_style(a, b, out, x, n_models=n, anchor=None, feature_names=("length",))
    plain = fit_counts(a, b, out, n_models=n, anchor=None)
    half = (style.ratings.ci_upper - style.ratings.ci_lower) / 2
    style_error = style.ratings.rating - style.ratings.rating.mean() - truth
    plain_error = plain.rating - plain.rating.mean() - truth

    # 95% intervals: all but at most one of the eight cover the truth (the bench checks
    # the coverage over many runs).
    assert (np.abs(style_error) < half).sum() >= 7
    assert np.abs(plain_error).max() > 2 * half.max()  # the plain fit is biased ...
    assert np.corrcoef(plain_error, verbosity)[0, 1] > 0.9  # ... towards the verbose
    assert style.coef_lower[0] < gamma < style.coef_upper[0]
    assert style.coef_upper[0] - style.coef_lower[0] < 0.25


def test_markdown_counts_by_hand() -> None:
    text = "# Title\n## Part\nplain #not\n1. one\n2. two\n  - dot\n* star\n**bold** and __also__"
    assert markdown_counts(text) == (2, 4, 2)
    assert markdown_elements(text) == {
        "header": {"h1": 1, "h2": 1, "h3": 0, "h4": 0, "h5": 0, "h6": 0},
        "list": {"ordered": 2, "unordered": 2},
        "bold": {"**": 1, "__": 1},
    }
    assert markdown_elements("####### seven\n#x\n1.x\n-x\n**x\n__") == {
        "header": dict.fromkeys(("h1", "h2", "h3", "h4", "h5", "h6"), 0),
        "list": {"ordered": 0, "unordered": 0},
        "bold": {"**": 0, "__": 0},
    }
    conversation = [
        {"role": "user", "content": "question"},
        {"role": "assistant", "content": "# A\n- x", "num_tokens": 7},
        {"role": "user", "content": "more"},
        {"role": "assistant", "content": "日本語"},  # 9 bytes: 3 tokens by the estimate
    ]
    assert conversation_counts(conversation) == [10, 1, 1, 0]


def test_counts_follow_the_exports_conv_metadata() -> None:
    # The export counts with markdown_elements too: this checks that the conv_metadata it
    # writes (keys, per-level counts, token sums) reads back as the conversations' counts.
    from arena.dataset import conv_metadata

    conversation_a = [
        {"role": "user", "content": "教えて"},
        {"role": "assistant", "content": "## 答え\n1. **一つ目**\n2. 二つ目\n- __注__"},
    ]
    conversation_b = [
        {"role": "user", "content": "教えて"},
        {"role": "assistant", "content": "短い答え", "num_tokens": 4},
    ]
    meta = conv_metadata(conversation_a, conversation_b)
    assert metadata_counts(meta, "a") == conversation_counts(conversation_a)
    assert metadata_counts(meta, "b") == conversation_counts(conversation_b)
    assert metadata_counts({"sum_assistant_a_tokens": 3}, "a") is None  # keys missing


# -- the command line -------------------------------------------------------------------

MODELS = ["Tanuki-8B-dpo-v1.0", "Verbose-7B", "Terse-7B", "Plain-7B"]
STRENGTH = {"Tanuki-8B-dpo-v1.0": 0.0, "Verbose-7B": 0.0, "Terse-7B": 0.2, "Plain-7B": -0.2}
LENGTH = {"Tanuki-8B-dpo-v1.0": 1, "Verbose-7B": 3, "Terse-7B": 1, "Plain-7B": 2}


def _answer(rng: np.random.Generator, verbosity: int) -> str:
    kinds = ["## 見出し", "- 項目", "**太字**です", "ふつうの文です。"]
    lines = rng.choice(kinds, size=verbosity * int(rng.integers(1, 5)))
    return "\n".join(str(line) for line in lines)


def _battles(count: int = 600, seed: int = 0, metadata: bool = False) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(count):
        a, b = (MODELS[i] for i in rng.choice(len(MODELS), 2, replace=False))
        answer = {m: _answer(rng, LENGTH[m]) for m in (a, b)}
        gap = len(answer[a]) - len(answer[b])
        p = 1 / (1 + np.exp(STRENGTH[b] - STRENGTH[a] - 0.01 * gap))
        u = rng.random()
        winner = "model_a" if u < 0.9 * p else "model_b" if u < 0.9 else "tie"
        row = {
            "question_id": f"q{k}",
            "model_a": a,
            "model_b": b,
            "winner": winner,
            "anony": True,
            "conversation_a": [
                {"role": "user", "content": "質問"},
                {"role": "assistant", "content": answer[a]},
            ],
            "conversation_b": [
                {"role": "user", "content": "質問"},
                {"role": "assistant", "content": answer[b]},
            ],
        }
        if metadata:
            from arena.dataset import conv_metadata

            row["conv_metadata"] = conv_metadata(row["conversation_a"], row["conversation_b"])
        rows.append(row)
    return rows


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def _main(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out, err)
    return code, out.getvalue(), err.getvalue()


def test_cli_style_control_from_the_conversations_or_conv_metadata(tmp_path: Path) -> None:
    text_file = _write(tmp_path / "text.jsonl", _battles())
    meta_file = _write(tmp_path / "meta.jsonl", _battles(metadata=True))
    code, table, err = _main("fit", str(text_file), "--style-control")
    assert code == 0, err
    lines = table.splitlines()
    assert lines[0].split()[-4:] == ["plain", "rating", "plain", "rank"]
    assert "note: style counts: 0 row(s) from conv_metadata, 600 from the conversations" in table
    coefficients = lines[lines.index(next(x for x in lines if x.startswith("style coef"))) :]
    assert [line.split()[0] for line in coefficients[1:]] == ["length", "headers", "lists", "bold"]

    code, text_json, _ = _main("fit", str(text_file), "--style-control", "--json")
    code_meta, meta_json, meta_err = _main("fit", str(meta_file), "--style-control", "--json")
    assert code == code_meta == 0
    assert "600 row(s) from conv_metadata, 0 from the conversations" in meta_err
    document = json.loads(text_json)
    # The same counts either way, so the same numbers.
    assert document["ratings"] == json.loads(meta_json)["ratings"]
    assert document["style"]["coefficients"] == json.loads(meta_json)["style"]["coefficients"]
    rows = {row["model"]: row for row in document["ratings"]}
    assert rows["Tanuki-8B-dpo-v1.0"]["rating"] == 1000.0
    # Equal strength, but Verbose-7B wins on length: the plain board puts it higher.
    assert rows["Verbose-7B"]["plain_rating"] > rows["Verbose-7B"]["rating"]
    length = document["style"]["coefficients"][0]
    assert length["feature"] == "length" and length["coef"] > 0


def test_cli_style_control_needs_answers(tmp_path: Path) -> None:
    rows = [{k: v for k, v in r.items() if not k.startswith("conv")} for r in _battles(50)]
    code, _, err = _main("fit", str(_write(tmp_path / "bare.jsonl", rows)), "--style-control")
    assert code == 2
    assert "style control needs conv_metadata or the conversations" in err
