"""The import's columnar path: a block of JSON lines checked and turned into rows as arrays.

:func:`arena.import_rows.validate` reads a row at a time through the shared reader
(:func:`ratings.battlefile.normalise`), about 50-100 us a row in Python. Most rows of a
big file are plain: this arena's own export, or a FastChat clean-battle file, whose every
value is of the expected type and passes every check. :func:`arena.import_schema.read_block`
parses a block of JSON lines at once with pyarrow's JSON reader against its ``SCHEMA``,
:func:`plain_rows` makes the same checks as array operations, and :func:`build` makes
the rows of ``battles``, ``votes``, ``messages`` and ``battle_categories`` as arrays
(:mod:`arena.import_blocks` runs these in a worker and writes PostgreSQL's COPY text).

A row is *plain* when the columnar path can store it exactly as the precise path would;
every other row of the block goes through :func:`arena.import_rows.validate`, with its line
number and reason, in the file's order. A row is not plain when any of these holds (the
precise path then refuses it, or stores what the columnar path does not build):

* its line holds a ``\\uD800``-``\\uDFFF`` escape (a lone surrogate is refused by name);
* a text to be stripped (id, models, judge, language) is empty or starts or ends with
  whitespace (Python's ``str.isspace``), or is longer than its limit;
* ``model_a`` equals ``model_b``; ``winner`` is not one of the stored values;
* ``question_id``, ``judge``, ``language``, ``turn``, ``anony`` or ``tstamp`` is missing;
  ``turn`` < 1; ``tstamp`` outside (0, 4.1e9) (milliseconds included);
* a message has no role or content, a role other than user, assistant or system, a
  system message after the first user message, an answer before it, a negative token
  count, a finish reason that is not an answer's known one, or a NUL in its text;
* ``conv_metadata`` lacks one of LMArena's keys; ``category_tag``, ``flags``, reasons or
  reactions are not empty; ``comment`` or ``prompt_source`` is not a plain short text;
* a column this layout does not name has a value (it would go to ``battles.meta``);
* its id appears twice in the block (the first one wins, as in the precise path).

A block that pyarrow cannot read against :data:`SCHEMA` (a malformed line, a value of
another type, a key twice, a nested key the schema does not name) goes through the
precise path whole. ``conv_metadata`` is stored with its keys in LMArena's order, the
order this arena's export writes them; the precise path keeps a file's own order.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from arena.backends.base import FINISH_REASONS
from arena.categories import CATEGORIES
from arena.db.models import BattleMode, Winner
from arena.import_rows import LANGUAGE_CODES
from arena.import_schema import (
    BATTLE_FIELDS,
    CONV_METADATA,
    MESSAGE_FIELDS,
    SCHEMA,
)

#: Python's ``str.isspace`` characters, as an RE2 class: a text starting or ending with
#: one would be stripped by the precise path.
_SPACE = (
    r"[\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}"
    r"\x{202f}\x{205f}\x{3000}]"
)
_EDGE_SPACE = f"^{_SPACE}|{_SPACE}$"
#: The stripped texts and their longest allowed length (as :func:`arena.importer.validate`).
_TEXTS = {"question_id": 200, "model_a": 200, "model_b": 200, "judge": 200, "language": 64}
_WINNERS = pa.array([w.value for w in Winner])
_FINISH = pa.array(sorted(FINISH_REASONS))
_ROLES = pa.array(["user", "assistant", "system"])
_LANGUAGE_NAMES = pa.array(list(LANGUAGE_CODES))
_LANGUAGE_CODES = pa.array(list(LANGUAGE_CODES.values()))
_CATEGORIES = pa.array(list(CATEGORIES))
MAX_SOURCE = 40


def array_of(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _mask(condition: pa.Array) -> np.ndarray:
    """A boolean array as numpy, null counted as true (a check that cannot be made)."""
    return pc.fill_null(condition, True).to_numpy(zero_copy_only=False)


def _leaves(array: pa.Array) -> list[pa.Array]:
    if pa.types.is_struct(array.type):
        return [leaf for k in range(array.type.num_fields) for leaf in _leaves(array.field(k))]
    return [array]


def _nul(text: pa.Array, may: bool) -> np.ndarray:
    """Which texts hold a NUL (only a ``\\u0000`` escape can put one in a JSON line, so
    ``may`` is false when the block has none)."""
    if not may:
        return np.zeros(len(text), dtype=bool)
    return _mask(pc.match_substring(text, "\x00")) & text.is_valid().to_numpy(zero_copy_only=False)


def _conversation(rows: pa.Array, nul: bool = True) -> tuple[np.ndarray, dict[str, Any]]:
    """Which rows hold a message the columnar path does not take, and the messages: the
    row of each, its turn (system messages before the first user message are turn 0)."""
    n = len(rows)
    parents = pc.list_parent_indices(rows).to_numpy()
    items = pc.list_flatten(rows)
    role, content = items.field("role"), items.field("content")
    finish, tokens = items.field("finish_reason"), items.field("num_tokens")
    user = pc.equal(role, "user").to_numpy(zero_copy_only=False)
    # The turn of each message: user messages so far in its own list.
    counted = np.cumsum(user)
    starts = rows.offsets.to_numpy()[:-1] - rows.offset
    before = np.concatenate(([0], counted))[starts]
    turn = counted - np.repeat(before, np.diff(rows.offsets.to_numpy()))
    bad = (
        _mask(pc.invert(pc.is_in(role, _ROLES)))
        | _nul(content, nul)
        | ~content.is_valid().to_numpy(zero_copy_only=False)
        | _mask(pc.less(tokens, 0)) & tokens.is_valid().to_numpy(zero_copy_only=False)
        | (pc.equal(role, "system").to_numpy(zero_copy_only=False) & (turn > 0))
        | (pc.equal(role, "assistant").to_numpy(zero_copy_only=False) & (turn == 0))
    )
    has_finish = finish.is_valid().to_numpy(zero_copy_only=False)
    bad |= has_finish & (
        ~pc.equal(role, "assistant").to_numpy(zero_copy_only=False)
        | _mask(pc.invert(pc.is_in(finish, _FINISH)))
    )
    row_bad = np.zeros(n, dtype=bool)
    row_bad[parents[bad]] = True
    messages = {"row": parents, "turn": turn, "role": role, "content": content,
                "finish_reason": finish, "num_tokens": tokens}  # fmt: skip
    return row_bad, messages


def _empty(column: pa.Array) -> np.ndarray:
    """Null or an empty list."""
    return ~column.is_valid().to_numpy(zero_copy_only=False) | (
        pc.fill_null(pc.list_value_length(column), 0).to_numpy(zero_copy_only=False) == 0
    )


def _incomplete(conv: pa.Array) -> np.ndarray:
    """The rows whose ``conv_metadata`` is there but lacks a key."""
    valid = conv.is_valid().to_numpy(zero_copy_only=False)
    missing = np.zeros(len(conv), dtype=bool)
    for leaf in _leaves(conv):
        if leaf.null_count:
            missing |= ~leaf.is_valid().to_numpy(zero_copy_only=False)
    return valid & missing


def _meta(conv: pa.Array) -> pa.Array:
    """``battles.meta`` of each row: only ``conv_metadata`` is kept from a plain row."""
    valid = conv.is_valid().to_numpy(zero_copy_only=False)
    parts: list[Any] = []

    def walk(array: pa.Array, kind: pa.DataType, opening: str) -> str:
        text = opening + "{"
        for k in range(kind.num_fields):
            field = kind.field(k)
            text += ("," if k else "") + f'"{field.name}":'
            child = array.field(k)
            if pa.types.is_struct(field.type):
                text = walk(child, field.type, text) + "}"
                continue
            parts.extend([text, pc.cast(child, pa.string())])
            text = ""
        return text

    tail = walk(conv, CONV_METADATA, '{"conv_metadata":') + '},"schema":"fastchat"}'
    parts.append(tail)
    meta = pc.binary_join_element_wise(*parts, "")
    return pc.if_else(pa.array(valid), meta, pa.scalar(None, pa.string()))


def utc_text(moments: pa.Array) -> pa.Array:
    """UTC times as ``YYYY-MM-DD HH:MM:SS.ffffff`` (SQLite's stored form). A cast of the
    times without their zone: some 30 times faster than one with it, or ``strftime``."""
    return pc.cast(moments.cast(pa.timestamp("us")), pa.string())


def _moments(stamp: np.ndarray) -> np.ndarray:
    """Microseconds since the epoch, rounded as ``datetime.fromtimestamp`` rounds."""
    frac, whole = np.modf(stamp)
    return whole.astype(np.int64) * 1_000_000 + np.round(frac * 1e6).astype(np.int64)


def _bad_categories(tags: pa.Array) -> np.ndarray:
    """Rows naming a category this arena does not know, or one twice."""
    bad = np.zeros(len(tags), dtype=bool)
    parents = pc.list_parent_indices(tags).to_numpy()
    if not len(parents):
        return bad
    index = pc.index_in(pc.list_flatten(tags), value_set=_CATEGORIES)
    unknown = ~index.is_valid().to_numpy(zero_copy_only=False)
    bad[parents[unknown]] = True
    keys = parents * len(CATEGORIES) + pc.fill_null(index, 0).to_numpy(zero_copy_only=False)
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    bad[parents[first[counts > 1]]] = True
    return bad


class Checked(NamedTuple):
    """What :func:`plain_rows` found: which rows of a block are plain, and the messages of
    each side (of every row, as :func:`_conversation` gives them), which :func:`build`
    takes on rather than reading them again."""

    plain: np.ndarray
    messages: tuple[dict[str, Any], dict[str, Any]]


def plain_rows(table: pa.Table, lines: list[bytes], data: bytes, ids: list[str]) -> Checked:
    """Which rows of a block the columnar path takes (see the module docstring), and
    their messages."""
    n = table.num_rows
    col = {name: array_of(table.column(name)) for name in table.column_names}
    # Only a \\uD800-\\uDFFF escape can put a lone surrogate into a JSON line; the lines
    # are looked at one by one only when the block holds one.
    bad = np.zeros(n, dtype=bool)
    nul = b"\\u0000" in data
    if b"\\ud" in data or b"\\uD" in data:
        bad = np.fromiter((b"\\ud" in x or b"\\uD" in x for x in lines), dtype=bool, count=n)
    for name, limit in _TEXTS.items():
        text = col[name]
        bad |= _mask(pc.equal(text, "")) | _mask(pc.greater(pc.utf8_length(text), limit))
        bad |= _mask(pc.match_substring_regex(text, _EDGE_SPACE))
        bad |= _nul(text, nul)
    bad |= _mask(pc.equal(col["model_a"], col["model_b"]))
    bad |= _mask(pc.invert(pc.is_in(col["winner"], _WINNERS)))
    bad |= _mask(pc.less(col["turn"], 1)) | ~col["anony"].is_valid().to_numpy(zero_copy_only=False)
    stamp = col["tstamp"]
    bad |= _mask(pc.invert(pc.and_(pc.greater(stamp, 0), pc.less(stamp, 4.1e9))))
    sides = []
    for side in ("conversation_a", "conversation_b"):
        side_bad, messages = _conversation(col[side], nul)
        bad |= side_bad
        sides.append(messages)
    bad |= _incomplete(col["conv_metadata"])
    bad |= col["category_tag"].is_valid().to_numpy(zero_copy_only=False)
    for name in ("flags", "reasons_a", "reasons_b", "reactions"):
        bad |= ~_empty(col[name])
    bad |= col["metadata"].is_valid().to_numpy(zero_copy_only=False) & (
        col["metadata"].type.num_fields > 0
    )
    comment, source = col["comment"], col["prompt_source"]
    bad |= _nul(comment, nul)
    bad |= _mask(pc.greater(pc.utf8_length(source), MAX_SOURCE)) & source.is_valid().to_numpy(
        zero_copy_only=False
    )
    language = col["prompt_language"]
    bad |= _mask(pc.invert(pc.is_in(language, _LANGUAGE_NAMES))) & language.is_valid().to_numpy(
        zero_copy_only=False
    )
    bad |= _bad_categories(col["categories"])
    for name in table.column_names:
        if name not in SCHEMA.names:  # would go to battles.meta
            bad |= col[name].is_valid().to_numpy(zero_copy_only=False)
    seen: dict[str, int] = {}
    for k, bid in enumerate(ids):  # every copy of a repeated id, the precise way
        if bid in seen:
            bad[k] = bad[seen[bid]] = True
        else:
            seen[bid] = k
    return Checked(~bad, (sides[0], sides[1]))


_MESSAGE_COLUMNS = ("role", "content", "finish_reason", "num_tokens")


def _of_rows(messages: dict[str, Any], plain: np.ndarray) -> dict[str, Any]:
    """The messages (of :func:`_conversation`) of the plain rows, their ``row`` numbered
    among those rows."""
    if plain.all():
        return messages
    mine = plain[messages["row"]]
    columns = {name: messages[name].filter(pa.array(mine)) for name in _MESSAGE_COLUMNS}
    renumber = np.cumsum(plain) - 1
    return {"row": renumber[messages["row"][mine]], "turn": messages["turn"][mine], **columns}


def build(
    table: pa.Table, checked: Checked, wheres: list[int], ids: list[str], dialect: str
) -> tuple[pa.Table, list[pa.Table]]:
    """The plain rows' battle fields (:data:`BATTLE_FIELDS`) and their messages
    (:data:`MESSAGE_FIELDS`), side a's and side b's, each in battle order; times as
    SQLite's text on SQLite. ``table`` is the whole block, ``checked`` what
    :func:`plain_rows` found in it; ``wheres`` and ``ids`` are the plain rows'."""
    if not checked.plain.all():
        table = table.take(pa.array(np.flatnonzero(checked.plain)))
    col = {name: array_of(table.column(name)) for name in SCHEMA.names}
    micros = _moments(col["tstamp"].to_numpy(zero_copy_only=False))
    at: pa.Array = pa.array(micros, pa.timestamp("us", tz="UTC"))
    if dialect == "sqlite":
        at = utc_text(at)
    strip = {name: col[name] for name in ("question_id", "model_a", "model_b", "judge")}
    empty = pa.nulls(table.num_rows, pa.string())
    comment = pc.if_else(pc.equal(col["comment"], ""), empty, col["comment"])
    source = pc.if_else(pc.equal(col["prompt_source"], ""), empty, col["prompt_source"])
    mode = pc.if_else(col["anony"], BattleMode.ANONY.value, BattleMode.NAMED.value)
    language = pc.take(_LANGUAGE_CODES, pc.index_in(col["prompt_language"], _LANGUAGE_NAMES))
    id_array = pa.array(ids, pa.string())
    n_a, n_b = (lengths(col[f"conversation_{side}"]) for side in "ab")
    battles = pa.table(
        [pa.array(wheres, pa.int64()), id_array, strip["question_id"], strip["model_a"],
         strip["model_b"], col["winner"], strip["judge"], col["turn"], mode, col["language"],
         at, _meta(col["conv_metadata"]), comment, source, language, col["categories"],
         pa.array(n_a), pa.array(n_b)],
        names=[*BATTLE_FIELDS, "prompt_language", "categories", "n_a", "n_b"],
    )  # fmt: skip
    sides = []
    for side, messages in zip("ab", checked.messages, strict=True):
        m = _of_rows(messages, checked.plain)
        rows = pa.array(m["row"])
        sides.append(
            pa.table(
                [
                    id_array.take(rows),
                    pa.array(np.full(len(m["turn"]), side)),
                    pa.array(m["turn"], pa.int32()),
                    m["role"],
                    m["content"],
                    m["finish_reason"],
                    m["num_tokens"],
                    at.take(rows),
                ],
                names=list(MESSAGE_FIELDS),
            )
        )
    return battles, sides


def in_order(battles: pa.Table, sides: list[pa.Table]) -> pa.Table:
    """Both sides' messages in the precise path's order: battle by battle, side a then
    side b (a stable sort on the battle's row keeps each side's messages in order)."""
    row = [np.repeat(np.arange(battles.num_rows), battles[f"n_{s}"].to_numpy()) for s in "ab"]
    order = np.argsort(np.concatenate(row), kind="stable")
    return pa.concat_tables(sides).take(pa.array(order))


def lengths(lists: pa.Array) -> np.ndarray:
    return pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False)


def category_rows(battles: pa.Table) -> list[pa.Array]:
    """The ``battle_categories`` rows of a block's battles: battle ids, categories."""
    tags = array_of(battles["categories"])
    return [array_of(battles["id"]).take(pc.list_parent_indices(tags)), pc.list_flatten(tags)]
