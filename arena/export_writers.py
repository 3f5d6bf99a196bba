"""The export's file formats: JSON lines, a JSON array, CSV and Parquet.

Each writer takes the rows :func:`arena.export_query.iter_rows` yields and writes them
to a binary file its caller opened (and closes): :class:`JsonlWriter` (hashing as it
goes, so the manifest needs no second read), :class:`JsonWriter`, :class:`CsvWriter`
(formulas neutralised) and :class:`ParquetWriter` (nested types for conversations and
conv_metadata). ``WRITERS`` maps a format's name to its writer.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO, Protocol

from arena.export_query import RawJson, json_string
from arena.export_schema import MESSAGE_KEYS, REACTION_KEYS
from ratings.style_features import MARKDOWN_KEYS

#: A cell starting with one of these is run as a formula by spreadsheets.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class Writer(Protocol):
    """Writes rows to a binary file the caller opened, and closes."""

    #: The SHA-256 of what was written, when the writer computes it as it goes.
    sha256: str | None

    def write(self, row: Sequence[Any]) -> None: ...
    def finish(self) -> None:
        """Write out what is buffered; the file stays open (its owner closes it)."""


class HashingFile:
    """Writes to a binary file and hashes what goes through (sparing a second read of the
    file for the manifest)."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.hash = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.hash.update(data)
        self.f.write(data)

    def hexdigest(self) -> str:
        return self.hash.hexdigest()


