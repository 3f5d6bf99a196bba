"""Read battle files in the public Chatbot Arena schema.

The CLI fits whatever a file holds, so this module's job is to turn a JSONL,
JSON-array, CSV or (if pyarrow is installed) Parquet file into index arrays,
and to stop at the first malformed row with its line number and the reason.
Only ``model_a``, ``model_b`` and ``winner`` are read; ``anony`` is counted but
rows with ``anony`` false are *kept* (a file is fitted as it is; filter it
first if only anonymous battles should count).
"""

from __future__ import annotations

import csv
import json
from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ratings.errors import InvalidInputError
from ratings.outcomes import Outcome, parse_winner

#: Columns every battle row must have.
REQUIRED_COLUMNS = ("model_a", "model_b", "winner")

_JSONL_SUFFIXES = {".jsonl", ".ndjson"}
_FALSE_VALUES = {False, "false", "False", "FALSE", "0"}  # 0 == False


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


@dataclass(frozen=True)
class BattleArrays:
    """Battles as index arrays, ready for :func:`ratings.leaderboard_from_counts`.

    Parameters
    ----------
    names : list of str
        Model names in order of first appearance.
    a_idx, b_idx : ndarray of int32
        Indices into ``names`` of sides A and B.
    outcome : ndarray of int8
        :class:`~ratings.outcomes.Outcome` codes.
    non_anonymous : int
        Rows whose ``anony`` field is false (kept all the same).
    """

    names: list[str]
    a_idx: NDArray[np.int32]
    b_idx: NDArray[np.int32]
    outcome: NDArray[np.int8]
    non_anonymous: int

    def __len__(self) -> int:
        return int(self.outcome.size)


class _Collector:
    """Accumulates validated rows into compact arrays."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.index: dict[str, int] = {}
        self.a = array("i")
        self.b = array("i")
        self.outcome = array("b")
        self.non_anonymous = 0

    def _model(self, record: Mapping[str, object], key: str, where: str) -> int:
        value = record.get(key)
        if value is None:
            raise BattleFileError(self.path, where, f"missing {key}")
        if not isinstance(value, str) or not value.strip():
            raise BattleFileError(self.path, where, f"{key} must be a non-empty string")
        return self.index.setdefault(value, len(self.index))

    def add(self, record: object, where: str) -> None:
        if not isinstance(record, Mapping):
            raise BattleFileError(self.path, where, "expected a JSON object")
        a = self._model(record, "model_a", where)
        b = self._model(record, "model_b", where)
        if a == b:
            raise BattleFileError(self.path, where, "model_a and model_b are the same model")
        if "winner" not in record or record["winner"] is None:
            raise BattleFileError(self.path, where, "missing winner")
        try:
            code: Outcome = parse_winner(record["winner"])
        except InvalidInputError as err:
            raise BattleFileError(self.path, where, str(err)) from err
        anony = record.get("anony", True)
        if not isinstance(anony, list | dict) and anony in _FALSE_VALUES:
            self.non_anonymous += 1
        self.a.append(a)
        self.b.append(b)
        self.outcome.append(int(code))

    def result(self) -> BattleArrays:
        return BattleArrays(
            names=list(self.index),
            a_idx=np.frombuffer(self.a, dtype=np.int32).copy(),
            b_idx=np.frombuffer(self.b, dtype=np.int32).copy(),
            outcome=np.frombuffer(self.outcome, dtype=np.int8).copy(),
            non_anonymous=self.non_anonymous,
        )


def _jsonl_records(path: Path, shown: str) -> Iterator[tuple[object, str]]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = f"line {number}"
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as err:
                raise BattleFileError(shown, where, f"not UTF-8 ({err.reason})") from err
            if not text.strip():
                continue
            try:
                yield json.loads(text), where
            except json.JSONDecodeError as err:
                raise BattleFileError(shown, where, f"invalid JSON ({err.msg})") from err


def _json_array_records(path: Path, shown: str) -> Iterator[tuple[object, str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BattleFileError(shown, "whole file", f"invalid JSON ({err})") from err
    if not isinstance(data, list):
        raise BattleFileError(shown, "whole file", "expected a JSON list of battles")
    for number, record in enumerate(data, start=1):
        yield record, f"item {number}"


def _csv_records(path: Path, shown: str) -> Iterator[tuple[object, str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        try:
            header = reader.fieldnames or []
        except (csv.Error, UnicodeDecodeError) as err:
            raise BattleFileError(shown, "line 1", f"unreadable header ({err})") from err
        missing = [column for column in REQUIRED_COLUMNS if column not in header]
        if missing:
            raise BattleFileError(shown, "line 1", f"header lacks {', '.join(missing)}")
        start = reader.line_num + 1
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError) as err:
                raise BattleFileError(shown, f"line {start}", f"unreadable CSV ({err})") from err
            where = f"line {start}"
            if None in record:
                raise BattleFileError(shown, where, "more fields than the header")
            if all(value in (None, "") for value in record.values()):
                start = reader.line_num + 1
                continue
            yield record, where
            start = reader.line_num + 1


def _parquet_records(path: Path, shown: str) -> Iterator[tuple[object, str]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as err:
        raise BattleFileError(shown, "whole file", "reading Parquet needs pyarrow") from err
    schema_names = set(pq.read_schema(path).names)
    missing = [column for column in REQUIRED_COLUMNS if column not in schema_names]
    if missing:
        raise BattleFileError(shown, "schema", f"lacks {', '.join(missing)}")
    columns = [*REQUIRED_COLUMNS, *(["anony"] if "anony" in schema_names else [])]
    table = pq.read_table(path, columns=columns).to_pydict()
    for number in range(len(table["winner"])):
        yield {key: table[key][number] for key in columns}, f"row {number + 1}"


def read_battles(path: str | Path) -> BattleArrays:
    """Read a battle file into index arrays.

    The format follows the suffix: ``.jsonl``/``.ndjson`` (one JSON object per
    line), ``.json`` (a JSON list, or JSON lines), ``.csv`` (header row
    required) or ``.parquet`` (needs pyarrow). Winner values: ``model_a``,
    ``model_b``, ``tie``, ``tie (bothbad)`` and ``both_bad``. Blank lines are
    skipped. Rows with ``anony`` false are kept and counted.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    BattleArrays
        Names, index arrays and outcome codes.

    Raises
    ------
    BattleFileError
        At the first malformed row, with its line (or item/row) number.
    OSError
        If the file cannot be opened.
    """
    file = Path(path)
    shown = str(path)
    suffix = file.suffix.lower()
    if suffix in _JSONL_SUFFIXES:
        records = _jsonl_records(file, shown)
    elif suffix == ".json":
        with file.open("rb") as handle:
            head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        is_array = head.startswith(b"[")
        records = (_json_array_records if is_array else _jsonl_records)(file, shown)
    elif suffix == ".csv":
        records = _csv_records(file, shown)
    elif suffix == ".parquet":
        records = _parquet_records(file, shown)
    else:
        raise BattleFileError(
            shown, "file name", "unknown format: use .jsonl, .json, .csv or .parquet"
        )
    collector = _Collector(shown)
    for record, where in records:
        collector.add(record, where)
    return collector.result()
