"""The publication gallery: which battles it picks, what the page and the Markdown file
show (safely: model output never runs or loads anything), both languages, the files it
writes, the command line, and the admin console's one-download files."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from arena.admin import AdminConsole, ExportStore
from arena.cli import main as cli_main
from arena.config import Settings
from arena.db.models import AuditLog, Battle, Message, Model
from arena.export import ExportError
from arena.gallery import GalleryError, choose, markdown, page, write_gallery
from tests.test_export import SALT, seed

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = (
    "**bold** <script>alert(1)</script> <img src=http://tracker.example/p.gif> "
    '<form action="http://evil.example"><input name=pw></form> ![pixel](http://t.example/x.png)'
    " | pipe"
)


def _hostile(engine: Engine) -> str:
    """Put hostile text in one counted battle's answer and a model's name; its id."""
    seeded = seed(engine)
    bid = next(iter(seeded.counted))
    with Session(engine) as s, s.begin():
        answer = s.scalars(
            select(Message).where(Message.battle_id == bid, Message.role == "assistant")
        ).first()
        answer.content = HOSTILE + "\n次の行"
        battle = s.get(Battle, bid)
        s.get(Model, battle.model_a_id).name = "<b>Bold-Model</b>"
    return bid


def test_random_choice_is_one_per_pair_and_repeatable(engine: Engine) -> None:
    seeded = seed(engine, n_random=60)
    shown = choose(engine, per_pair=1, seed=3)
    pairs = [frozenset((b.model_a, b.model_b)) for b in shown]
    assert len(pairs) == len(set(pairs)) == 6  # four models: every pair once
    assert all(b.id in seeded.counted for b in shown)  # counted votes only
    assert [b.id for b in choose(engine, per_pair=1, seed=3)] == [b.id for b in shown]
    assert len(choose(engine, per_pair=2, seed=3)) == 12
    only = choose(engine, per_pair=5, models=("Plain-7B", "Tanuki-8B-dpo-v1.0"))
    assert {frozenset((b.model_a, b.model_b)) for b in only} == {
        frozenset(("Plain-7B", "Tanuki-8B-dpo-v1.0"))
    }


def test_chosen_by_id_in_order(engine: Engine) -> None:
    seeded = seed(engine)
    ids = list(seeded.counted)[::-1][:2]
    assert [b.id for b in choose(engine, battle_ids=tuple(ids))] == ids
    with pytest.raises(GalleryError, match="no voted battle nope"):
        choose(engine, battle_ids=(ids[0], "nope"))


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_page_and_markdown_are_safe(engine: Engine, lang: str) -> None:
    bid = _hostile(engine)
    shown = choose(engine, battle_ids=(bid,))
    html_page = page(shown, lang)
    assert "Content-Security-Policy" in html_page and "default-src 'none'" in html_page
    lowered = html_page.lower()
    for tag in ("<script", "<img", "<form", "<input", "<iframe", "<link"):
        assert tag not in lowered, tag
    assert not re.search(r"<[^>]*\b(src|action)=", lowered)  # nothing loads, nothing posts
    assert "<strong>bold</strong>" in html_page  # Markdown rendered
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_page  # shown, not run
    assert "&lt;b&gt;Bold-Model&lt;/b&gt;" in html_page
    assert ("判定" if lang == "ja" else "Verdict") in html_page
    assert ("A の勝ち" if lang == "ja" else "A wins") in html_page
    text = markdown(shown, lang)
    assert "<script" not in text and "<img" not in text and "<form" not in text
    assert "!\\[pixel]" in text and "\\| pipe" in text and "&lt;b&gt;Bold-Model" in text
    assert "<br>次の行" in text  # the answer's lines, in one table cell
    assert f"## {'対戦' if lang == 'ja' else 'Battle'} {bid}" in text


def test_write_gallery_and_refuse_to_replace(engine: Engine, tmp_path: Path) -> None:
    seed(engine, n_random=10)
    shown = choose(engine)
    html_file, md_file = write_gallery(shown, tmp_path / "gallery", "en")
    assert html_file.name == "gallery.html" and md_file.name == "gallery.md"
    assert html_file.read_text(encoding="utf-8").startswith("<!doctype html>")
    with pytest.raises(ExportError, match="already exists"):
        write_gallery(shown, tmp_path / "gallery.html", "en")
    write_gallery(shown, tmp_path / "gallery", "ja", force=True)
    assert 'lang="ja"' in html_file.read_text(encoding="utf-8")


def test_cli_gallery(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    # In-process (arena.cli.main, what `python -m arena` runs): a launch added only the
    # interpreter's start-up; tests/test_cli.py launches the command line for real.
    seed(engine, n_random=10)
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("ARENA_EXPORT_SALT", SALT)
    monkeypatch.delenv("ARENA_CONFIG", raising=False)
    monkeypatch.chdir(ROOT)

    def run(*args: str) -> subprocess.CompletedProcess:
        code = cli_main(["gallery", *args])
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)

    r = run("--out", str(tmp_path / "g"), "--lang", "en", "--per-pair", "2", "--seed", "1")
    assert r.returncode == 0, r.stderr
    assert "battles ->" in r.stderr and (tmp_path / "g.html").exists()
    assert "A wins" in (tmp_path / "g.md").read_text(encoding="utf-8") or "B wins" in (
        tmp_path / "g.md"
    ).read_text(encoding="utf-8")
    r = run("--out", str(tmp_path / "g"))
    assert r.returncode == 2 and "already exists" in r.stderr
    r = run("--out", str(tmp_path / "h"), "--battles", "missing-id")
    assert r.returncode == 2 and "no voted battle missing-id" in r.stderr
    with Session(engine) as s:
        actions = [a.action for a in s.scalars(select(AuditLog))]
    assert actions.count("gallery") == 1


def test_admin_console_keeps_the_files_for_one_download(engine: Engine, tmp_path: Path) -> None:
    seed(engine, n_random=10)
    console = AdminConsole(Settings(database_url=str(engine.url)), engine)
    shown, html_page, text = console.gallery("alice", per_pair=1, lang="en")
    store = ExportStore(tmp_path / "exports")
    ticket = store.keep("alice", "g.html", html_page.encode(), "html", len(shown))
    assert store.take("bob", ticket.id) is None  # another admin's
    taken = store.take("alice", ticket.id)
    assert taken is not None
    with taken[1] as f:
        assert f.read().decode() == html_page
    assert store.take("alice", ticket.id) is None  # one download
    with Session(engine) as s:
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "gallery")).one()
    assert audit.actor == "alice" and shown[0].id in audit.detail
    assert text.startswith("# Example battles")
