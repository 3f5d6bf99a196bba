"""A publication gallery: chosen battles side by side, as a self-contained HTML page and
a Markdown file, like the table of example answers in a leaderboard's announcement.

Battles are chosen by id (the arena's, or an imported battle's source id) or at random,
``per_pair`` for each pair of models among the counted votes (anonymous, voted, not
voided, not flagged), with a seed so the same call picks the same battles. Each shows its
prompts, both answers turn by turn, the two names and the verdict, labelled in Japanese
or English.

Model output is never trusted: in the page every prompt and answer goes through
:func:`arena.render.render` (Markdown parsed on the server, HTML cleaned by an
allow-list: no script, form, image or style can come from a model), names through
``html.escape``, and the page carries a Content-Security-Policy that loads nothing from
anywhere (``default-src 'none'``, inline styles only). In the Markdown file the texts are
escaped (``<``, ``>``, ``&``, ``|``, and ``![`` so that no image loads), so a renderer
shows what the model wrote instead of running it.
"""

from __future__ import annotations

import html
import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session, selectinload

from arena.db.counted import counted
from arena.db.models import Battle, Vote
from arena.errors import ArenaError
from arena.export import StagedFile, check_target
from arena.render import render

LANGUAGES = ("ja", "en")
LABELS: dict[str, dict[str, str]] = {
    "ja": {
        "title": "対戦の例", "battle": "対戦", "turn": "ターン", "prompt": "質問",
        "verdict": "判定", "model_a": "A の勝ち", "model_b": "B の勝ち", "tie": "引き分け",
        "tie (bothbad)": "どちらもだめ", "note": "匿名の対戦で集めた投票から選んだ例です。",
        "none": "(回答なし)",
    },
    "en": {
        "title": "Example battles", "battle": "Battle", "turn": "Turn", "prompt": "Prompt",
        "verdict": "Verdict", "model_a": "A wins", "model_b": "B wins", "tie": "Tie",
        "tie (bothbad)": "Both bad", "note": "Examples chosen among the votes of blind battles.",
        "none": "(no answer)",
    },
}  # fmt: skip
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
STYLE = """
body{font-family:system-ui,"Noto Sans CJK JP",sans-serif;max-width:72rem;margin:2rem auto;
padding:0 1rem;color:#1f2328;line-height:1.55}
h1{font-size:1.6rem}section.battle{border-top:2px solid #d0d7de;margin-top:2rem}
h2{font-size:1.15rem}.meta{color:#59636e;font-size:.9rem}
.prompt{background:#f6f8fa;border-left:4px solid #8c959f;padding:.3rem .8rem;margin:.8rem 0}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
.side{border:1px solid #d0d7de;border-radius:6px;padding:.3rem .8rem;overflow-wrap:anywhere}
.side.won{border-color:#1a7f37;box-shadow:0 0 0 1px #1a7f37}
.side h3{font-size:.95rem;margin:.4rem 0}pre{overflow-x:auto;background:#f6f8fa;padding:.5rem}
@media (max-width:48rem){.pair{grid-template-columns:1fr}}
"""


class GalleryError(ArenaError):
    """No gallery: an unknown battle, nothing to show, or a bad argument."""


@dataclass
class Turn:
    prompt: str
    answers: dict[str, str] = field(default_factory=dict)  # side -> answer


@dataclass
class Shown:
    """One battle as the gallery shows it."""

    id: str
    model_a: str
    model_b: str
    winner: str
    language: str
    at: datetime
    turns: list[Turn]


def _counted(q: Any) -> Any:
    """Only battles whose vote counts (:func:`arena.db.counted.counted`)."""
    return q.where(counted())


def choose(
    engine: Engine,
    *,
    battle_ids: tuple[str, ...] = (),
    per_pair: int = 1,
    models: tuple[str, ...] = (),
    seed: int = 0,
) -> list[Shown]:
    """The battles to show: ``battle_ids`` in that order, else ``per_pair`` at random for
    each pair of models (among ``models`` if given), pairs in name order."""
    with Session(engine) as s:
        if battle_ids:
            found = {
                key: b
                for b in s.scalars(
                    select(Battle)
                    .join(Vote, Vote.battle_id == Battle.id)
                    .where(or_(Battle.id.in_(battle_ids), Battle.source_id.in_(battle_ids)))
                )
                for key in (b.id, b.source_id)
                if key
            }
            missing = [i for i in battle_ids if i not in found]
            if missing:
                raise GalleryError(f"no voted battle {', '.join(missing)}", code="invalid")
            chosen = [found[i].id for i in battle_ids]
        else:
            if per_pair < 1:
                raise GalleryError("per_pair must be at least 1", code="invalid")
            q = _counted(select(Battle.id, Battle.model_a_id, Battle.model_b_id).join(Vote))
            by_pair: dict[tuple[int, int], list[str]] = defaultdict(list)
            for bid, a, b in s.execute(q.order_by(Battle.id)):
                by_pair[min(a, b), max(a, b)].append(bid)
            rng = random.Random(seed)
            chosen = []
            for pair in sorted(by_pair):
                ids = by_pair[pair]
                chosen += rng.sample(ids, min(per_pair, len(ids)))
        battles = s.scalars(
            select(Battle)
            .where(Battle.id.in_(chosen))
            .options(selectinload(Battle.messages), selectinload(Battle.vote))
        ).all()
        shown = {b.id: _shown(b) for b in battles}
    out = [shown[i] for i in chosen]
    if models:
        wanted = set(models)
        out = [b for b in out if {b.model_a, b.model_b} <= wanted]
    if not out:
        raise GalleryError("no battle to show (no counted votes match)", code="invalid")
    return sorted(out, key=lambda b: (b.model_a, b.model_b, b.at)) if not battle_ids else out


