"""One battle row of any published layout, checked and put in FastChat's layout.

:func:`normalise` turns one row of any layout (:data:`ratings.battlefile.SCHEMAS`) into
one dict in FastChat's layout (see :data:`FIELDS`) or raises :class:`BattleRowError` with
the reason. Nothing is dropped without a word: moderation and toxic-chat verdicts become
``flags``; columns the layout does not name go to ``metadata``; only LMArena's
``full_conversation`` (the same messages as ``conversation_a/b`` side by side) is left
out, as documented in docs/data.md. The checks of single cells (:func:`model_name`,
:func:`truth`, :func:`row_flags`, the winners) are shared with the fitting path
(:mod:`ratings.io_rows`). Files are read by :mod:`ratings.battlefile`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ratings.errors import InvalidInputError
from ratings.outcomes import CANONICAL_WINNER, WINNER_CODES, Outcome

#: The keys of a normalised row.
FIELDS = (
    "id", "model_a", "model_b", "winner", "judge", "conversation_a", "conversation_b",
    "turn", "anony", "language", "tstamp", "flags", "conv_metadata", "category_tag",
    "metadata",
)  # fmt: skip
#: Flag names a row can carry (stored battle flags; excluded from ratings by default).
FLAG_NAMES = ("moderation", "toxic_chat", "identity")
#: Columns that hold JSON in a CSV cell (objects, lists).
NESTED = frozenset(
    {"conversation_a", "conversation_b", "conv_metadata", "category_tag", "openai_moderation",
     "toxic_chat_tag", "flags", "metadata", "dedup_tag", "reasons_a", "reasons_b", "reactions",
     "categories"}
)  # fmt: skip
#: Columns a layout reads itself (everything else of a row goes to ``metadata``).
_FASTCHAT_OWN = frozenset(
    {"question_id", "id", "model_a", "model_b", "winner", "judge", "judge_hash",
     "conversation_a", "conversation_b", "turn", "anony", "language", "tstamp", "timestamp",
     "openai_moderation", "toxic_chat_tag", "flags", "conv_metadata", "category_tag",
     "metadata", "full_conversation"}
)  # fmt: skip
_COMPARIA_OWN = frozenset(
    {"id", "model_a_name", "model_b_name", "chosen_model_name", "both_equal",
     "conversation_a", "conversation_b", "timestamp", "visitor_id", "conv_turns"}
)  # fmt: skip
_ROLES = frozenset({"user", "assistant", "system"})
_TRUE = {"true", "1", "yes", "t"}
_FALSE = {"false", "0", "no", "f"}
#: Milliseconds rather than seconds above this (year 5138 in seconds).
_MS_ABOVE = 1e11


class BattleRowError(InvalidInputError):
    """One row is unusable; the message is the reason shown to the operator."""


def _json_cell(value: Any, key: str) -> Any:
    """A nested value that a CSV (or LMArena 100k) holds as JSON text, decoded."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise BattleRowError(f"{key} is not JSON: {exc}") from None
    return value


def model_name(raw: Mapping[str, Any], key: str) -> str:
    """The model named in ``key``, stripped; refuses a missing or non-text one."""
    value = raw.get(key)
    if value is None or value == "":
        raise BattleRowError(f"missing {key}")
    if not isinstance(value, str):
        raise BattleRowError(f"{key} must be text, got {type(value).__name__}")
    value = value.strip()
    if not value:
        raise BattleRowError(f"missing {key}")
    return value


def _optional_text(raw: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = raw.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value) if key != "tstamp" else value
        if isinstance(value, str) and value.strip():
            return value.strip()
        if value not in (None, ""):
            raise BattleRowError(f"{key} must be text, got {type(value).__name__}")
    return None


