"""What an export is: its columns, its options, its schema version, and its one error.

The columns of the public Chatbot Arena battle files and the ones this arena adds (see
:mod:`arena.export` for what each holds), :class:`ExportOptions` (which votes, which
columns), the dates a command line or the admin page gives, and :class:`ExportError`.
Apart from the query, the writers and the files so that each of them, and the admin
page, can name these without the others.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from arena.errors import ArenaError

#: 5: each battle's prompt_language (a language name, as ``language``) and categories.
#: 4: the volunteer's feedback: reasons_a, reasons_b, comment, reactions; prompt_source.
#: 3: messages carry ``num_tokens``; conv_metadata, category_tag, flags, metadata added.
#: 2: every message carries ``finish_reason`` (1: ``{role, content}`` only).
SCHEMA_VERSION = 5
FORMATS = ("jsonl", "json", "csv", "parquet")
COLUMNS = (
    "question_id",
    "model_a",
    "model_b",
    "winner",
    "judge",
    "conversation_a",
    "conversation_b",
    "turn",
    "anony",
    "language",
    "tstamp",
    "conv_metadata",
    "category_tag",
    "flags",
    "metadata",
    "reasons_a",
    "reasons_b",
    "comment",
    "reactions",
    "prompt_source",
    "prompt_language",
    "categories",
)
#: Free text typed by people: left out together by ``--no-conversations``.
FREE_TEXT = ("conversation_a", "conversation_b", "comment")
#: The keys of each reaction in ``reactions``, in this order.
REACTION_KEYS = ("turn", "side", "value")
#: The keys of each message of ``conversation_a`` / ``conversation_b``, in this order.
MESSAGE_KEYS = ("role", "content", "finish_reason", "num_tokens")


#: Language codes the arena stores, spelled as the public files spell languages.
LANGUAGE_NAMES = {"ja": "Japanese", "en": "English"}


class ExportError(ArenaError):
    """An export was refused or failed; nothing was left at the output path."""


def parse_moment(value: str | None, *, end: bool = False) -> datetime | None:
    """``YYYY-MM-DD`` or an ISO date-time, in UTC. A bare date as an end means its whole day."""
    if not value:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime.combine(day + timedelta(days=1 if end else 0), time(), UTC)
        else:
            moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ExportError(f"not a date: {value!r} (use YYYY-MM-DD)", code="invalid") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class ExportOptions:
    """What to export. By default exactly the votes the leaderboard counts."""

    since: datetime | None = None  # vote time, inclusive
    until: datetime | None = None  # vote time, exclusive
    models: tuple[str, ...] = ()  # both sides among these; empty = all
    include_named: bool = False
    include_flagged: bool = False
    include_voided: bool = False
    conversations: bool = True

    def manifest(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("since", "until"):
            out[key] = out[key].isoformat() if out[key] else None
        out["models"] = list(self.models)
        return out


def columns(options: ExportOptions) -> tuple[str, ...]:
    """The columns an export with ``options`` has (conversations may be left out)."""
    if options.conversations:
        return COLUMNS
    return tuple(c for c in COLUMNS if c not in FREE_TEXT)
