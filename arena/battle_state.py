"""What a battle's callers send and get back: voters, turns, reveals, transcripts, prompts.

The plain values :class:`arena.battles.Arena` takes and yields (a voter's token and
address, a turn's snapshot per side, the reveal after a vote, a stored transcript) and the
checks on a prompt before any model sees it. Apart from the lifecycle so the page and the
API can name them without reading how a battle runs; ``arena.battles`` still names them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from arena.db.models import BattleStatus, Side, Winner
from arena.errors import BattleRejected

SIDES = (Side.A, Side.B)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: NUL (PostgreSQL refuses it in text) and lone surrogates (no encoding can carry them).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
#: A side's error as the client sees it before the vote: a code and this message only.
SIDE_ERROR_MESSAGE = "the model could not answer"


@dataclass(frozen=True)
class VoterRef:
    """Who is acting: the server-issued token the browser holds, and the client address."""

    token: str
    ip: str | None = None


def error_code(error: str | None) -> str | None:
    """The code of a stored side error (``"timeout: after 60 s ..."`` -> ``"timeout"``)."""
    return None if error is None else error.split(":", 1)[0].strip() or "error"


@dataclass
class SideState:
    """One side of the current turn as the volunteer sees it."""

    text: str = ""
    done: bool = False
    error: str | None = None  # a code only (``timeout``, ``http_500``): never upstream details


@dataclass
class TurnState:
    """A snapshot of the battle during a turn; yielded many times while streaming."""

    battle_id: str
    turn: int
    sides: dict[Side, SideState] = field(default_factory=lambda: {s: SideState() for s in SIDES})
    names: dict[Side, str] | None = None  # only in named and direct modes

    @property
    def finished(self) -> bool:
        return all(s.done for s in self.sides.values())

    @property
    def votable(self) -> bool:
        return self.finished and not any(s.error for s in self.sides.values())


@dataclass(frozen=True)
class Reveal:
    """What the volunteer learns after voting."""

    winner: Winner
    names: dict[Side, str]
    weights: dict[Side, str]
    descriptions: dict[Side, str]
    counted: bool  # False when the battle will not count (a model named itself, named mode)
    #: Each side's reasoning, turn by turn: only with show_reasoning_after_vote.
    reasoning: dict[Side, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Transcript:
    """A battle's stored turns: prompt, both answers and each side's error code."""

    battle_id: str
    status: BattleStatus
    turns: list[dict[str, object]]


def _visible(text: str) -> bool:
    """True when ``text`` shows something: not only spaces and invisible format characters
    (zero-width spaces and joiners, BOM, soft hyphens, bidi marks)."""
    return any(not c.isspace() and unicodedata.category(c) not in ("Cf", "Zs") for c in text)


def storable(text: str) -> str:
    """``text`` with NUL and lone surrogates replaced by U+FFFD (shown, stored, exported)."""
    return _UNSTORABLE.sub("\ufffd", text)


def clean_prompt(text: object, limit: int) -> str:
    """Validate a prompt; raise :class:`BattleRejected` with the reason when unusable."""
    if not isinstance(text, str):
        raise BattleRejected("the prompt must be text", code="prompt_invalid")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BattleRejected(
            "the prompt contains invalid characters", code="prompt_invalid"
        ) from exc
    text = _CONTROL.sub("", unicodedata.normalize("NFC", text)).strip()
    if not _visible(text):
        raise BattleRejected("the prompt is empty", code="prompt_empty")
    if len(text) > limit:
        raise BattleRejected(
            f"the prompt is too long ({len(text)} > {limit} characters)",
            code="prompt_too_long",
            length=len(text),
            limit=limit,
        )
    return text


#: How a battle's first prompt came (``battles.prompt_source``): the API validates with it.
SOURCE_PATTERN = r"typed|example:[a-z_]{1,30}"
SOURCE_TAG = re.compile(SOURCE_PATTERN)