def truth(value: Any, key: str, default: bool | None) -> bool | None:
    """A yes/no cell (bool, 0/1, or true/false text); ``default`` when empty."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise BattleRowError(f"{key} must be true or false, got {value!r}")


def seconds(value: Any, key: str) -> float | None:
    """A time as Unix seconds: a number (seconds; milliseconds when above 1e11), an ISO
    date-time (UTC when it has no zone) or a datetime; None when empty."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        if not math.isfinite(number):
            raise BattleRowError(f"{key} is not a finite number: {value!r}")
        return number / 1000 if abs(number) > _MS_ABOVE else number
    elif isinstance(value, str):
        try:
            return seconds(float(value), key)
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise BattleRowError(
                f"{key} must be Unix seconds or an ISO date-time, got {value!r}"
            ) from None
    else:
        raise BattleRowError(f"{key} must be Unix seconds or an ISO date-time, got {value!r}")
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _content(value: Any, where: str) -> str:
    """A message's text: a string, or LMArena's list of parts (text parts joined)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = []
        for k, part in enumerate(value):
            kind = part.get("type") if isinstance(part, Mapping) else None
            if kind == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            else:
                raise BattleRowError(
                    f"{where}.content[{k}] is a {kind or 'malformed'} part; only text parts "
                    "can be stored"
                )
        return "\n\n".join(texts)
    raise BattleRowError(f"{where}.content must be text")


def _conversation(raw: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    """Messages as ``{role, content, [num_tokens], [finish_reason]}`` dicts."""
    value = _json_cell(raw.get(key), key)
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        raise BattleRowError(f"{key} must be a list of {{role, content}}")
    out = []
    for k, msg in enumerate(value):
        # The common message in a few steps; the checks below only for the others.
        if type(msg) is dict and type(msg.get("content")) is str and msg.get("role") in _ROLES:
            tokens = msg.get("num_tokens")
            if tokens is None or (type(tokens) is int and tokens >= 0):
                item = {"role": msg["role"], "content": msg["content"]}
                if tokens is not None:
                    item["num_tokens"] = tokens
                if msg.get("finish_reason") is not None:
                    item["finish_reason"] = msg["finish_reason"]
                out.append(item)
                continue
        where = f"{key}[{k}]"
        if not isinstance(msg, Mapping):
            raise BattleRowError(f"{where} must be an object with role and content")
        role = msg.get("role")
        if role not in ("user", "assistant", "system"):
            raise BattleRowError(f"{where}.role must be user, assistant or system, got {role!r}")
        item: dict[str, Any] = {"role": role, "content": _content(msg.get("content"), where)}
        tokens = msg.get("num_tokens")
        if tokens is not None:
            if isinstance(tokens, bool) or not isinstance(tokens, int | float) or tokens < 0:
                raise BattleRowError(f"{where}.num_tokens must be a count, got {tokens!r}")
            item["num_tokens"] = int(tokens)
        if msg.get("finish_reason") is not None:
            item["finish_reason"] = msg["finish_reason"]
        out.append(item)
    return out


def row_flags(raw: Mapping[str, Any]) -> list[str]:
    """The flags a row carries: ``moderation`` (``openai_moderation.flagged``),
    ``toxic_chat`` (any ``toxic_chat_tag.*.flagged``), and this project's ``flags``."""
    flags: list[str] = []
    moderation = _json_cell(raw.get("openai_moderation"), "openai_moderation")
    if isinstance(moderation, Mapping) and truth(moderation.get("flagged"), "flagged", False):
        flags.append("moderation")
    toxic = _json_cell(raw.get("toxic_chat_tag"), "toxic_chat_tag")
    if isinstance(toxic, Mapping) and any(
        isinstance(v, Mapping) and truth(v.get("flagged"), "flagged", False) for v in toxic.values()
    ):
        flags.append("toxic_chat")
    given = _json_cell(raw.get("flags"), "flags")
    if given not in (None, ""):
        if not isinstance(given, list) or any(f not in FLAG_NAMES for f in given):
            raise BattleRowError(f"flags must be a list of {', '.join(FLAG_NAMES)}, got {given!r}")
        flags += [f for f in given if f not in flags]
    return flags