def json_value(value: Any, encode: Callable[[Any], str]) -> str:
    """``value`` as ``json.dumps(value, ensure_ascii=False)`` writes it, quickly for scalars."""
    kind = type(value)
    if kind is str:
        return json_string(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    if not value and (kind is list or kind is dict):  # flags and metadata, mostly
        return "[]" if kind is list else "{}"
    return encode(value)


#: Columns with few distinct values: the JSONL writer encodes each value once.
REPEATING = frozenset(
    {"model_a", "model_b", "winner", "judge", "anony", "language", "turn", "prompt_source",
     "prompt_language"}
)  # fmt: skip


class JsonlWriter:
    """One JSON object per line, UTF-8, non-ASCII kept as is: what
    ``json.dumps(row, ensure_ascii=False, separators=(",", ":"))`` writes."""

    sha256: str | None = None

    def __init__(self, f: BinaryIO, cols: Sequence[str]) -> None:
        self.f = HashingFile(f)
        self.encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        # Per column: its key with the separator before it, and whether values repeat.
        self.plan = [
            ((b"{" if i == 0 else b",") + f"{json_string(c)}:".encode(), c in REPEATING)
            for i, c in enumerate(cols)
        ]
        self.encoded: dict[tuple[int, Any], bytes] = {}  # (column, value) -> key and value

    def write(self, row: Sequence[Any]) -> None:
        parts, encoded = [], self.encoded
        for column, ((key, repeating), value) in enumerate(zip(self.plan, row, strict=True)):
            if type(value) is RawJson:
                parts.append(key + value)
            elif repeating:
                both = encoded.get((column, value))
                if both is None:
                    if len(encoded) > 100_000:  # judges: a bounded cache
                        encoded.clear()
                    both = key + json_value(value, self.encode).encode()
                    encoded[column, value] = both
                parts.append(both)
            else:
                parts.append(key + json_value(value, self.encode).encode())
        parts.append(b"}\n")
        self.f.write(b"".join(parts))

    def finish(self) -> None:
        self.sha256 = self.f.hexdigest()


def neutralise(cell: str) -> str:
    """Prefix a cell a spreadsheet would run as a formula with ``'``."""
    return "'" + cell if cell.startswith(FORMULA_START) else cell


class JsonWriter(JsonlWriter):
    """One JSON array of the rows (what FastChat's command line reads): each row on its
    own line as :class:`JsonlWriter` writes it, with the array's brackets and commas."""

    def __init__(self, f: BinaryIO, cols: Sequence[str]) -> None:
        super().__init__(f, cols)
        self.first = True
        self.f.write(b"[\n")

    def write(self, row: Sequence[Any]) -> None:
        if not self.first:
            self.f.write(b",\n")
        self.first = False
        real = self.f
        self.f = _NoNewline(real)  # type: ignore[assignment]
        try:
            super().write(row)
        finally:
            self.f = real

    def finish(self) -> None:
        self.f.write(b"\n]\n" if not self.first else b"]\n")
        super().finish()


class _NoNewline:
    """Passes a JSON line on without its final newline (the array's comma follows)."""

    def __init__(self, f: HashingFile) -> None:
        self.f = f

    def write(self, data: bytes) -> None:
        self.f.write(data[:-1] if data.endswith(b"\n") else data)


class CsvWriter:
    """RFC 4180 CSV with a header; formulas neutralised. Conversations and the other list
    and object columns are JSON text in their cells; a missing value is an empty cell."""

    sha256: str | None = None

    def __init__(self, f: BinaryIO, cols: Sequence[str]) -> None:
        self.f = io.TextIOWrapper(f, encoding="utf-8", newline="")  # type: ignore[arg-type]
        self.w = csv.writer(self.f)
        self.w.writerow(cols)

    def write(self, row: Sequence[Any]) -> None:
        cells = []
        for value in row:
            if isinstance(value, RawJson):
                value = value.decode()
            elif value is None:
                value = ""
            elif isinstance(value, list | dict):
                value = json.dumps(value, ensure_ascii=False)
            elif isinstance(value, bool):
                value = "true" if value else "false"
            elif not isinstance(value, str):
                value = repr(value)
            cells.append(neutralise(value))
        self.w.writerow(cells)

    def finish(self) -> None:
        self.f.flush()
        self.f.detach()  # leaves the binary file open


class ParquetWriter:
    """Parquet through pyarrow, one row group per ``group`` rows."""

    sha256: str | None = None

    def __init__(self, f: BinaryIO, cols: Sequence[str], group: int = 10_000) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa = pa
        message = pa.struct(
            [(key, pa.int64() if key == "num_tokens" else pa.string()) for key in MESSAGE_KEYS]
        )
        counts = [pa.struct([(k, pa.int64()) for k in keys]) for keys in STYLE_KEYS]
        sides = [
            (f"{name}_{side}", kind)
            for side in "ab"
            for name, kind in zip(("header_count", "list_count", "bold_count"), counts, strict=True)
        ]
        tokens = ["sum_user_tokens", "turns", "sum_assistant_a_tokens", "context_a_tokens",
                  "sum_assistant_b_tokens", "context_b_tokens"]  # fmt: skip
        self.meta = pa.struct([*((k, pa.int64()) for k in tokens), *sides])
        types = {
            "turn": pa.int64(),
            "anony": pa.bool_(),
            "tstamp": pa.float64(),
            "conversation_a": pa.list_(message),
            "conversation_b": pa.list_(message),
            "conv_metadata": self.meta,
            "flags": pa.list_(pa.string()),
            "reasons_a": pa.list_(pa.string()),
            "reasons_b": pa.list_(pa.string()),
            "categories": pa.list_(pa.string()),
            "reactions": pa.list_(
                pa.struct([(k, pa.string() if k == "side" else pa.int64()) for k in REACTION_KEYS])
            ),
        }
        # category_tag and metadata have no fixed shape: JSON text, as LMArena 100k has.
        self.as_text = [c in ("category_tag", "metadata") for c in cols]
        self.schema = pa.schema([(c, types.get(c, pa.string())) for c in cols])
        self.writer = pq.ParquetWriter(f, self.schema, compression="zstd")  # leaves f open
        self.group = group
        self.buffer: list[list] = [[] for _ in cols]
        self.n = 0

    def write(self, row: Sequence[Any]) -> None:
        for values, value, text in zip(self.buffer, row, self.as_text, strict=True):
            if isinstance(value, RawJson):
                value = json.loads(value)
            elif text and value is not None and not isinstance(value, str):
                value = json.dumps(value, ensure_ascii=False)
            values.append(value)
        self.n += 1
        if self.n >= self.group:
            self._flush()

    def _flush(self) -> None:
        if self.n:
            batch = self.pa.record_batch(self.buffer, schema=self.schema)
            self.writer.write_batch(batch)
            for values in self.buffer:
                values.clear()
            self.n = 0

    def finish(self) -> None:
        self._flush()
        self.writer.close()


#: The nested counts of ``conv_metadata`` (header, list, bold), as LMArena spells them.
STYLE_KEYS = tuple(MARKDOWN_KEYS.values())

WRITERS: dict[str, Callable[[BinaryIO, Sequence[str]], Writer]] = {
    "jsonl": JsonlWriter,
    "json": JsonWriter,
    "csv": CsvWriter,
    "parquet": ParquetWriter,
}
