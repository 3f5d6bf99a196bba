"""One reader for battle files, shared by ``python -m ratings fit`` and ``python -m arena
import``: the published arena layouts, one vocabulary of outcomes.

Layouts (``SCHEMAS``), detected from a file's columns or forced by ``--schema``:

``fastchat``
    FastChat's clean-battle files and the public release (chatbot_arena_conversations):
    ``question_id`` (optional), ``model_a``, ``model_b``, ``winner``, ``judge``,
    ``conversation_a/b`` (``{role, content}`` messages, ``num_tokens`` optional),
    ``turn``, ``anony``, ``language``, ``tstamp`` (Unix seconds), ``openai_moderation``,
    ``toxic_chat_tag``; this project's export adds ``conv_metadata``, ``category_tag``,
    ``flags`` and ``metadata``.
``lmarena``
    LMArena's arena-human-preference releases: ``id``, message content as a list of
    parts (``[{"type": "text", "text": ...}]``), ``winner`` ``both_bad``,
    ``conv_metadata``, ``category_tag``, ``timestamp`` (ISO); 100k's ``judge_hash``.
``comparia``
    compar:IA votes: ``model_a_name``, ``model_b_name``, ``chosen_model_name``,
    ``both_equal``, ``timestamp`` (milliseconds or ISO), ``visitor_id``; conversations
    that start with a system message (kept, as ``system`` messages).

This module reads files: their format (:func:`detect_format`), their raw rows
(:func:`records`, :func:`decode_record`), their columns and layout
(:func:`detect_schema`). One row of any layout is checked and put in FastChat's layout
by :func:`ratings.battlerow.normalise` (importable from here too).

:func:`ratings.io.read_outcomes` is the fitting path: pyarrow's CSV, JSON-lines and
Parquet readers take the three or four columns a fit needs in bulk and check them as
arrays; only when a row is bad does the line-numbered Python path run, to name it. pyarrow
is imported only there, so ``import ratings`` stays numpy + scipy.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ratings.battlerow import BattleRowError
from ratings.battlerow import normalise as normalise  # re-exported: arena.import_rows
from ratings.errors import InvalidInputError

SCHEMAS = ("fastchat", "lmarena", "comparia")
FORMATS = ("jsonl", "json", "csv", "parquet")
#: A cell starting with one of these is run as a formula by spreadsheets; this project's
#: CSV export prefixes such cells with ``'`` and the reader takes it off again.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class BattleFileError(InvalidInputError):
    """A battle file cannot be read; the message names the file and line.

    Parameters
    ----------
    path : str
        The file.
    where : str
        Location, e.g. ``"line 12"``.
    reason : str
        What is wrong.
    """

    def __init__(self, path: str, where: str, reason: str) -> None:
        super().__init__(f"{path}: {where}: {reason}")
        self.path = path
        self.where = where
        self.reason = reason


def detect_format(path: Path) -> str:
    """jsonl, json, csv or parquet from the suffix (a .json file may hold JSON lines)."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix == ".json":
        with path.open("rb") as f:
            head = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        return "json" if head.startswith(b"[") else "jsonl"
    raise InvalidInputError(
        f"{path}: unknown format {suffix or '(no suffix)'}: use .jsonl, .json, .csv or .parquet"
    )


def record_unit(fmt: str) -> str:
    """How a format's rows are numbered: ``line`` (JSONL, CSV) or ``row``."""
    return "line" if fmt in ("jsonl", "csv") else "row"


def _jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    # Lines as bytes: decode_record() decodes them (in a worker process for a big file).
    with path.open("rb") as f:
        yield from _numbered(f, 1)


def _numbered(lines: Iterable[bytes], first: int) -> Iterator[tuple[int, bytes]]:
    """JSON lines numbered from ``first``: a byte-order mark dropped from line 1, blank
    lines skipped (and counted)."""
    for n, line in enumerate(lines, first):
        if n == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        if not line.isspace():
            yield n, line


def jsonl_spans(path: Path, lines: int, piece: int = 8 << 20) -> Iterator[tuple[int, int, int]]:
    """``(start, end, first line number)``: the byte ranges of a JSON-lines file's runs of
    ``lines`` lines, found without splitting it into lines, so that worker processes read
    their own (:func:`jsonl_span`) instead of receiving them through a pipe."""
    start = offset = 0  # the current run's first byte; the file offset of ``data``
    first, count = 1, 0
    with path.open("rb") as f:
        while data := f.read(piece):
            at = data.find(b"\n")
            while at >= 0:
                count += 1
                if count == lines:
                    end = offset + at + 1
                    yield start, end, first
                    start, first, count = end, first + lines, 0
                at = data.find(b"\n", at + 1)
            offset += len(data)
    if offset > start:
        yield start, offset, first


