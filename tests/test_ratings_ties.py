"""The Davidson tie model: a golden case, derivatives, recovery in simulation, the
likelihood comparison with the half-win coding, and ``python -m ratings fit --ties
davidson``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import approx_fprime, check_grad

from ratings import ELO_SCALE, aggregate
from ratings.cli import main
from ratings.errors import InvalidInputError
from ratings.outcomes import WINNER_CODES
from ratings.ties import fit_davidson
from ratings.ties_loss import PairData, loss, loss_gradient, loss_hessian

GOLDEN = Path(__file__).parent / "golden" / "ratings_beyond.json"

#: Closed-form answers (rating points, nu, log-likelihoods).
CLOSED_FORM_TOL = 1e-6
#: check_grad error relative to the gradient norm.
GRAD_REL_TOL = 1e-6
#: Finite-difference Hessian, relative to its largest entry.
HESS_REL_TOL = 1e-5


def _simulate(
    seed: int, n: int, m: int, nu: float | None, tie_rate: float = 0.2
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Votes between ``n`` models: Davidson ties with ``nu``, or (``nu`` None) ties at a
    constant rate with Bradley-Terry among the others (the half-win coding's model)."""
    rng = np.random.default_rng(seed)
    theta = np.linspace(-1.2, 1.2, n)
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    h = 0.5 * (theta[a] - theta[b])
    if nu is None:
        tie = np.full(m, tie_rate)
        win = (1 - tie_rate) / (1 + np.exp(-2 * h))
    else:
        total = np.exp(h) + np.exp(-h) + nu
        tie, win = nu / total, np.exp(h) / total
    u = rng.random(m)
    out = np.where(u < win, 0, np.where(u < win + tie, 2 + (u > win + tie / 2), 1))
    return a, b, out, theta


def test_gradient_and_hessian_match_finite_differences() -> None:
    a, b, out, _ = _simulate(1, 5, 400, 0.7)
    data = PairData.of(aggregate(a, b, out, 5), 0.2)
    point = np.concatenate([np.random.default_rng(2).normal(size=5), [0.3]])
    g = loss_gradient(point, data)
    assert check_grad(loss, loss_gradient, point, data) < GRAD_REL_TOL * (1 + np.linalg.norm(g))
    numeric = np.array(
        [
            approx_fprime(point, lambda q, k=k: loss_gradient(q, data)[k], 1e-6)
            for k in range(point.size)
        ]
    )
    h = loss_hessian(point, data)
    assert np.abs(numeric - h).max() < HESS_REL_TOL * np.abs(h).max()


def test_golden_two_models() -> None:
    case = json.loads(GOLDEN.read_text(encoding="utf-8"))["davidson"][0]
    names = sorted(case["expected"])
    a = [names.index(row[0]) for row in case["battles"]]
    b = [names.index(row[1]) for row in case["battles"]]
    out = [WINNER_CODES[row[2]] for row in case["battles"]]
    count = [row[3] for row in case["battles"]]
    fit = fit_davidson(a, b, out, count, n_models=2, anchor=names.index(case["anchor"]), prior=0)
    rating = dict(zip((names[i] for i in fit.ratings.models), fit.ratings.rating, strict=True))
    for name, expected in case["expected"].items():
        assert rating[name] == pytest.approx(expected, abs=CLOSED_FORM_TOL)
    assert fit.nu == pytest.approx(case["nu"], abs=CLOSED_FORM_TOL)
    assert fit.comparison.davidson == pytest.approx(case["log_likelihood"], abs=CLOSED_FORM_TOL)
    assert fit.comparison.half_win == pytest.approx(
        case["half_win_log_likelihood"], abs=CLOSED_FORM_TOL
    )
    assert fit.comparison.parameters == 2
    assert fit.comparison.better == "davidson"


def test_ratings_and_nu_are_recovered() -> None:
    a, b, out, theta = _simulate(3, 6, 20000, 0.5)
    fit = fit_davidson(a, b, out, n_models=6, anchor=None)
    truth = ELO_SCALE * (theta - theta.mean())
    half = (fit.ratings.ci_upper - fit.ratings.ci_lower) / 2
    assert (np.abs(fit.ratings.rating - fit.ratings.rating.mean() - truth) < half).sum() >= 5
    assert fit.nu_lower < 0.5 < fit.nu_upper
    assert fit.nu_upper - fit.nu_lower < 0.1


def test_the_comparison_prefers_davidson_on_its_own_votes() -> None:
    a, b, out, _ = _simulate(4, 6, 20000, 0.5)
    comparison = fit_davidson(a, b, out, n_models=6, anchor=None).comparison
    assert comparison.better == "davidson"
    assert comparison.aic_half_win - comparison.aic_davidson == pytest.approx(
        2 * (comparison.davidson - comparison.half_win)
    )


def test_the_half_win_side_uses_the_share_of_ties_as_its_tie_rate() -> None:
    a, b, out, _ = _simulate(5, 6, 20000, None, tie_rate=0.2)
    comparison = fit_davidson(a, b, out, n_models=6, anchor=None).comparison
    ties = np.isin(out, (2, 3)).sum()
    assert comparison.tie_share == ties / out.size
    assert comparison.votes == out.size


def test_votes_without_ties_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="no tie"):
        fit_davidson([0, 1, 0], [1, 0, 1], [0, 0, 1], n_models=2, anchor=0)


def _main(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out, err)
    return code, out.getvalue(), err.getvalue()


def _write(path: Path, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> Path:
    names = ["Tanuki-8B-dpo-v1.0", "M1", "M2", "M3", "M4", "M5"]
    winners = {code: text for text, code in WINNER_CODES.items() if text != "both_bad"}
    lines = [
        json.dumps({"model_a": names[x], "model_b": names[y], "winner": winners[o]})
        for x, y, o in zip(a.tolist(), b.tolist(), out.tolist(), strict=True)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_cli_davidson_prints_the_board_nu_and_the_comparison(tmp_path: Path) -> None:
    path = _write(tmp_path / "ties.jsonl", *_simulate(6, 6, 3000, 0.5)[:3])
    code, text, err = _main("fit", str(path), "--ties", "davidson")
    assert code == 0, err
    assert text.splitlines()[0].split()[-4:] == ["plain", "rating", "plain", "rank"]
    assert "tie parameter nu = " in text
    assert "likelihood of the 3000 votes' outcomes" in text
    assert "Davidson explains the votes better" in text

    code, document, err = _main("fit", str(path), "--ties", "davidson", "--json")
    assert code == 0
    parsed = json.loads(document)
    assert parsed["ties"]["model"] == "davidson"
    assert parsed["ties"]["ci_lower"] < parsed["ties"]["nu"] < parsed["ties"]["ci_upper"]
    comparison = parsed["comparison"]
    assert comparison["votes"] == 3000 and comparison["parameters"] == 6
    assert comparison["better"] == "davidson"
    rows = {row["model"]: row for row in parsed["ratings"]}
    assert rows["Tanuki-8B-dpo-v1.0"]["rating"] == 1000.0
    assert "ties: Davidson model" in err


@pytest.mark.parametrize(
    "extra",
    [("--style-control",), ("--ci", "bootstrap")],
    ids=["with-style-control", "with-bootstrap"],
)
def test_cli_refuses_what_davidson_does_not_do(
    tmp_path: Path, extra: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path / "ties.jsonl", *_simulate(7, 6, 200, 0.5)[:3])
    with pytest.raises(SystemExit) as stop:
        _main("fit", str(path), "--ties", "davidson", *extra)
    assert stop.value.code == 2
    assert "(see --help)" in capsys.readouterr().err