def _shown(battle: Battle) -> Shown:
    turns: dict[int, Turn] = {}
    for m in battle.messages:
        if m.role == "user" and m.side.value == "a":
            turns.setdefault(m.turn, Turn(prompt="")).prompt = m.content
        elif m.role == "assistant":
            turns.setdefault(m.turn, Turn(prompt="")).answers[m.side.value] = m.content
    assert battle.vote is not None and battle.model_b is not None
    return Shown(
        id=battle.source_id or battle.id,
        model_a=battle.model_a.name,
        model_b=battle.model_b.name,
        winner=battle.vote.winner.value,
        language=battle.language,
        at=battle.vote.created_at,
        turns=[turns[k] for k in sorted(turns)],
    )


def page(battles: list[Shown], lang: str = "ja") -> str:
    """The self-contained HTML page (no script, nothing loaded from anywhere)."""
    t = LABELS[lang]
    parts = [
        "<!doctype html>",
        f'<html lang="{lang}"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(t['title'])}</title><style>{STYLE}</style></head><body>",
        f'<h1>{html.escape(t["title"])}</h1><p class="meta">{html.escape(t["note"])}</p>',
    ]
    for b in battles:
        names = {"a": b.model_a, "b": b.model_b}
        verdict = t[b.winner]
        parts.append(
            f'<section class="battle" id="battle-{html.escape(b.id)}">'
            f"<h2>{html.escape(t['battle'])} {html.escape(b.id)}: "
            f"{html.escape(b.model_a)} vs {html.escape(b.model_b)}</h2>"
            f'<p class="meta">{html.escape(t["verdict"])}: <strong>{html.escape(verdict)}'
            f"</strong> · {html.escape(b.language)} · {b.at.astimezone(UTC):%Y-%m-%d}</p>"
        )
        for k, turn in enumerate(b.turns, 1):
            label = f"{t['turn']} {k} · {t['prompt']}" if len(b.turns) > 1 else t["prompt"]
            parts.append(
                f'<div class="turn"><div class="prompt"><h3>{html.escape(label)}</h3>'
                f'{render(turn.prompt)}</div><div class="pair">'
            )
            for side in "ab":
                won = " won" if b.winner == f"model_{side}" else ""
                answer = turn.answers.get(side)
                body = render(answer) if answer else f"<p>{html.escape(t['none'])}</p>"
                parts.append(
                    f'<div class="side{won}"><h3>{side.upper()}: {html.escape(names[side])}'
                    f"</h3>{body}</div>"
                )
            parts.append("</div></div>")
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _md_text(text: str) -> str:
    """Model text for a Markdown table cell or quote: nothing a renderer would run or
    load (no HTML, no image), kept on one line with ``<br>`` (the only tag written)."""
    text = html.escape(text, quote=False).replace("![", "!\\[").replace("|", "\\|")
    return "<br>".join(text.splitlines()) or " "


def markdown(battles: list[Shown], lang: str = "ja") -> str:
    """The Markdown file: per battle a heading, the verdict, and per turn the prompt as
    a quote and both answers side by side in a two-column table."""
    t = LABELS[lang]
    lines = [f"# {t['title']}", "", t["note"], ""]
    for b in battles:
        a, bb = _md_text(b.model_a), _md_text(b.model_b)
        lines += [
            f"## {t['battle']} {_md_text(b.id)}: {a} vs {bb}",
            "",
            f"{t['verdict']}: **{t[b.winner]}** · {_md_text(b.language)} · "
            f"{b.at.astimezone(UTC):%Y-%m-%d}",
            "",
        ]
        for k, turn in enumerate(b.turns, 1):
            label = f"{t['turn']} {k} · {t['prompt']}" if len(b.turns) > 1 else t["prompt"]
            lines += [f"**{label}**", "", f"> {_md_text(turn.prompt)}", ""]
            cells = [_md_text(turn.answers.get(side) or t["none"]) for side in "ab"]
            lines += [f"| A: {a} | B: {bb} |", "| --- | --- |", f"| {cells[0]} | {cells[1]} |", ""]
    return "\n".join(lines)


def check_targets(out: str | Path, *, force: bool = False) -> tuple[Path, Path]:
    """``OUT.html`` and ``OUT.md`` (``OUT`` may end in either), refused as an export's
    files are (:func:`arena.export.check_target`)."""
    stem = Path(out)
    stem = stem.with_suffix("") if stem.suffix in (".html", ".md") else stem
    targets = (stem.with_name(stem.name + ".html"), stem.with_name(stem.name + ".md"))
    for target in targets:
        check_target(target, force=force)
    return targets


def write_gallery(
    battles: list[Shown], out: str | Path, lang: str = "ja", *, force: bool = False
) -> tuple[Path, Path]:
    """Write ``OUT.html`` and ``OUT.md`` (staged and renamed into place, as exports are;
    existing files only with ``force``); return their paths."""
    if lang not in LANGUAGES:
        raise GalleryError(f"unknown language {lang!r} (use ja or en)", code="invalid")
    targets = check_targets(out, force=force)
    staged: list[StagedFile] = []
    published: list[Path] = []
    try:
        for target, text in zip(
            targets, (page(battles, lang), markdown(battles, lang)), strict=True
        ):
            staged.append(part := StagedFile(target))
            part.file.write(text.encode())
            part.seal()
        for part in staged:
            part.publish(force=force)
            published.append(part.target)
    except BaseException:
        for part in staged:
            part.discard()
        for path in published:  # both files or neither
            path.unlink(missing_ok=True)
        raise
    return targets


def summary(battles: list[Shown]) -> str:
    """One JSON line for the audit log: which battles were shown."""
    return json.dumps({"battles": [b.id for b in battles]})
