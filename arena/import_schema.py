"""A battle line's columns for the import's columnar path: the pyarrow schema of a FastChat
clean-battle row as this arena's export writes it, a block of JSON lines read against it
(:func:`read_block`), and the column order of the rows the blocks make.

:mod:`arena.import_columns` checks the rows read here; :mod:`arena.import_blocks` turns
them into COPY text in a worker.
"""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.json as pa_json

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


def block_bytes(lines: list[bytes]) -> bytes:
    """A block's lines end to end, each ending in a newline."""
    return b"".join(line if line.endswith(b"\n") else line + b"\n" for line in lines)


def read_block(data: bytes, rows: int) -> pa.Table:
    """A block's bytes (:func:`block_bytes` of ``rows`` lines) as a table of
    :data:`SCHEMA` (plus any other top-level columns)."""
    options = pa_json.ParseOptions(explicit_schema=SCHEMA, unexpected_field_behavior="infer")
    try:
        table = pa_json.read_json(
            io.BytesIO(data),
            read_options=pa_json.ReadOptions(use_threads=False, block_size=max(len(data), 1)),
            parse_options=options,
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise Unreadable(str(exc)) from None
    if table.num_rows != rows:
        raise Unreadable("rows and lines differ")
    for name in SCHEMA.names:  # a nested key the schema does not name
        if not table.schema.field(name).type.equals(SCHEMA.field(name).type):
            raise Unreadable(f"{name} has other keys")
    return table