def _object(raw: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    value = _json_cell(raw.get(key), key)
    if value is None or value == "":
        return None
    if not isinstance(value, Mapping):
        raise BattleRowError(f"{key} must be an object, got {type(value).__name__}")
    return dict(value)


def content_id(row: Mapping[str, Any]) -> str:
    """A stable id for a row without one: 32 hex digits of SHA-256 over its models,
    verdict, judge, time and both conversations."""
    parts = [row[k] for k in ("model_a", "model_b", "winner", "judge", "tstamp")]
    for side in ("conversation_a", "conversation_b"):
        parts.append([(m["role"], m["content"]) for m in row[side]])
    text = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(b"battle:" + text.encode()).hexdigest()[:32]


def arena_winner(raw: Mapping[str, Any]) -> str:
    value = raw.get("winner")
    code = WINNER_CODES.get(value) if isinstance(value, str) else None
    if code is None:
        known = ", ".join(WINNER_CODES)
        raise BattleRowError(f"winner must be one of {known}, got {value!r}")
    return CANONICAL_WINNER[code]


def comparia_winner(raw: Mapping[str, Any], model_a: str, model_b: str) -> str:
    if truth(raw.get("both_equal"), "both_equal", False):
        return CANONICAL_WINNER[Outcome.TIE]
    chosen = raw.get("chosen_model_name")
    if chosen in (None, ""):
        raise BattleRowError("no vote: chosen_model_name is empty and both_equal is not true")
    if chosen == model_a:
        return CANONICAL_WINNER[Outcome.A_WINS]
    if chosen == model_b:
        return CANONICAL_WINNER[Outcome.B_WINS]
    raise BattleRowError(f"chosen_model_name {chosen!r} is neither model_a_name nor model_b_name")


def normalise(raw: Mapping[str, Any], schema: str) -> dict[str, Any]:
    """One row of ``schema`` in FastChat's layout (keys :data:`FIELDS`).

    ``id`` is the row's own id as text (``question_id``, else ``id``), or one derived
    from its content (:func:`content_id`) when it has none; ``tstamp`` is Unix seconds or
    None; ``anony`` defaults to true; ``language`` is kept as given.

    Raises
    ------
    BattleRowError
        With the reason the row cannot be used.
    """
    comparia = schema == "comparia"
    a_key, b_key = ("model_a_name", "model_b_name") if comparia else ("model_a", "model_b")
    model_a, model_b = model_name(raw, a_key), model_name(raw, b_key)
    if model_a == model_b:
        raise BattleRowError(f"{a_key} and {b_key} are the same model")
    if comparia:
        winner = comparia_winner(raw, model_a, model_b)
        given_id = _optional_text(raw, "id")
        judge = _optional_text(raw, "visitor_id")
        stamp = seconds(raw.get("timestamp"), "timestamp")
        turn = raw.get("conv_turns")
        own = _COMPARIA_OWN
    else:
        winner = arena_winner(raw)
        keys = ("id", "question_id") if schema == "lmarena" else ("question_id", "id")
        given_id = _optional_text(raw, *keys)
        judge = _optional_text(raw, "judge", "judge_hash")
        time_key = "tstamp" if raw.get("tstamp") not in (None, "") else "timestamp"
        stamp = seconds(raw.get(time_key), time_key)
        turn = raw.get("turn")
        own = _FASTCHAT_OWN
    row: dict[str, Any] = {
        "id": given_id,
        "model_a": model_a,
        "model_b": model_b,
        "winner": winner,
        "judge": judge,
        "conversation_a": _conversation(raw, "conversation_a"),
        "conversation_b": _conversation(raw, "conversation_b"),
        "turn": turn if turn not in ("",) else None,
        "anony": truth(raw.get("anony"), "anony", True),
        "language": _optional_text(raw, "language"),
        "tstamp": stamp,
        "flags": row_flags(raw),
        "conv_metadata": _object(raw, "conv_metadata"),
        "category_tag": _object(raw, "category_tag"),
    }
    metadata = _object(raw, "metadata") or {}
    for key, value in raw.items():
        if key not in own and value is not None:
            metadata[key] = _json_cell(value, key) if key in NESTED else value
    for key in ("openai_moderation", "toxic_chat_tag"):
        if raw.get(key) not in (None, ""):
            metadata[key] = _json_cell(raw[key], key)
    row["metadata"] = metadata
    if row["id"] is None:
        row["id"] = content_id(row)
        metadata.setdefault("id_derived", True)
    return row