def jsonl_span(path: Path, start: int, end: int, first: int) -> list[tuple[int, bytes]]:
    """The numbered lines (as :func:`records` gives them) of one of :func:`jsonl_spans`."""
    with path.open("rb") as f:
        f.seek(start)
        data = f.read(end - start)
    return list(_numbered(io.BytesIO(data), first))


def _json_array(path: Path) -> Iterator[tuple[int, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BattleFileError(str(path), "whole file", f"not valid JSON ({exc})") from None
    if not isinstance(data, list):
        raise BattleFileError(str(path), "whole file", "a .json file must hold an array")
    yield from enumerate(data, 1)


def uncell(cell: str) -> str:
    """A CSV cell without the ``'`` this project's export puts before a formula-like one."""
    return cell[1:] if cell[:1] == "'" and cell[1:2] and cell[1:2] in FORMULA_START else cell


def _csv(path: Path) -> Iterator[tuple[int, Any]]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with path.open("r", encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise BattleFileError(str(path), "line 1", f"unreadable header ({exc})") from None
        if not header:
            raise BattleFileError(str(path), "line 1", "empty CSV file (no header)")
        start = reader.line_num + 1
        while True:
            where = start
            try:
                record = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError) as exc:
                raise BattleFileError(str(path), f"line {where}", f"unreadable ({exc})") from None
            start = reader.line_num + 1
            if not record or all(c == "" for c in record):
                continue
            if len(record) != len(header):
                yield where, BattleRowError(f"expected {len(header)} fields, found {len(record)}")
                continue
            yield where, {k: uncell(v) for k, v in zip(header, record, strict=True) if v != ""}


def _parquet(path: Path) -> Iterator[tuple[int, Any]]:
    import pyarrow.parquet as pq

    n = 1
    for batch in pq.ParquetFile(str(path)).iter_batches(batch_size=2000):
        yield from enumerate(batch.to_pylist(), n)
        n += batch.num_rows


READERS = {"jsonl": _jsonl, "json": _json_array, "csv": _csv, "parquet": _parquet}


def records(path: Path, fmt: str) -> Iterator[tuple[int, Any]]:
    """``(line or row number, raw row)`` of a file; a JSON line comes as bytes (see
    :func:`decode_record`), a CSV row as a dict of its non-empty cells, a malformed CSV
    row as a :class:`BattleRowError`."""
    return READERS[fmt](path)


def decode_record(raw: Any) -> Mapping[str, Any]:
    """A raw record as a mapping; raises :class:`BattleRowError` if it is not one."""
    if type(raw) is bytes:
        try:
            raw = json.loads(raw.decode())
        except (ValueError, UnicodeDecodeError) as exc:
            raise BattleRowError(f"not valid JSON: {exc}") from None
    if isinstance(raw, BattleRowError):
        raise raw
    if not isinstance(raw, Mapping):
        raise BattleRowError("not an object")
    return raw


def file_columns(path: Path, fmt: str) -> set[str]:
    """The column names of a file: the CSV header, the Parquet schema, or the keys of
    the first JSON object."""
    if fmt == "csv":
        with path.open("r", encoding="utf-8-sig", newline="") as f:
            return set(next(csv.reader(f), []))
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return set(pq.read_schema(str(path)).names)
    for _, raw in records(path, fmt):
        try:
            return set(decode_record(raw))
        except BattleRowError:
            continue
    return set()


def detect_schema(columns: set[str]) -> str:
    """The layout whose columns a file has; raises :class:`InvalidInputError` if none."""
    if {"model_a_name", "model_b_name"} <= columns:
        return "comparia"
    if {"model_a", "model_b", "winner"} <= columns:
        lmarena = {"full_conversation", "evaluation_session_id", "judge_hash"} & columns
        if lmarena or ("id" in columns and "question_id" not in columns):
            return "lmarena"
        return "fastchat"
    shown = ", ".join(sorted(columns)[:12]) or "none"
    raise InvalidInputError(
        "not a battle file of a known layout: it needs model_a, model_b and winner "
        f"(FastChat, LMArena) or model_a_name and model_b_name (compar:IA); columns: {shown}"
    )
