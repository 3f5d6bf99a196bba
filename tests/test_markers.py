"""Every test carries the marker of what it needs (conftest's collection hook), so
``-m "not browser"`` or ``-m "not postgres"`` leaves out exactly those tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CURRENT_TEST, scheduled_early

#: Launches app or helper processes: scheduled early in a parallel run (conftest).
pytestmark = pytest.mark.processes

ROOT = Path(__file__).resolve().parents[1]


def collected(*args: str) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", *args],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    return [line for line in out.stdout.splitlines() if "::" in line]


def test_browser_and_postgres_markers_follow_the_fixtures() -> None:
    everything = collected("tests/test_admin.py", "tests/test_recompute.py")
    no_browser = collected("-m", "not browser", "tests/test_admin.py", "tests/test_recompute.py")
    no_pg = collected("-m", "not postgres", "tests/test_admin.py", "tests/test_recompute.py")
    browser_tests = set(everything) - set(no_browser)
    assert browser_tests and all(t.startswith("tests/test_admin.py::") for t in browser_tests)
    pg_tests = set(everything) - set(no_pg)
    assert pg_tests == {t for t in everything if "postgresql" in t}
    assert any("test_recompute.py" in t for t in pg_tests)


def test_modules_are_collected_heaviest_first() -> None:
    """A parallel run hands out whole modules in collection order: browser modules first,
    then those launching processes, then PostgreSQL ones, then the rest; each module's
    tests together and in their file's order."""
    files = ["tests/test_ratings_cli.py", "tests/test_recompute.py", "tests/test_startup.py",
             "tests/test_browser_share.py"]  # fmt: skip
    order = collected(*files)
    modules = [t.split("::", 1)[0] for t in order]
    assert list(dict.fromkeys(modules)) == files[::-1]
    assert modules == sorted(modules, key=files[::-1].index)  # each module in one run
    in_file = collected("tests/test_ratings_cli.py")
    assert [t for t in order if t.startswith("tests/test_ratings_cli.py")] == in_file


class _Unmarked:
    """A test as pytest gives it, without markers."""

    nodeid = "tests/test_somewhere.py::test_launching"

    def get_closest_marker(self, name: str) -> None:
        return None


def test_a_test_launching_an_app_must_be_scheduled_early(request: pytest.FixtureRequest) -> None:
    """RunningApp refuses to launch for a test whose module is neither ``browser`` nor
    ``processes``: the marker that schedules app launches early cannot be forgotten."""
    with pytest.raises(pytest.fail.Exception, match="test_launching launches an app: mark"):
        scheduled_early(_Unmarked())  # type: ignore[arg-type]
    scheduled_early(request.node)  # this module is marked processes
    assert CURRENT_TEST[-1] is request.node
