"""The import's columnar path: a block of JSON lines checked and turned into rows as arrays.

:func:`arena.importer.validate` reads a row at a time through the shared reader
(:func:`ratings.battlefile.normalise`), about 50-100 us a row in Python. Most rows of a
big file are plain: this arena's own export, or a FastChat clean-battle file, whose every
value is of the expected type and passes every check. :func:`check_block` parses a block
of JSON lines at once with pyarrow's JSON reader against :data:`SCHEMA`, makes the same
checks as array operations, and builds the rows of ``battles``, ``votes`` and
``messages`` as arrays; PostgreSQL then takes them as COPY CSV written by pyarrow.

A row is *plain* when the columnar path can store it exactly as the precise path would;
every other row of the block goes through :func:`arena.importer.validate`, with its line
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

import io
import pickle
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from arena.backends.base import FINISH_REASONS
from arena.categories import CATEGORIES
from arena.db.models import BattleMode, Winner
from arena.import_rows import LANGUAGE_CODES, Row, battle_id, check_chunk

MESSAGE = pa.struct(
    [("role", pa.string()), ("content", pa.string()), ("finish_reason", pa.string()),
     ("num_tokens", pa.int64())]
)  # fmt: skip
_COUNTS = {
    "header_count": [f"h{k}" for k in range(1, 7)],
    "list_count": ["ordered", "unordered"],
    "bold_count": ["**", "__"],
}


def _side_metadata(side: str) -> list[tuple[str, pa.DataType]]:
    fields: list[tuple[str, pa.DataType]] = [
        (f"sum_assistant_{side}_tokens", pa.int64()),
        (f"context_{side}_tokens", pa.int64()),
    ]
    for name, keys in _COUNTS.items():
        fields.append((f"{name}_{side}", pa.struct([(k, pa.int64()) for k in keys])))
    return fields


#: LMArena's ``conv_metadata``, in the order this arena's export writes it.
CONV_METADATA = pa.struct(
    [("sum_user_tokens", pa.int64()), ("turns", pa.int64()), *_side_metadata("a"),
     *_side_metadata("b")]
)  # fmt: skip
#: The columns of a FastChat clean-battle row as this arena's export writes them.
SCHEMA = pa.schema(
    [
        ("question_id", pa.string()), ("model_a", pa.string()), ("model_b", pa.string()),
        ("winner", pa.string()), ("judge", pa.string()),
        ("conversation_a", pa.list_(MESSAGE)), ("conversation_b", pa.list_(MESSAGE)),
        ("turn", pa.int64()), ("anony", pa.bool_()), ("language", pa.string()),
        ("tstamp", pa.float64()), ("conv_metadata", CONV_METADATA),
        ("category_tag", pa.struct([])), ("flags", pa.list_(pa.string())),
        ("metadata", pa.struct([])), ("reasons_a", pa.list_(pa.string())),
        ("reasons_b", pa.list_(pa.string())), ("comment", pa.string()),
        ("reactions", pa.list_(pa.struct([("turn", pa.int64()), ("side", pa.string()),
                                          ("value", pa.int64())]))),
        ("prompt_source", pa.string()), ("prompt_language", pa.string()),
        ("categories", pa.list_(pa.string())),
    ]
)  # fmt: skip
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
#: Rows of the blocks' tables, in the column order of the importer's COPY.
BATTLE_FIELDS = (
    "where", "id", "source_id", "model_a", "model_b", "winner", "judge", "turns", "mode",
    "language", "at", "meta", "comment", "prompt_source",
)  # fmt: skip
MESSAGE_FIELDS = (
    "battle_id", "side", "turn", "role", "content", "finish_reason", "num_tokens", "created_at",
)  # fmt: skip


class Unreadable(Exception):
    """The block cannot be read against :data:`SCHEMA`: it goes the precise way whole."""


def read_block(lines: list[bytes]) -> pa.Table:
    """The block's lines as a table of :data:`SCHEMA` (plus any other top-level columns)."""
    data = b"".join(line if line.endswith(b"\n") else line + b"\n" for line in lines)
    options = pa_json.ParseOptions(explicit_schema=SCHEMA, unexpected_field_behavior="infer")
    try:
        table = pa_json.read_json(
            io.BytesIO(data),
            read_options=pa_json.ReadOptions(use_threads=False, block_size=max(len(data), 1)),
            parse_options=options,
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise Unreadable(str(exc)) from None
    if table.num_rows != len(lines):
        raise Unreadable("rows and lines differ")
    for name in SCHEMA.names:  # a nested key the schema does not name
        if not table.schema.field(name).type.equals(SCHEMA.field(name).type):
            raise Unreadable(f"{name} has other keys")
    return table


def _array(column: pa.ChunkedArray | pa.Array) -> pa.Array:
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


def _meta(conv: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """``battles.meta`` of each row (only ``conv_metadata`` is kept from a plain row), and
    the rows whose ``conv_metadata`` lacks a key."""
    valid = conv.is_valid().to_numpy(zero_copy_only=False)
    parts: list[Any] = []
    incomplete = np.zeros(len(conv), dtype=bool)

    def walk(array: pa.Array, kind: pa.DataType, opening: str) -> str:
        text = opening + "{"
        for k in range(kind.num_fields):
            field = kind.field(k)
            text += ("," if k else "") + f'"{field.name}":'
            child = array.field(k)
            if pa.types.is_struct(field.type):
                text = walk(child, field.type, text) + "}"
                continue
            nonlocal incomplete
            incomplete |= valid & ~child.is_valid().to_numpy(zero_copy_only=False)
            parts.extend([text, pc.cast(child, pa.string())])
            text = ""
        return text

    tail = walk(conv, CONV_METADATA, '{"conv_metadata":') + '},"schema":"fastchat"}'
    parts.append(tail)
    meta = pc.binary_join_element_wise(*parts, "")
    return pc.if_else(pa.array(valid), meta, pa.scalar(None, pa.string())), incomplete


def _utc_text(moments: pa.Array) -> pa.Array:
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


def plain_rows(table: pa.Table, lines: list[bytes], ids: list[str]) -> np.ndarray:
    """Which rows of a block the columnar path takes (see the module docstring)."""
    n = table.num_rows
    col = {name: _array(table.column(name)) for name in table.column_names}
    # Only a \\uD800-\\uDFFF escape can put a lone surrogate into a JSON line; the lines
    # are looked at one by one only when the block holds one.
    bad = np.zeros(n, dtype=bool)
    joined = b"".join(lines)
    nul = b"\\u0000" in joined
    if b"\\ud" in joined or b"\\uD" in joined:
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
    for side in ("conversation_a", "conversation_b"):
        bad |= _conversation(col[side], nul)[0]
    bad |= _meta(col["conv_metadata"])[1]
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
    return ~bad


def build(
    table: pa.Table, wheres: list[int], ids: list[str], dialect: str
) -> tuple[pa.Table, pa.Table]:
    """The plain rows' battle fields (:data:`BATTLE_FIELDS`) and their messages
    (:data:`MESSAGE_FIELDS`); times as SQLite's text on SQLite."""
    col = {name: _array(table.column(name)) for name in SCHEMA.names}
    micros = _moments(col["tstamp"].to_numpy(zero_copy_only=False))
    at: pa.Array = pa.array(micros, pa.timestamp("us", tz="UTC"))
    if dialect == "sqlite":
        at = _utc_text(at)
    strip = {name: col[name] for name in ("question_id", "model_a", "model_b", "judge")}
    empty = pa.nulls(table.num_rows, pa.string())
    comment = pc.if_else(pc.equal(col["comment"], ""), empty, col["comment"])
    source = pc.if_else(pc.equal(col["prompt_source"], ""), empty, col["prompt_source"])
    mode = pc.if_else(col["anony"], BattleMode.ANONY.value, BattleMode.NAMED.value)
    language = pc.take(_LANGUAGE_CODES, pc.index_in(col["prompt_language"], _LANGUAGE_NAMES))
    id_array = pa.array(ids, pa.string())
    n_messages = pc.add(
        *(pc.fill_null(pc.list_value_length(col[f"conversation_{side}"]), 0) for side in "ab")
    )
    battles = pa.table(
        [pa.array(wheres, pa.int64()), id_array, strip["question_id"], strip["model_a"],
         strip["model_b"], col["winner"], strip["judge"], col["turn"], mode, col["language"],
         at, _meta(col["conv_metadata"])[0], comment, source, language, col["categories"],
         n_messages],
        names=[*BATTLE_FIELDS, "prompt_language", "categories", "n_messages"],
    )  # fmt: skip
    sides, parents = [], []
    for side in ("a", "b"):
        _, m = _conversation(col[f"conversation_{side}"], nul=False)
        rows = pa.array(m["row"])
        parents.append(m["row"])
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
    # In the precise path's order: battle by battle, side a then side b, each in order
    # (a stable sort on the battle's row keeps the sides and the messages in order).
    order = np.argsort(np.concatenate(parents), kind="stable")
    return battles, pa.concat_tables(sides).take(pa.array(order))


class Block(NamedTuple):
    """A checked block: the plain rows as arrays, and the others the precise way."""

    battles: pa.Table | None  # BATTLE_FIELDS of the plain rows
    messages: pa.Table | None  # MESSAGE_FIELDS of their messages
    others: list[Row | tuple]  # a Row, or (where, reason), in the file's order


def check_block(chunk: list[tuple[int, bytes]], dialect: str, schema: str) -> Block:
    """Check a block of JSON lines (``(line number, line)``): its plain rows as arrays,
    the others through :func:`arena.import_rows.check_chunk`."""
    if schema != "fastchat":
        return Block(None, None, check_chunk(chunk, dialect, schema))
    lines = [line for _, line in chunk]
    try:
        table = read_block(lines)
    except Unreadable:
        return Block(None, None, check_chunk(chunk, dialect, schema))
    given = _array(table.column("question_id")).to_pylist()
    ids = [battle_id(q) if q else "" for q in given]
    plain = plain_rows(table, lines, ids)
    others = check_chunk([item for item, ok in zip(chunk, plain, strict=True) if not ok],
                         dialect, schema)  # fmt: skip
    if not plain.any():
        return Block(None, None, others)
    keep = np.flatnonzero(plain)
    battles, messages = build(
        table if len(keep) == len(lines) else table.take(pa.array(keep)),
        [chunk[k][0] for k in keep],
        [ids[k] for k in keep],
        dialect,
    )
    if dialect == "postgresql":
        return Block(copy_text(battles, messages, escapes(b"".join(lines))), None, others)
    return Block(battles, messages, others)


def check_block_packed(chunk: list[tuple[int, bytes]], dialect: str, schema: str) -> bytes:
    """:func:`check_block` as bytes for the importing process (tables in Arrow's IPC
    stream format, which it reads without copying)."""
    block = check_block(chunk, dialect, schema)
    tables = [None if t is None else to_ipc(t) for t in (block.battles, block.messages)]
    return pickle.dumps((*tables, block.others), pickle.HIGHEST_PROTOCOL)


def unpack_block(data: bytes) -> Block:
    battles, messages, others = pickle.loads(data)
    return Block(
        None if battles is None else from_ipc(battles),
        None if messages is None else from_ipc(messages),
        others,
    )


_NULL = "\\N"  # a null in COPY's text format


#: The characters COPY's text format escapes, and how a JSON line can hold each.
_ESCAPES = (
    ("\\", "\\\\", (b"\\\\", b"\\u005c", b"\\u005C")),
    ("\n", "\\n", (b"\\n", b"\\u000a", b"\\u000A")),
    ("\r", "\\r", (b"\\r", b"\\u000d", b"\\u000D")),
    ("\t", "\\t", (b"\\t", b"\\u0009")),
)


def escapes(data: bytes) -> tuple[tuple[str, str], ...]:
    """The escapes the texts of a block of JSON lines may need: a character a JSON
    string holds only as an escape (pyarrow refuses raw control characters) cannot be in
    the block's values unless its escape is in the bytes."""
    return tuple((char, escaped) for char, escaped, forms in _ESCAPES
                 if any(form in data for form in forms))  # fmt: skip


def _field(values: pa.Array, needed: tuple[tuple[str, str], ...] = ()) -> pa.Array:
    """Texts as fields of PostgreSQL's COPY text format (NUL was refused before);
    ``needed``: the escapes the texts may need (:func:`escapes`)."""
    if pa.types.is_timestamp(values.type):
        return pc.binary_join_element_wise(_utc_text(values), "+00", "")
    if pa.types.is_boolean(values.type):
        values = pc.if_else(values, "t", "f")
    elif not pa.types.is_string(values.type):
        values = pc.cast(values, pa.string())
    else:
        for char, escaped in needed:
            values = pc.replace_substring(values, char, escaped)
    return pc.fill_null(values, _NULL)


def _lines(*fields: pa.Array, needed: tuple[tuple[str, str], ...]) -> pa.Array:
    """One COPY text line (tab-separated, newline-terminated) per row."""
    *first, last = (_field(f, needed) for f in fields)
    return pc.binary_join_element_wise(*first, pc.binary_join_element_wise(last, "\n", ""), "\t")


def copy_text(
    battles: pa.Table, messages: pa.Table, needed: tuple[tuple[str, str], ...]
) -> pa.Table:
    """The battles with what PostgreSQL's COPY text format needs: ``battle_tail`` (a
    battle's line after its voter and model ids), ``vote_tail`` (a vote's line after its
    voter id) and ``messages`` (the lines of the battle's messages, in order). The
    importing process puts in the ids it alone knows."""
    n = battles.num_rows
    col = {name: _array(battles[name]) for name in battles.column_names}
    at, flag, null = col["at"], pa.repeat(False, n), pa.nulls(n, pa.string())
    battle_tail = _lines(
        col["mode"], pa.repeat("voted", n), col["language"], col["turns"], flag, flag, at, at,
        col["source_id"], col["meta"], col["prompt_source"], col["prompt_language"],
        needed=needed,
    )  # fmt: skip
    vote_tail = _lines(col["winner"], null, at, flag, null, col["comment"], needed=needed)
    lines = _lines(*(_array(messages[name]) for name in MESSAGE_FIELDS), needed=needed)
    # The messages are in battle order: each battle's lines are one slice of them.
    offsets = np.concatenate(([0], np.cumsum(col["n_messages"].to_numpy())))
    per_battle = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), lines), "")
    tags = col["categories"]
    tag_lines = _lines(
        col["id"].take(pc.list_parent_indices(tags)), pc.list_flatten(tags), needed=needed
    )
    offsets = np.concatenate(([0], np.cumsum(_lengths(tags))))
    tags_per_battle = pc.binary_join(
        pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), tag_lines), ""
    )
    kept = ("where", "id", "model_a", "model_b", "judge")
    return pa.table(
        [*(col[name] for name in kept), battle_tail, vote_tail, per_battle, tags_per_battle],
        names=[*kept, "battle_tail", "vote_tail", "messages", "category_lines"],
    )


def _lengths(lists: pa.Array) -> np.ndarray:
    return pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False)


def category_rows(battles: pa.Table) -> list[pa.Array]:
    """The ``battle_categories`` rows of a block's battles: battle ids, categories."""
    tags = _array(battles["categories"])
    return [_array(battles["id"]).take(pc.list_parent_indices(tags)), pc.list_flatten(tags)]


def joined(column: pa.ChunkedArray | pa.Array) -> memoryview:
    """A text column without nulls as its values end to end: a view of its data."""
    values = _array(column)
    if not len(values):
        return memoryview(b"")
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)
    start, end = offsets[values.offset], offsets[values.offset + len(values)]
    return memoryview(values.buffers()[2])[start:end]


def to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(data).read_all()
