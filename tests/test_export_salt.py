"""The export's pseudonym salt without set-up: made at random on the first export, kept in
the database (``app_state``) for every later export by any process or command line on it;
``ARENA_EXPORT_SALT`` takes precedence; ``rotate-export-salt`` replaces it.

On SQLite and PostgreSQL (the ``engine`` fixture), through ``python -m arena`` as real
subprocesses and through the admin console the app uses.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from sqlalchemy import Engine, func, select

from arena.config import Settings, demo_models
from arena.db.models import AppState, Voter
from arena.export import SALT_KEY, ExportOptions, export_salt, pseudonym, stored_salt
from tests.conftest import python

ROOT = Path(__file__).resolve().parents[1]
ENV_SALT = "an-operator-salt-0123456789abcdef"
BATTLES = [
    {"question_id": f"q{k}", "model_a": "A-7B", "model_b": "B-8B", "winner": w, "judge": j,
     "tstamp": 1_764_000_000 + k}
    for k, (w, j) in enumerate([("model_a", "u1"), ("model_b", "u2"), ("tie", "u3")])
]  # fmt: skip


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _cli(tmp_path: Path, engine: Engine, *args: str, salt: str | None = None):
    config = tmp_path / "arena.toml"
    config.touch()
    env = {k: v for k, v in os.environ.items() if k != "ARENA_EXPORT_SALT"}
    env.update(DATABASE_URL=_url(engine), ARENA_CONFIG=str(config), PYTHONPATH=str(ROOT))
    if salt is not None:
        env["ARENA_EXPORT_SALT"] = salt
    return python(["-m", "arena", *args], cwd=tmp_path, env=env)


def _seed(tmp_path: Path, engine: Engine) -> list[str]:
    """Three votes by three judges, imported; the voters' tokens."""
    battles = tmp_path / "battles.jsonl"
    battles.write_text("".join(json.dumps(b) + "\n" for b in BATTLES), encoding="utf-8")
    r = _cli(tmp_path, engine, "import", str(battles))
    assert r.returncode == 0, r.stderr
    with engine.connect() as conn:
        return sorted(conn.scalars(select(Voter.token)))


def _export(tmp_path: Path, engine: Engine, name: str, salt: str | None = None) -> list[str]:
    """``python -m arena export``; the judge ids of the file, in row order."""
    out = tmp_path / name
    r = _cli(tmp_path, engine, "export", "--format", "jsonl", "--out", str(out), salt=salt)
    assert r.returncode == 0, r.stderr
    return [json.loads(line)["judge"] for line in out.read_text().splitlines()]


def _salt_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).where(AppState.key == SALT_KEY))


def test_first_export_makes_the_salt_and_later_exports_keep_it(
    engine: Engine, tmp_path: Path
) -> None:
    tokens = _seed(tmp_path, engine)
    assert stored_salt(engine) is None
    first = _export(tmp_path, engine, "first.jsonl")
    salt = stored_salt(engine)
    assert salt is not None and len(salt) == 64 and _salt_rows(engine) == 1
    assert sorted(first) == sorted(pseudonym(t, salt) for t in tokens)
    assert len(set(first)) == 3
    second = _export(tmp_path, engine, "second.jsonl")
    assert second == first and stored_salt(engine) == salt
    # The app's admin console (another process in production) finds the same salt.
    from arena.admin import AdminConsole

    console = AdminConsole(Settings(database_url=_url(engine), models=demo_models()), engine)
    console.export("admin:test", tmp_path / "console.jsonl", "jsonl", ExportOptions())
    lines = (tmp_path / "console.jsonl").read_text().splitlines()
    assert [json.loads(line)["judge"] for line in lines] == first
    # Deletion by a judge id of those exports finds the voter.
    assert console.delete_voter("admin:test", first[0])["votes"] == 1


def test_the_environment_variable_takes_precedence(engine: Engine, tmp_path: Path) -> None:
    tokens = _seed(tmp_path, engine)
    stored = _export(tmp_path, engine, "stored.jsonl")
    salt = stored_salt(engine)
    overridden = _export(tmp_path, engine, "env.jsonl", salt=ENV_SALT)
    assert sorted(overridden) == sorted(pseudonym(t, ENV_SALT) for t in tokens)
    assert not set(overridden) & set(stored)
    assert stored_salt(engine) == salt  # the stored one is neither used nor replaced


def test_environment_only_never_stores_a_salt(engine: Engine, tmp_path: Path) -> None:
    _seed(tmp_path, engine)
    _export(tmp_path, engine, "env.jsonl", salt=ENV_SALT)
    assert stored_salt(engine) is None


def test_rotation_gives_new_judge_ids(engine: Engine, tmp_path: Path) -> None:
    tokens = _seed(tmp_path, engine)
    before = _export(tmp_path, engine, "before.jsonl")
    old = stored_salt(engine)
    r = _cli(tmp_path, engine, "rotate-export-salt")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"rotated": True, "previous_salt": old}
    new = stored_salt(engine)
    assert new not in (None, old) and _salt_rows(engine) == 1
    after = _export(tmp_path, engine, "after.jsonl")
    assert sorted(after) == sorted(pseudonym(t, new) for t in tokens)
    assert not set(after) & set(before)
    # The old ids still resolve with the old salt given in the environment.
    assert _export(tmp_path, engine, "old.jsonl", salt=old) == before


def test_processes_racing_for_the_first_salt_get_one(engine: Engine) -> None:
    """Eight engines (as eight processes would) ask at once: one salt is made and kept."""
    from arena.db import make_engine

    engines = [make_engine(_url(engine)) for _ in range(8)]
    start = threading.Barrier(len(engines))
    got: list[str] = []

    def ask(e: Engine) -> None:
        start.wait()
        got.append(export_salt(e))

    threads = [threading.Thread(target=ask, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for e in engines:
        e.dispose()
    assert len(got) == 8 and len(set(got)) == 1
    assert stored_salt(engine) == got[0] and _salt_rows(engine) == 1
