"""A guided first start: ``python app.py`` says, in a few lines, where the arena is, which
database and models it uses, when the ratings are recomputed, and what to do next.

The app is launched as users launch it, in a subprocess on a loopback port with a SQLite
file in ``tmp_path``; its output is read until the summary is complete.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import RunningApp

#: Launches app or helper processes: scheduled early in a parallel run (conftest).
pytestmark = pytest.mark.processes

ROOT = Path(__file__).resolve().parents[1]


def launch(tmp_path: Path, config: str = "", **env: str) -> tuple[str, int]:
    """Start ``python app.py`` as on a new machine, wait until it answers, stop it; its
    output and port."""
    database = f"sqlite:///{tmp_path / 'data' / 'arena.db'}"
    app = RunningApp(tmp_path, config, env=env, database_url=database, first_start=True)
    app.stop()
    return app.log.read_text(encoding="utf-8"), app.port


def summary_lines(output: str) -> list[str]:
    lines = output.splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith("Tanuki Arena is running"))
    return lines[start : start + 5]


def test_first_start_on_the_embedded_defaults(tmp_path: Path) -> None:
    output, port = launch(tmp_path)
    assert "Traceback" not in output
    head, database, models, ratings, step = summary_lines(output)
    assert head == f"Tanuki Arena is running on http://127.0.0.1:{port}"
    assert database == f"  database: SQLite file {tmp_path / 'data' / 'arena.db'}"
    assert models.startswith("  models:   3 offline demo models (Demo-")
    assert "no real model is configured" in models
    # The default schedule: nightly at 03:00 Japan time with the date of the next run,
    # and provisional refreshes while the arena is young.
    assert re.search(r"nightly at 03:00 JST \(next \d{4}-\d\d-\d\d 03:00\)", ratings), ratings
    assert "provisional every 5 min" in ratings
    assert "python -m arena recompute" in ratings
    assert step.startswith("  next:     open the URL, ask a question and vote")
    assert "arena.example.toml" in step and f"http://127.0.0.1:{port}/admin/" in step


CONFIGURED = """
[arena]
recompute_at = "off"
provisional_every_minutes = 0

[[models]]
name = "Local-A"
provider = "vllm"
base_url = "http://127.0.0.1:9/v1"

[[models]]
name = "Local-B"
provider = "vllm"
base_url = "http://127.0.0.1:9/v1"

[[models]]
name = "Local-C"
provider = "vllm"
base_url = "http://127.0.0.1:9/v1"
enabled = false
"""


def test_first_start_with_configured_models_and_no_schedule(tmp_path: Path) -> None:
    output, port = launch(tmp_path, CONFIGURED)
    head, _, models, ratings, step = summary_lines(output)
    assert head == f"Tanuki Arena is running on http://127.0.0.1:{port}"
    assert models == "  models:   2 configured models (Local-A, Local-B), 1 disabled"
    assert ratings.startswith("  ratings:  not scheduled (run python -m arena recompute")
    assert "python -m arena doctor --probe" in step
