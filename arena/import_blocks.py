"""A block of JSON lines on its way through an import: checked in a worker process, its
plain rows as arrays (:mod:`arena.import_columns`) and, for PostgreSQL, as COPY text
lines; packed for the importing process, which puts in the voter and model ids.
"""

from __future__ import annotations

import pickle
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from arena.import_columns import array_of, build, in_order, lengths, plain_rows, utc_text
from arena.import_rows import Row, battle_id, check_chunk
from arena.import_schema import MESSAGE_FIELDS, Unreadable, block_bytes, read_block


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
    data = block_bytes(lines)
    try:
        table = read_block(data, len(lines))
    except Unreadable:
        return Block(None, None, check_chunk(chunk, dialect, schema))
    given = array_of(table.column("question_id")).to_pylist()
    ids = [battle_id(q) if q else "" for q in given]
    checked = plain_rows(table, lines, data, ids)
    plain = checked.plain
    others = check_chunk([item for item, ok in zip(chunk, plain, strict=True) if not ok],
                         dialect, schema)  # fmt: skip
    if not plain.any():
        return Block(None, None, others)
    keep = np.flatnonzero(plain)
    battles, sides = build(
        table, checked, [chunk[k][0] for k in keep], [ids[k] for k in keep], dialect
    )
    if dialect == "postgresql":
        return Block(copy_text(battles, sides, escapes(data)), None, others)
    return Block(battles, in_order(battles, sides), others)


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


#: The characters COPY's text format escapes, and the letter after a backslash that
#: writes each in a JSON string (a ``\\u`` escape may write any of them).
_ESCAPES = (("\\", "\\\\", b"\\"), ("\n", "\\n", b"n"), ("\r", "\\r", b"r"), ("\t", "\\t", b"t"))


def escapes(data: bytes) -> tuple[tuple[str, str], ...]:
    """The escapes the texts of a block of JSON lines may need: a JSON string holds a
    backslash, newline, CR or tab only as an escape (pyarrow refuses raw control
    characters), so the letters after the block's backslashes say which can occur."""
    raw = np.frombuffer(data, dtype=np.uint8)
    after = raw[np.flatnonzero(raw[:-1] == ord("\\")) + 1]
    letters = set(np.unique(after).tobytes())
    return tuple((char, escaped) for char, escaped, letter in _ESCAPES
                 if letter[0] in letters or ord("u") in letters)  # fmt: skip


def _field(values: pa.Array, needed: tuple[tuple[str, str], ...] = ()) -> pa.Array:
    """Texts as fields of PostgreSQL's COPY text format (NUL was refused before);
    ``needed``: the escapes the texts may need (:func:`escapes`)."""
    if pa.types.is_timestamp(values.type):
        return pc.binary_join_element_wise(utc_text(values), "+00", "")
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
    battles: pa.Table, sides: list[pa.Table], needed: tuple[tuple[str, str], ...]
) -> pa.Table:
    """The battles with what PostgreSQL's COPY text format needs: ``battle_tail`` (a
    battle's line after its voter and model ids), ``vote_tail`` (a vote's line after its
    voter id) and ``messages`` (the lines of the battle's messages, in order, a list; a
    line lacks only the message id). The importing process puts in the ids it alone
    knows."""
    n = battles.num_rows
    col = {name: array_of(battles[name]) for name in battles.column_names}
    at, flag, null = col["at"], pa.repeat(False, n), pa.nulls(n, pa.string())
    battle_tail = _lines(
        col["mode"], pa.repeat("voted", n), col["language"], col["turns"], flag, flag, at, at,
        col["source_id"], col["meta"], col["prompt_source"], col["prompt_language"],
        needed=needed,
    )  # fmt: skip
    vote_tail = _lines(col["winner"], null, at, flag, null, col["comment"], needed=needed)
    per_side = [
        _lines(*(array_of(messages[name]) for name in MESSAGE_FIELDS), needed=needed)
        for messages in sides
    ]
    per_battle = battle_lists(per_side, [col[f"n_{side}"].to_numpy() for side in "ab"])
    tags = col["categories"]
    tag_lines = _lines(
        col["id"].take(pc.list_parent_indices(tags)), pc.list_flatten(tags), needed=needed
    )
    offsets = np.concatenate(([0], np.cumsum(lengths(tags))))
    tags_per_battle = pc.binary_join(
        pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), tag_lines), ""
    )
    kept = ("where", "id", "model_a", "model_b", "judge")
    return pa.table(
        [*(col[name] for name in kept), battle_tail, vote_tail, per_battle, tags_per_battle],
        names=[*kept, "battle_tail", "vote_tail", "messages", "category_lines"],
    )


def battle_lists(per_side: list[pa.Array], counts: list[np.ndarray]) -> pa.ListArray:
    """Each battle's message lines, side A's then side B's, from each side's lines in
    battle order (``counts``: each battle's number of lines per side)."""
    a, b = counts
    ends = np.cumsum(a + b)
    starts = ends - (a + b)
    # Where each side's k-th line goes: its battle's start, plus side A's lines before it.
    to_a = np.repeat(starts - (np.cumsum(a) - a), a) + np.arange(a.sum())
    to_b = np.repeat(starts + a - (np.cumsum(b) - b), b) + np.arange(b.sum())
    order = np.empty(len(to_a) + len(to_b), dtype=np.int64)
    order[to_a] = np.arange(len(to_a))
    order[to_b] = len(to_a) + np.arange(len(to_b))
    lines = pa.concat_arrays(per_side).take(pa.array(order))
    offsets = np.concatenate(([0], ends)).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), lines)


def joined(column: pa.ChunkedArray | pa.Array) -> memoryview:
    """A text column without nulls as its values end to end: a view of its data."""
    values = array_of(column)
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
