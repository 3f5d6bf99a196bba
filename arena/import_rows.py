"""One row of a battle file, checked: the import's precise, line-numbered path.

:func:`validate` takes one raw row (a dict, or a JSON line as bytes) of any published
layout through the shared reader (:func:`ratings.battlefile.normalise`), makes the
import's own checks (lengths, NUL characters, lone surrogates, the order of roles, finish
reasons, this arena's feedback columns) and returns a :class:`Row` in the form the
database stores, or raises :class:`RowError` with the reason shown to the operator.
:func:`check_chunk` runs it over a chunk, in a worker process for a big file.
:mod:`arena.import_columns` takes the plain rows of a block as arrays and sends every
other row here; :mod:`arena.importer` writes the rows.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, NamedTuple

from arena.backends.base import FINISH_REASONS
from arena.categories import CATEGORIES, LANGUAGES, UNDETERMINED
from arena.db.models import Winner
from ratings.battlefile import BattleRowError, decode_record, normalise

WINNERS = {w.value: w for w in Winner}
HEX32 = re.compile(r"[0-9a-fA-F]{32}")
NULL = "\\N"  # a null in PostgreSQL's COPY text format


class RowError(ValueError):
    """One row is unusable; the message is the reason shown to the operator."""


class Row(NamedTuple):
    """A validated battle row, its times already in the form the database stores."""

    where: int
    id: str
    model_a: str
    model_b: str
    winner: str  # a Winner value
    judge: str
    turns: int
    anony: bool
    language: str
    at: Any  # the vote's time: a datetime, or SQLite's text
    source_id: str | None  # the id the file gave, if any
    judge_given: str | None  # the judge as the file gave it
    flags: tuple[str, ...]  # moderation, toxic_chat, identity
    meta: str | None  # JSON: conv_metadata, category_tag, metadata
    feedback: Feedback  # this arena's own export: the volunteer's reasons, comment, reactions
    # Both sides' rows of MESSAGE_COLUMNS; for PostgreSQL already in COPY's text format,
    # made by the worker process that validates, so the importing process only sends it.
    messages: list[tuple] | bytes


class Feedback(NamedTuple):
    """What a volunteer told besides the verdict, as this arena's export writes it."""

    reasons: tuple[tuple[str, str], ...] = ()  # (side, tag), in the order given
    comment: str | None = None
    reactions: tuple[tuple[int, str, int], ...] = ()  # (turn, side, value)
    prompt_source: str | None = None
    prompt_language: str | None = None  # a code of arena.categories.LANGUAGES, or und
    categories: tuple[str, ...] = ()  # of arena.categories.CATEGORIES


NO_FEEDBACK = Feedback()
#: The export's feedback columns (schema version 4) and tags (5); in other layouts they are
#: metadata.
FEEDBACK_COLUMNS = ("reasons_a", "reasons_b", "comment", "reactions", "prompt_source")
TAG_COLUMNS = ("prompt_language", "categories")
MAX_TAG = 40
#: A prompt language as the export names it (or as its code) -> the stored code.
LANGUAGE_CODES = {
    **{name: code for code, name in LANGUAGES.items()}, **{code: code for code in LANGUAGES},
    "unknown": UNDETERMINED, UNDETERMINED: UNDETERMINED,
}  # fmt: skip


def _tags(metadata: dict[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    """The export's prompt language (as its stored code) and categories, taken out of a
    row's other columns; a language or category this arena does not know stays there."""
    language = metadata.get("prompt_language")
    code = LANGUAGE_CODES.get(language) if type(language) is str else None
    if code is not None or language is None:
        metadata.pop("prompt_language", None)
    given = metadata.get("categories")
    if given is None or not isinstance(given, list):
        return code, ()
    known = [c for c in given if type(c) is str and c in CATEGORIES]
    unknown = [c for c in given if not (type(c) is str and c in CATEGORIES)]
    if unknown:
        metadata["categories"] = unknown
    else:
        metadata.pop("categories")
    return code, tuple(dict.fromkeys(known))


def _feedback(metadata: dict[str, Any]) -> Feedback:
    """Take the feedback columns out of a row's other columns and check them."""
    if not any(k in metadata for k in FEEDBACK_COLUMNS):
        return NO_FEEDBACK
    given = {k: metadata.pop(k) for k in FEEDBACK_COLUMNS if k in metadata}
    reasons = []
    for side in ("a", "b"):
        tags = given.get(f"reasons_{side}") or []
        if not isinstance(tags, list) or any(
            type(t) is not str or not 0 < len(t) <= MAX_TAG or "\x00" in t for t in tags
        ):
            raise RowError(
                f"reasons_{side} must be a list of tags (text of 1-{MAX_TAG} characters)"
            )
        if len(set(tags)) != len(tags):
            raise RowError(f"reasons_{side} names a tag twice")
        reasons += [(side, t) for t in tags]
    reactions = []
    for k, item in enumerate(given.get("reactions") or []):
        turn = item.get("turn") if isinstance(item, dict) else None
        side = item.get("side") if isinstance(item, dict) else None
        value = item.get("value") if isinstance(item, dict) else None
        whole = type(turn) is int and type(value) is int
        if not whole or turn < 1 or side not in ("a", "b") or value not in (1, -1):
            raise RowError(f"reactions[{k}] must be {{turn >= 1, side a or b, value 1 or -1}}")
        reactions.append((turn, side, value))
    if len({r[:2] for r in reactions}) != len(reactions):
        raise RowError("reactions holds two reactions to one answer")
    comment = given.get("comment")
    source = given.get("prompt_source")
    if comment is not None and (type(comment) is not str or "\x00" in comment):
        raise RowError("comment must be text without NUL characters")
    if source is not None and (type(source) is not str or len(source) > MAX_TAG):
        raise RowError(f"prompt_source must be text of at most {MAX_TAG} characters")
    return Feedback(tuple(reasons), comment or None, tuple(reactions), source or None)


# -- validating rows ----------------------------------------------------------------


def battle_id(question_id: str) -> str:
    """The battle id of a row's id: itself if 32 hex digits, else a hash of it."""
    if HEX32.fullmatch(question_id):
        return question_id.lower()
    return hashlib.sha256(b"question_id:" + question_id.encode()).hexdigest()[:32]


def voter_token(judge: str) -> str:
    """The voters.token of an imported judge (64 characters, unlike browser tokens)."""
    return "imp_" + hashlib.sha256(b"judge:" + judge.encode()).hexdigest()[:60]


def _text(value: str | None, key: str, limit: int) -> str:
    """A normalised text field, checked for length and NUL (empty when missing)."""
    if value is None:
        return ""
    if len(value) > limit:
        raise RowError(f"{key} longer than {limit} characters")
    if "\x00" in value:
        raise RowError(f"{key} contains a NUL character")
    return value


Message_ = tuple[int, str, str, str | None, int | None]  # turn, role, content, finish, tokens


def _conversation(messages: list[dict[str, Any]], key: str) -> list[Message_]:
    """``(turn, role, content, finish_reason, num_tokens)`` of each message. A user
    message starts a turn; system messages come first, as turn 0; ``finish_reason`` (an
    export's, one of FINISH_REASONS) is only for an answer."""
    out: list[Message_] = []
    turn = 0
    for k, msg in enumerate(messages):
        role, content, finish = msg["role"], msg["content"], msg.get("finish_reason")
        where = f"{key}[{k}]"
        if role == "user":
            turn += 1
        elif role == "system" and turn:
            raise RowError(f"{where} is a system message after the conversation started")
        elif role == "assistant" and not turn:
            raise RowError(f"{key} starts with an assistant message")
        if "\x00" in content:
            raise RowError(f"{where}.content contains a NUL character")
        if finish is not None:
            if role != "assistant":
                raise RowError(f"{where}.finish_reason must be null for a {role} message")
            if type(finish) is not str or finish not in FINISH_REASONS:
                known = ", ".join(sorted(FINISH_REASONS))
                raise RowError(
                    f"{where}.finish_reason must be null or one of {known}, got {finish!r}"
                )
        out.append((turn, role, content, finish, msg.get("num_tokens")))
    return out


def _moment(value: float | None) -> datetime:
    if value is None:
        raise RowError("missing tstamp (the vote's time)")
    if not 0 < value < 4.1e9:
        raise RowError(f"tstamp out of range: {value!r}")
    return datetime.fromtimestamp(value, UTC)


def _turns(value: Any, conv_a: list, conv_b: list) -> int:
    if value is None or value == "":
        return max(1, conv_a[-1][0] if conv_a else 0, conv_b[-1][0] if conv_b else 0)
    try:
        if isinstance(value, bool) or float(value) != int(float(value)):
            raise ValueError
        turns = int(float(value))
    except (TypeError, ValueError):
        raise RowError(f"turn must be a whole number, got {value!r}") from None
    if turns < 1:
        raise RowError(f"turn must be at least 1, got {turns}")
    return turns


SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_surrogates(texts: dict[str, str], conv_a: list, conv_b: list, meta: str) -> None:
    """Raise :class:`RowError` naming the first text holding a lone surrogate: Python's
    JSON decoder lets one through from an escape, and no database can store it."""
    named = [*texts.items(), ("metadata", meta)]
    for key, conv in (("conversation_a", conv_a), ("conversation_b", conv_b)):
        named += [(f"{key}[{k}].content", m[2]) for k, m in enumerate(conv)]
    for name, text in named:
        found = None if text.isascii() else SURROGATE.search(text)
        if found:
            raise RowError(
                f"{name} is not valid Unicode: it holds a lone surrogate "
                f"(U+{ord(found.group()):04X}, half of a character cut in two)"
            )


def _meta(row: dict[str, Any], schema: str) -> str | None:
    """What ``battles.meta`` keeps of a row: JSON, or None when there is nothing (its
    ``flags`` too, so that an export names the source's verdicts, not only the column)."""
    kept = {k: row[k] for k in ("conv_metadata", "category_tag", "metadata", "flags") if row[k]}
    # conv_metadata is kept as the file gives it (an export passes the stored one on
    # instead of counting the conversations again), our own exports' too.
    if not kept:
        return None
    kept["schema"] = schema
    try:  # a Parquet column of times or bytes: kept as its text
        return json.dumps(
            kept, ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False
        )
    except ValueError as exc:  # a float that is not finite, a cycle
        raise RowError(f"metadata cannot be kept as JSON: {exc}") from None


def validate(where: int, raw: Any, *, dialect: str = "", schema: str = "fastchat") -> Row:
    """Check one row of ``schema`` (a dict, or a JSON line as bytes); raise
    :class:`RowError` with the reason. Times and messages come in the form ``dialect``'s
    database takes (see :class:`Row`)."""
    # Only a \uD800-\uDFFF escape can put a lone surrogate into a JSON line (raw UTF-8
    # cannot hold one); rows that came as objects are looked through every time.
    suspect = type(raw) is not bytes or b"\\ud" in raw or b"\\uD" in raw
    try:
        row = normalise(decode_record(raw), schema)
    except BattleRowError as exc:
        raise RowError(str(exc)) from None
    source = _text(row["id"], "id", 200) if not row["metadata"].get("id_derived") else None
    model_a, model_b = _text(row["model_a"], "model_a", 200), _text(row["model_b"], "model_b", 200)
    judge = _text(row["judge"], "judge", 200)
    language = _text(row["language"], "language", 64) or "und"
    conv_a = _conversation(row["conversation_a"], "conversation_a")
    conv_b = _conversation(row["conversation_b"], "conversation_b")
    feedback = NO_FEEDBACK
    if schema == "fastchat":
        language_tag, categories = _tags(row["metadata"])
        feedback = _feedback(row["metadata"])._replace(
            prompt_language=language_tag, categories=categories
        )
    meta = _meta(row, schema)
    if suspect:
        texts = {"id": row["id"], "model_a": model_a, "model_b": model_b, "judge": judge,
                 "language": language, "comment": feedback.comment or ""}  # fmt: skip
        _refuse_surrogates(texts, conv_a, conv_b, meta or "")
    bid, moment = battle_id(row["id"]), _moment(row["tstamp"])
    at = _sqlite_time(moment) if dialect == "sqlite" else moment
    messages: list[tuple] | bytes
    if dialect == "postgresql":
        messages = _copy_messages(bid, conv_a, conv_b, moment)
    else:
        messages = [(bid, "a", *message, at) for message in conv_a]
        messages += [(bid, "b", *message, at) for message in conv_b]
    return Row(
        where=where,
        id=bid,
        model_a=model_a,
        model_b=model_b,
        winner=WINNERS[row["winner"]].value,
        judge=judge,
        turns=_turns(row["turn"], conv_a, conv_b),
        anony=bool(row["anony"]),
        language=language,
        at=at,
        messages=messages,
        source_id=source,
        judge_given=row["judge"],
        flags=tuple(row["flags"]),
        meta=meta,
        feedback=feedback,
    )


def _copy_escape(text: str) -> str:
    """``text`` as a field of PostgreSQL's COPY text format (NUL is refused earlier)."""
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if "\n" in text:
        text = text.replace("\n", "\\n")
    if "\r" in text:
        text = text.replace("\r", "\\r")
    if "\t" in text:
        text = text.replace("\t", "\\t")
    return text


def _copy_messages(bid: str, conv_a: list, conv_b: list, at: datetime) -> bytes:
    """The rows of MESSAGE_COLUMNS of one battle in COPY's text format. Only the content
    needs escaping: the id is hex, the side, role, turn, finish reason and token count
    are checked (``\\N`` is COPY's null), the time is ISO."""
    tail = f"\t{at.isoformat()}\n"
    lines = [
        f"{bid}\t{side}\t{turn}\t{role}\t{_copy_escape(content)}\t{finish or NULL}\t"
        f"{NULL if tokens is None else tokens}{tail}"
        for side, conv in (("a", conv_a), ("b", conv_b))
        for turn, role, content, finish, tokens in conv
    ]
    return "".join(lines).encode()


def check_chunk(
    chunk: Iterable[tuple[int, Any]], dialect: str, schema: str = "fastchat"
) -> list[Row | tuple]:
    """Validate a chunk of raw rows: a :class:`Row` for each good one, ``(where, reason)``
    for each refused one, in order. Runs in a worker process for a big file."""
    out: list[Row | tuple] = []
    for where, raw in chunk:
        try:
            out.append(validate(where, raw, dialect=dialect, schema=schema))
        except RowError as exc:
            out.append((where, str(exc)))
    return out


def check_chunk_packed(chunk: Iterable[tuple[int, Any]], dialect: str, schema: str) -> bytes:
    """:func:`check_chunk`, pickled by the worker process itself. Otherwise the pool's
    result thread would unpickle the rows, holding the GIL that the importing thread takes
    back after every row SQLite stores; as bytes they cross whole, and the importing
    thread unpickles them between its batches (:func:`_unpacked`)."""
    return pickle.dumps(check_chunk(chunk, dialect, schema), pickle.HIGHEST_PROTOCOL)


def _sqlite_time(moment: datetime) -> str:
    # The text SQLAlchemy stores for a DateTime on SQLite (UTC, no offset).
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
